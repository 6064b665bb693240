/// Error text for people: what a library's error says, without what only its developers need.
public enum ErrorText {
    /// `error` as text with BoringSSL's source locations (` at /path/file.cc:123`) taken out; the reason
    /// (e.g. `CERTIFICATE_VERIFY_FAILED`) stays. For log lines and messages an operator reads.
    public static func withoutSourceLocations(_ error: any Error) -> String {
        withoutSourceLocations("\(error)")
    }

    /// `text` with BoringSSL's source locations taken out.
    public static func withoutSourceLocations(_ text: String) -> String {
        var text = text
        while let at = text.range(of: " at /") {
            var end = at.upperBound
            while end < text.endIndex, !"]),;\n".contains(text[end]) { end = text.index(after: end) }
            text.removeSubrange(at.lowerBound..<end)
        }
        return text
    }
}

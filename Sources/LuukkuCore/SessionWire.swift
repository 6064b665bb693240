/// A session's id on the wire, in logs and in the reports: `s-<number>`, the number from the broker's session
/// sequence, which continues across restarts (docs/protocol.md). It names no person.
public enum SessionWire {
    /// `s-<number>`.
    public static func wireValue(_ number: UInt64) -> String { "s-\(number)" }

    /// The number of `s-<decimal digits>` as ``wireValue(_:)`` writes it; nil for anything else (a sign, a
    /// space, a leading zero), so that one session has one spelling.
    public static func number(_ wire: String) -> UInt64? {
        guard wire.hasPrefix("s-") else { return nil }
        let digits = Substring(wire.utf8.dropFirst(2))
        guard digits == "0" || !digits.hasPrefix("0") else { return nil }
        return decimal(digits)
    }

    /// The value of a string of ASCII decimal digits (at most 20), or nil.
    public static func decimal(_ digits: Substring) -> UInt64? {
        guard !digits.isEmpty, digits.utf8.count <= 20,
            digits.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        else { return nil }
        return UInt64(digits)
    }
}

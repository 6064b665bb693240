/// A configuration file could not be used. Every problem found is listed, each with the key path where it
/// was found, so an operator can fix them all in one go.
public struct ConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The file that was read, as given by the caller.
    public let file: String
    public let issues: [ConfigurationIssue]

    public init(file: String, issues: [ConfigurationIssue]) {
        self.file = file
        self.issues = issues
    }

    /// One line per problem: `FILE: KEY: PROBLEM`.
    public var description: String {
        issues.map { "\(file): \($0)" }.joined(separator: "\n")
    }
}

/// One problem in a configuration file.
public struct ConfigurationIssue: Hashable, Sendable, CustomStringConvertible {
    /// Where it is, e.g. `agencies[2].languages[0]`; `(file)` for the file as a whole.
    public let keyPath: String
    public let problem: String

    /// Control characters in either (a key or a value of the file can hold any) are written as `\u{1B}`, so
    /// that one problem is one printable line.
    public init(keyPath: String, problem: String) {
        self.keyPath = keyPath.isEmpty ? "(file)" : Self.printable(keyPath)
        self.problem = Self.printable(problem)
    }

    static func printable(_ text: String) -> String {
        func isControl(_ scalar: Unicode.Scalar) -> Bool {
            scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
        }
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if isControl(scalar) {
                out.append(contentsOf: "\\u{\(String(scalar.value, radix: 16, uppercase: true))}".unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    public var description: String { "\(keyPath): \(problem)" }
}

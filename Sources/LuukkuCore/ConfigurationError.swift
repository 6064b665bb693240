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

    public init(keyPath: String, problem: String) {
        self.keyPath = keyPath.isEmpty ? "(file)" : keyPath
        self.problem = problem
    }

    public var description: String { "\(keyPath): \(problem)" }
}

/// Major versions of the wire protocol. A major version changes only when an old peer could misread a new
/// one; within a major version the schema grows by new fields and messages only (docs/protocol.md,
/// "Versioning").
public enum ProtocolVersion {
    /// The version this build speaks best.
    public static let current: UInt32 = 1
    /// Every major version this build can speak, newest first.
    public static let supported: [UInt32] = [1]

    /// Picks the highest version both sides speak, or `nil` when there is none (the server then answers
    /// `ERROR_CODE_UNSUPPORTED_VERSION` and closes).
    public static func negotiate(clientVersions: [UInt32]) -> UInt32? {
        supported.first { clientVersions.contains($0) }
    }
}

import Foundation
import LuukkuCore

/// A master key and master salt for one direction of one leg (RFC 3711 section 8.2), as SDES carries them
/// (RFC 4568 section 6.1, `inline:` key||salt in base64). Sent only over the TLS channel; never printed.
public struct SRTPKeyingMaterial: Hashable, Sendable, CustomStringConvertible {
    public let suite: SRTPSuite
    /// Master key followed by master salt.
    let bytes: [UInt8]

    /// - Throws: ``SRTPError`` `.keyLength` unless `bytes` is exactly the suite's key plus salt.
    public init(suite: SRTPSuite, bytes: [UInt8]) throws(SRTPError) {
        guard bytes.count == suite.masterKeyLength + suite.masterSaltLength else { throw SRTPError(.keyLength) }
        self.init(checked: suite, bytes: bytes)
    }

    private init(checked suite: SRTPSuite, bytes: [UInt8]) {
        self.suite = suite
        self.bytes = bytes
    }

    /// Fresh keying material from the system's cryptographically secure generator
    /// (`SystemRandomNumberGenerator`: getrandom(2) on Linux).
    public static func random(for suite: SRTPSuite) -> SRTPKeyingMaterial {
        var generator = SystemRandomNumberGenerator()
        let count = suite.masterKeyLength + suite.masterSaltLength
        let bytes = (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return SRTPKeyingMaterial(checked: suite, bytes: bytes)  // the suite's length by construction
    }

    /// Key followed by salt, for the `SrtpKey` of a SessionStarted frame: it goes only into the TLS channel.
    public var keyAndSalt: [UInt8] { bytes }

    /// The SDES `inline:` value (RFC 4568 section 6.1): base64 of key || salt.
    public var inlineKey: String { Data(bytes).base64EncodedString() }

    /// Names the suite only: keys never reach logs or error text.
    public var description: String { "SRTP keying material (\(suite.rawValue), redacted)" }
}

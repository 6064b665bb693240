/// A violation of the wire protocol, by the peer or detected on the connection. Each code maps to exactly
/// one wire error code (``Code/wireCode``), so the Error frame a peer receives always names the same cause
/// the log line does.
///
/// The ``description`` is safe to log and to send: it never holds a key, a token, a frame's bytes or
/// personal data.
public struct ProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: Hashable, Sendable, CaseIterable {
        // Framing and connection.
        case frameTooLarge
        case frameTruncated
        case malformedEnvelope
        case unsupportedMessage
        case unsupportedVersion
        case unexpectedMessage
        case heartbeatTimeout
        case handshakeTimeout
        case emptyEnvelope
        // Identity and authorization.
        case unauthenticated
        case unknownIdentity
        case revoked
        case forbidden
        // Requests, offers and sessions.
        case unknownAgency
        case unsupportedLanguage
        case unknownService
        case tooManyRequests
        case queueFull
        case queueClosed
        case unknownTicket
        case offerExpired
        case unknownSession
        case invalidPresence
        case invalidFeedback
        case resumeFailed
        case noCommonMedia
        // Server side.
        case overloaded
        case shuttingDown
        case `internal`
    }

    public let code: Code
    /// Safe detail added to the code's own text, e.g. "length 70000, limit 65536".
    public let detail: String?
    private let fatalOverride: Bool?

    /// - Parameter fatal: overrides the code's usual fatality, for the few codes whose fatality depends on
    ///   the state (`unexpectedMessage` is fatal before Welcome, docs/protocol.md "Errors").
    public init(_ code: Code, detail: String? = nil, fatal: Bool? = nil) {
        self.code = code
        self.detail = detail
        self.fatalOverride = fatal
    }

    /// Whether the connection is closed after this error is reported.
    public var isFatal: Bool { fatalOverride ?? code.isFatal }

    public var description: String {
        guard let detail else { return code.summary }
        return "\(code.summary) (\(detail))"
    }

    /// The Error message to send to the peer.
    public var wireMessage: Luukku_V1_Error {
        var error = Luukku_V1_Error()
        error.code = code.wireCode
        error.message = description
        error.fatal = isFatal
        return error
    }
}

extension ProtocolError.Code {
    /// The one place where codes meet wire numbers (proto/luukku/v1/common.proto, ErrorCode).
    public var wireCode: Luukku_V1_ErrorCode {
        switch self {
        case .frameTooLarge: .frameTooLarge
        case .frameTruncated: .frameTruncated
        case .malformedEnvelope: .malformedEnvelope
        case .unsupportedMessage: .unsupportedMessage
        case .unsupportedVersion: .unsupportedVersion
        case .unexpectedMessage: .unexpectedMessage
        case .heartbeatTimeout: .heartbeatTimeout
        case .handshakeTimeout: .handshakeTimeout
        case .emptyEnvelope: .emptyEnvelope
        case .unauthenticated: .unauthenticated
        case .unknownIdentity: .unknownIdentity
        case .revoked: .revoked
        case .forbidden: .forbidden
        case .unknownAgency: .unknownAgency
        case .unsupportedLanguage: .unsupportedLanguage
        case .unknownService: .unknownService
        case .tooManyRequests: .tooManyRequests
        case .queueFull: .queueFull
        case .queueClosed: .queueClosed
        case .unknownTicket: .unknownTicket
        case .offerExpired: .offerExpired
        case .unknownSession: .unknownSession
        case .invalidPresence: .invalidPresence
        case .invalidFeedback: .invalidFeedback
        case .resumeFailed: .resumeFailed
        case .noCommonMedia: .noCommonMedia
        case .overloaded: .overloaded
        case .shuttingDown: .shuttingDown
        case .internal: .internal
        }
    }

    /// The code for a wire number, or `nil` for a number this build does not know (a newer peer's code).
    public init?(wireCode: Luukku_V1_ErrorCode) {
        guard let code = Self.allCases.first(where: { $0.wireCode == wireCode }) else { return nil }
        self = code
    }

    /// Errors after which the stream can no longer be trusted, or the peer can no longer be served.
    public var isFatal: Bool {
        switch self {
        case .frameTooLarge, .frameTruncated, .malformedEnvelope, .unsupportedVersion, .heartbeatTimeout,
            .handshakeTimeout, .unauthenticated, .unknownIdentity, .revoked, .overloaded, .shuttingDown, .internal:
            true
        case .unsupportedMessage, .unexpectedMessage, .emptyEnvelope, .forbidden, .unknownAgency,
            .unsupportedLanguage, .unknownService, .tooManyRequests, .queueFull, .queueClosed, .unknownTicket,
            .offerExpired, .unknownSession, .invalidPresence, .invalidFeedback, .resumeFailed, .noCommonMedia:
            false
        }
    }

    /// A fixed English sentence; docs/protocol.md has the same table.
    public var summary: String {
        switch self {
        case .frameTooLarge: "frame larger than the negotiated maximum"
        case .frameTruncated: "connection closed in the middle of a frame"
        case .malformedEnvelope: "frame is not a valid Envelope"
        case .unsupportedMessage: "message kind not supported by this server"
        case .unsupportedVersion: "no protocol version in common"
        case .unexpectedMessage: "message not allowed in the current state"
        case .heartbeatTimeout: "no frame received within the idle timeout"
        case .handshakeTimeout: "TLS handshake or Hello not completed in time"
        case .emptyEnvelope: "Envelope carries no message"
        case .unauthenticated: "client certificate carries no valid Luukku identity"
        case .unknownIdentity: "identity is not in the configuration"
        case .revoked: "identity has been revoked"
        case .forbidden: "not allowed for this identity"
        case .unknownAgency: "unknown agency"
        case .unsupportedLanguage: "agency does not serve in this language"
        case .unknownService: "unknown service code for this agency"
        case .tooManyRequests: "too many open requests for this service point"
        case .queueFull: "queue is full"
        case .queueClosed: "queue is closed"
        case .unknownTicket: "no such ticket for this client"
        case .offerExpired: "offer is no longer open"
        case .unknownSession: "no such session for this client"
        case .invalidPresence: "presence change not allowed now"
        case .invalidFeedback: "feedback rating must be 1 to 5 and the comment within the limit"
        case .resumeFailed: "resume token unknown or expired"
        case .noCommonMedia: "no media in common with the service"
        case .overloaded: "server has too many connections"
        case .shuttingDown: "server is shutting down"
        case .internal: "internal server error"
        }
    }
}

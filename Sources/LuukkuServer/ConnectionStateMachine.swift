import LuukkuCore
import LuukkuProtocol

/// One signaling connection from TCP accept to close (docs/protocol.md, "Connection"): TLS, the identity
/// check, Hello and version negotiation, then frames for the broker; and how each failure ends it.
///
/// A value type with no I/O and no clock: ``SignalingHandler`` feeds it events (TLS done, a frame, a timer, an
/// error, the channel closing) and carries out the returned ``ConnectionAction``. Tests drive it directly.
struct ConnectionStateMachine {
    private enum State {
        case awaitingTLS
        case awaitingHello(PeerIdentity)
        case active(PeerIdentity)
        case closed
    }

    private var state = State.awaitingTLS
    /// Whether the TLS handshake finished: only then can an Error frame reach the peer.
    private var tlsUp = false

    var isActive: Bool {
        if case .active = state { return true }
        return false
    }

    /// The TLS handshake finished and the certificate was checked; `admitted` is false at the connection cap.
    mutating func tlsEstablished(_ identity: Result<PeerIdentity, ProtocolError>, admitted: Bool) -> ConnectionAction {
        guard case .awaitingTLS = state else { return .none }
        tlsUp = true
        switch identity {
        case .failure(let error):
            return fail(error)
        case .success(let identity):
            guard admitted else { return fail(ProtocolError(.overloaded)) }
            state = .awaitingHello(identity)
            return .none
        }
    }

    mutating func frameReceived(_ envelope: Luukku_V1_Envelope) -> ConnectionAction {
        switch state {
        case .awaitingTLS, .closed:
            return .none
        case .awaitingHello(let identity):
            guard case .hello(let hello) = envelope.message else {
                return fail(
                    ProtocolError(.unexpectedMessage, detail: "the first frame must be Hello", fatal: true),
                    correlation: envelope.correlationID)
            }
            guard let version = ProtocolVersion.negotiate(clientVersions: hello.protocolVersions) else {
                return fail(ProtocolError(.unsupportedVersion), correlation: envelope.correlationID)
            }
            state = .active(identity)
            return .attach(identity, version: version)
        case .active:
            return .forward
        }
    }

    /// TLS and Hello were not done within the handshake timeout.
    mutating func handshakeTimerFired() -> ConnectionAction {
        switch state {
        case .awaitingTLS, .awaitingHello: fail(ProtocolError(.handshakeTimeout))
        case .active, .closed: .none
        }
    }

    /// Nothing arrived for the idle timeout.
    mutating func idleTimeout() -> ConnectionAction {
        switch state {
        case .awaitingHello, .active: fail(ProtocolError(.heartbeatTimeout))
        case .awaitingTLS, .closed: .none  // the handshake timer covers these
        }
    }

    /// The decoder refused the bytes (too large, malformed, truncated).
    mutating func protocolError(_ error: ProtocolError) -> ConnectionAction {
        if case .closed = state { return .none }  // the decoder may report the same bytes again until the close
        guard error.isFatal else { return .reply(error, correlation: 0) }
        return fail(error)
    }

    /// TLS or the socket failed (no or untrusted certificate, a peer gone without close_notify, a reset).
    mutating func transportError() -> ConnectionAction {
        let detach = isActive
        if case .closed = state { return .none }
        state = .closed
        return .close(detach: detach)
    }

    /// The channel closed.
    mutating func closed() -> ConnectionAction {
        let detach = isActive
        state = .closed
        return detach ? .close(detach: true) : .none
    }

    private mutating func fail(_ error: ProtocolError, correlation: UInt64 = 0) -> ConnectionAction {
        let detach = isActive
        state = .closed
        return .fail(error, correlation: correlation, detach: detach, tellPeer: tlsUp)
    }
}

/// What ``SignalingHandler`` does after a connection event.
enum ConnectionAction: Equatable {
    case none
    /// Hello accepted: cancel the handshake timer and attach the connection to the broker with its Welcome.
    case attach(PeerIdentity, version: UInt32)
    /// A frame of an attached connection: hand it to the broker.
    case forward
    /// Answer with a non-fatal Error frame; the connection stays.
    case reply(ProtocolError, correlation: UInt64)
    /// End the connection: detach it from the broker (it keeps its resume grace) if it was attached, send the
    /// Error frame if TLS is up, then close.
    case fail(ProtocolError, correlation: UInt64, detach: Bool, tellPeer: Bool)
    /// Close without a frame, detaching first if it was attached.
    case close(detach: Bool)
}

import LuukkuCore
import LuukkuProtocol
import Testing

@testable import LuukkuServer

/// The connection's life without a network: every event and what the handler must do.
@Suite struct ConnectionStateMachineTests {
    let terminal = PeerIdentity.terminal(ServicePointID("parainen")!)

    func hello(_ versions: [UInt32], correlation: UInt64 = 0) -> Luukku_V1_Envelope {
        var envelope = Luukku_V1_Envelope()
        envelope.correlationID = correlation
        envelope.hello = .with { $0.protocolVersions = versions }
        return envelope
    }

    func active() -> ConnectionStateMachine {
        var machine = ConnectionStateMachine()
        _ = machine.tlsEstablished(.success(terminal), admitted: true)
        _ = machine.frameReceived(hello([1]))
        return machine
    }

    @Test func helloAttachesWithTheNegotiatedVersionThenFramesAreForwarded() {
        var machine = ConnectionStateMachine()
        #expect(machine.tlsEstablished(.success(terminal), admitted: true) == .none)
        #expect(!machine.isActive)
        #expect(machine.frameReceived(hello([2, 1])) == .attach(terminal, version: 1))
        #expect(machine.isActive)
        var ping = Luukku_V1_Envelope()
        ping.ping = .with { $0.nonce = 3 }
        #expect(machine.frameReceived(ping) == .forward)
        #expect(machine.handshakeTimerFired() == .none)
    }

    @Test func refusedIdentitiesAndTheConnectionCapAreToldThenClosed() {
        var refused = ConnectionStateMachine()
        #expect(
            refused.tlsEstablished(.failure(ProtocolError(.revoked)), admitted: true)
                == .fail(ProtocolError(.revoked), correlation: 0, detach: false, tellPeer: true))
        #expect(refused.frameReceived(hello([1])) == .none)  // nothing after that
        var full = ConnectionStateMachine()
        #expect(
            full.tlsEstablished(.success(terminal), admitted: false)
                == .fail(ProtocolError(.overloaded), correlation: 0, detach: false, tellPeer: true))
    }

    @Test func aFirstFrameOtherThanHelloOrNoCommonVersionIsFatal() {
        var machine = ConnectionStateMachine()
        _ = machine.tlsEstablished(.success(terminal), admitted: true)
        var request = Luukku_V1_Envelope()
        request.correlationID = 9
        request.requestService = .init()
        #expect(
            machine.frameReceived(request)
                == .fail(
                    ProtocolError(.unexpectedMessage, detail: "the first frame must be Hello", fatal: true),
                    correlation: 9, detach: false, tellPeer: true))
        var other = ConnectionStateMachine()
        _ = other.tlsEstablished(.success(terminal), admitted: true)
        #expect(
            other.frameReceived(hello([2], correlation: 4))
                == .fail(ProtocolError(.unsupportedVersion), correlation: 4, detach: false, tellPeer: true))
    }

    @Test func theHandshakeTimerClosesSilentlyBeforeTLSAndWithAnErrorAfter() {
        var noTLS = ConnectionStateMachine()
        #expect(
            noTLS.handshakeTimerFired()
                == .fail(ProtocolError(.handshakeTimeout), correlation: 0, detach: false, tellPeer: false))
        var noHello = ConnectionStateMachine()
        _ = noHello.tlsEstablished(.success(terminal), admitted: true)
        #expect(
            noHello.handshakeTimerFired()
                == .fail(ProtocolError(.handshakeTimeout), correlation: 0, detach: false, tellPeer: true))
        #expect(noHello.idleTimeout() == .none)  // closed already
    }

    @Test func anAttachedConnectionIsDetachedHoweverItEnds() {
        var idle = active()
        #expect(
            idle.idleTimeout()
                == .fail(ProtocolError(.heartbeatTimeout), correlation: 0, detach: true, tellPeer: true))
        var oversized = active()
        let tooLarge = ProtocolError(.frameTooLarge, detail: "length 2000, limit 1024")
        #expect(oversized.protocolError(tooLarge) == .fail(tooLarge, correlation: 0, detach: true, tellPeer: true))
        #expect(oversized.protocolError(tooLarge) == .none)  // reported again by the decoder: already handled
        var reset = active()
        #expect(reset.transportError() == .close(detach: true))
        #expect(reset.closed() == .none)  // detached once
        var dropped = active()
        #expect(dropped.closed() == .close(detach: true))
    }

    @Test func aNonFatalDecoderErrorIsAnsweredAndTheConnectionStays() {
        var machine = active()
        let empty = ProtocolError(.emptyEnvelope)
        #expect(machine.protocolError(empty) == .reply(empty, correlation: 0))
        #expect(machine.isActive)
    }
}

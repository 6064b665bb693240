import Logging
import LuukkuCore
import LuukkuProtocol
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import NIOTLS

/// Frames to one connection's channel. Writes are thread-safe in NIO; `close` waits for the writes before it.
final class ChannelSink: ConnectionSink {
    let channel: any Channel
    private let lastWrite: NIOLockedValueBox<EventLoopFuture<Void>?> = NIOLockedValueBox(nil)

    init(channel: any Channel) { self.channel = channel }

    func send(_ envelope: Luukku_V1_Envelope) {
        let written = channel.writeAndFlush(envelope)
        lastWrite.withLockedValue { $0 = written }
    }

    func close() {
        let channel = self.channel
        let last = lastWrite.withLockedValue { $0 } ?? channel.eventLoop.makeSucceededVoidFuture()
        last.whenComplete { _ in channel.close(promise: nil) }
    }
}

/// One signaling connection after TLS: identity from the certificate, Hello/Welcome with version
/// negotiation, the handshake timeout and the idle timeout, then every frame to the broker
/// (docs/protocol.md, "Connection"). It decides nothing about tickets or presence: that is the broker's.
final class SignalingHandler: ChannelInboundHandler {
    typealias InboundIn = Luukku_V1_Envelope
    typealias OutboundOut = Luukku_V1_Envelope

    private enum State {
        case awaitingTLS
        case awaitingHello(PeerIdentity)
        case active(PeerIdentity)
        case closed
    }

    private var state = State.awaitingTLS
    private let connection: UInt64
    private let broker: Broker
    private let admitted: Bool
    private let handshakeTimeout: TimeAmount
    private var handshakeTimer: Scheduled<Void>?
    private var sink: ChannelSink?
    private var tlsEstablished = false
    private var logger: Logger

    /// - Parameter admitted: false when the server is at its connection limit: the peer gets OVERLOADED.
    init(connection: UInt64, broker: Broker, admitted: Bool, handshakeTimeout: TimeAmount, logger: Logger) {
        self.connection = connection
        self.broker = broker
        self.admitted = admitted
        self.handshakeTimeout = handshakeTimeout
        self.logger = logger
        self.logger[metadataKey: "connection"] = "\(connection)"
    }

    func handlerAdded(context: ChannelHandlerContext) {
        sink = ChannelSink(channel: context.channel)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        handshakeTimer = context.eventLoop.scheduleTask(in: handshakeTimeout) {
            let (handler, context) = loopBound.value
            switch handler.state {
            case .awaitingTLS, .awaitingHello:
                handler.logger.info("handshake timeout")
                handler.fail(context, ProtocolError(.handshakeTimeout))
            case .active, .closed:
                break
            }
        }
        if let remote = context.channel.remoteAddress { logger[metadataKey: "peer"] = "\(remote)" }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            tlsDone(context)
        } else if let event = event as? IdleStateHandler.IdleStateEvent, event == .read {
            logger.info("heartbeat timeout")
            fail(context, ProtocolError(.heartbeatTimeout))
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func tlsDone(_ context: ChannelHandlerContext) {
        guard case .awaitingTLS = state else { return }
        tlsEstablished = true
        let certificate = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self).peerCertificate
        switch broker.authenticate(certificate) {
        case .failure(let refusal):
            if let identity = refusal.identity { logger[metadataKey: "identity"] = "\(identity)" }
            logger.notice("refused", metadata: ["reason": "\(refusal.error)"])
            fail(context, refusal.error)
        case .success(let identity):
            logger[metadataKey: "identity"] = "\(identity)"
            guard admitted else {
                logger.warning("refused: at the connection limit")
                return fail(context, ProtocolError(.overloaded))
            }
            state = .awaitingHello(identity)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        switch state {
        case .awaitingTLS, .closed:
            return
        case .awaitingHello(let identity):
            guard case .hello(let hello) = envelope.message else {
                return fail(
                    context, ProtocolError(.unexpectedMessage, detail: "the first frame must be Hello", fatal: true))
            }
            guard let version = ProtocolVersion.negotiate(clientVersions: hello.protocolVersions) else {
                return fail(context, ProtocolError(.unsupportedVersion), correlation: envelope.correlationID)
            }
            handshakeTimer?.cancel()
            state = .active(identity)
            // The client's own words: printable ASCII only, so it cannot forge log lines.
            let software = String(
                hello.clientSoftware.unicodeScalars.prefix(64).filter {
                    $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F
                }.map(Character.init))
            logger.info("welcome", metadata: ["client": "\(software)"])
            broker.attach(connection: connection, sink: sink!, identity: identity, version: version)
        case .active:
            broker.receive(connection: connection, envelope: envelope)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // After a fatal error the decoder may report the same bytes again until the close completes.
        if case .closed = state { return }
        if let error = error as? ProtocolError {
            logger.notice("protocol error", metadata: ["error": "\(error)"])
            fail(context, error)
        } else {
            // TLS failures (no or untrusted client certificate, a peer gone without close_notify) and socket
            // errors: nothing to tell the peer. A party that was attached keeps its resume grace.
            logger.info("connection error", metadata: ["error": "\(error)"])
            if case .active = state { broker.detach(connection: connection, clean: false) }
            state = .closed
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        handshakeTimer?.cancel()
        if case .active = state { broker.detach(connection: connection, clean: false) }
        state = .closed
        context.fireChannelInactive()
    }

    /// Sends the error (once TLS is up; before that there is no channel to say it on) and closes when it is
    /// fatal.
    private func fail(_ context: ChannelHandlerContext, _ error: ProtocolError, correlation: UInt64 = 0) {
        var envelope = Luukku_V1_Envelope()
        envelope.correlationID = correlation
        envelope.error = error.wireMessage
        guard error.isFatal else {
            context.writeAndFlush(wrapOutboundOut(envelope), promise: nil)
            return
        }
        if case .active = state { broker.detach(connection: connection, clean: false) }
        state = .closed
        guard tlsEstablished else {
            context.close(promise: nil)
            return
        }
        sink?.send(envelope)
        sink?.close()
    }
}

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

/// The NIO side of one signaling connection: feeds ``ConnectionStateMachine`` the channel's events and
/// carries out its actions (docs/protocol.md, "Connection"). It decides nothing about tickets or presence:
/// that is the broker's.
final class SignalingHandler: ChannelInboundHandler {
    typealias InboundIn = Luukku_V1_Envelope
    typealias OutboundOut = Luukku_V1_Envelope

    private var machine = ConnectionStateMachine()
    private let connection: UInt64
    private let address: String
    private let broker: Broker
    private let handshakeTimeout: TimeAmount
    private var handshakeTimer: Scheduled<Void>?
    private var tlsEstablished = false
    private var sink: ChannelSink?
    private var logger: Logger

    /// - Parameter address: the peer's IP address, for the front door's budgets and refusal lines.
    init(connection: UInt64, address: String, broker: Broker, handshakeTimeout: TimeAmount, logger: Logger) {
        self.connection = connection
        self.address = address
        self.broker = broker
        self.handshakeTimeout = handshakeTimeout
        self.logger = logger
        self.logger[metadataKey: "connection"] = "\(connection)"
    }

    func handlerAdded(context: ChannelHandlerContext) {
        sink = ChannelSink(channel: context.channel)
        if let remote = context.channel.remoteAddress { logger[metadataKey: "peer"] = "\(remote)" }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        handshakeTimer = context.eventLoop.scheduleTask(in: handshakeTimeout) {
            let (handler, context) = loopBound.value
            let action = handler.machine.handshakeTimerFired()
            if action != .none {
                handler.broker.frontDoor.refuse(
                    handler.connection, .handshakeTimeout, from: handler.address,
                    detail: handler.tlsEstablished ? "no Hello" : "TLS not done")
            }
            handler.perform(action, context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            tlsEstablished = true
            ServerMetrics.shared.tlsHandshakes.increment()
            let certificate = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self)
                .peerCertificate
            let identity: Result<PeerIdentity, ProtocolError>
            var admitted = true
            switch broker.authenticate(certificate) {
            case .success(let known):
                logger[metadataKey: "identity"] = "\(known)"
                identity = .success(known)
                admitted = broker.frontDoor.tlsEstablished(connection, from: address)
            case .failure(let refusal):
                if let claimed = refusal.identity { logger[metadataKey: "identity"] = "\(claimed)" }
                broker.frontDoor.refuse(
                    connection, .identity, from: address, identity: refusal.identity.map { "\($0)" },
                    detail: "\(refusal.error)")
                identity = .failure(refusal.error)
            }
            perform(machine.tlsEstablished(identity, admitted: admitted), context)
        } else if let event = event as? IdleStateHandler.IdleStateEvent, event == .read {
            let action = machine.idleTimeout()
            if action != .none { logger.info("heartbeat timeout") }
            perform(action, context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        switch machine.frameReceived(envelope) {
        case .attach(let identity, let version):
            handshakeTimer?.cancel()
            var media: MediaCapabilities?
            var uiLanguage = ""
            if case .hello(let hello) = envelope.message {
                media = hello.mediaCapabilities
                uiLanguage = hello.uiLanguage
                // The client's own words: printable ASCII only, so it cannot forge log lines.
                let software = String(
                    hello.clientSoftware.unicodeScalars.prefix(64).filter { $0.value >= 0x20 && $0.value < 0x7F }
                        .map(Character.init))
                logger.info("welcome", metadata: ["client": "\(software)"])
            }
            broker.frontDoor.attached(connection)
            broker.attach(
                connection: connection, sink: sink!, identity: identity, version: version, media: media,
                uiLanguage: uiLanguage, correlation: envelope.correlationID)
        case .forward:
            broker.receive(connection: connection, envelope: envelope)
        case let other:
            perform(other, context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? ProtocolError {
            let action = machine.protocolError(error)
            if action != .none { logger.notice("protocol error", metadata: ["error": "\(error)"]) }
            perform(action, context)
        } else {
            let action = machine.transportError()
            if action != .none {
                if tlsEstablished {
                    logger.info("connection error", metadata: ["error": "\(ErrorText.withoutSourceLocations(error))"])
                } else {
                    // No certificate, another CA's, not TLS at all: the front door counts and logs it, rate-limited.
                    broker.frontDoor.refuse(
                        connection, .tlsFailed, from: address, detail: ErrorText.withoutSourceLocations(error))
                }
            }
            perform(action, context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // Closed before TLS was up: a refused certificate, a timeout, or no TLS at all.
        if !tlsEstablished { ServerMetrics.shared.tlsHandshakeFailures.increment() }
        handshakeTimer?.cancel()
        perform(machine.closed(), context)
        context.fireChannelInactive()
    }

    private func perform(_ action: ConnectionAction, _ context: ChannelHandlerContext) {
        switch action {
        case .none, .attach, .forward:
            return
        case .reply(let error, let correlation):
            context.writeAndFlush(wrapOutboundOut(Self.envelope(error, correlation)), promise: nil)
        case .fail(let error, let correlation, let detach, let tellPeer):
            if detach { broker.detach(connection: connection, clean: false) }
            guard tellPeer, let sink else {
                context.close(promise: nil)
                return
            }
            sink.send(Self.envelope(error, correlation))
            sink.close()
        case .close(let detach):
            if detach { broker.detach(connection: connection, clean: false) }
            context.close(promise: nil)
        }
    }

    private static func envelope(_ error: ProtocolError, _ correlation: UInt64) -> Luukku_V1_Envelope {
        var envelope = Luukku_V1_Envelope()
        envelope.correlationID = correlation
        envelope.error = error.wireMessage
        return envelope
    }
}

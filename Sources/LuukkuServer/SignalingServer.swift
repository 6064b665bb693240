import Logging
import LuukkuCore
import LuukkuProtocol
import LuukkuRelay
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The server's TLS context; SIGHUP swaps in one made from the reloaded files, for new connections.
public final class TLSContextBox: Sendable {
    private let box: NIOLockedValueBox<NIOSSLContext>

    public init(server: Configuration.Server) throws {
        box = NIOLockedValueBox(try Self.make(server))
    }

    public var current: NIOSSLContext { box.withLockedValue { $0 } }

    public func reload(server: Configuration.Server) throws {
        let new = try Self.make(server)
        box.withLockedValue { $0 = new }
    }

    /// TLS 1.3 only, a client certificate required and verified against `trustRoots` (no host name check: a
    /// server cannot check one); the identity is then read from the certificate's URI SAN.
    static func make(_ server: Configuration.Server) throws -> NIOSSLContext {
        var tls = TLSConfiguration.makeServerConfigurationWithMTLS(
            certificateChain: try NIOSSLCertificate.fromPEMFile(server.certificateChain).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: server.privateKey, format: .pem)),
            trustRoots: .file(server.trustRoots))
        tls.minimumTLSVersion = .tlsv13
        return try NIOSSLContext(configuration: tls)
    }
}

/// The TLS listener for terminals and consoles (a ServiceLifecycle `Service`). On graceful shutdown
/// (SIGTERM) it drains: the broker closes the queues, running sessions may finish until the drain deadline,
/// every record is flushed, every client gets Goodbye, and then `run` returns.
public final class SignalingServer: Service, Sendable {
    private let broker: Broker
    private let relay: Relay
    private let tls: TLSContextBox
    private let server: Configuration.Server
    private let notifier: SystemdNotifier
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    private let connections = Atomic<Int>(0)
    private let nextConnection = Atomic<UInt64>(1)
    private let onReady: @Sendable (SocketAddress) -> Void

    /// - Parameter onReady: called once the socket is bound, with its address (the daemon prints it).
    public init(
        broker: Broker, relay: Relay, tls: TLSContextBox, server: Configuration.Server, notifier: SystemdNotifier,
        logger: Logger, onReady: @escaping @Sendable (SocketAddress) -> Void
    ) {
        self.broker = broker
        self.relay = relay
        self.tls = tls
        self.server = server
        self.notifier = notifier
        self.logger = logger
        self.onReady = onReady
        group = MultiThreadedEventLoopGroup(numberOfThreads: min(4, System.coreCount))
    }

    public func run() async throws {
        let channel = try await bootstrap().bind(host: server.listenHost, port: Int(server.listenPort)).get()
        if let address = channel.localAddress { onReady(address) }
        notifier.notify("READY=1\nSTATUS=serving on \(channel.localAddress.map { "\($0)" } ?? "?")")
        do {
            try await gracefulShutdown()
        } catch {
            logger.warning("cancelled: stopping without the drain")
        }
        notifier.notify("STOPPING=1\nSTATUS=draining: queues closed, sessions finishing")
        logger.notice("draining")
        broker.drain()
        if !Task.isCancelled { await broker.sessionsEnded() }
        await broker.shutdown()
        try? await channel.close()
        relay.stop()
        try? await group.shutdownGracefully()
        logger.notice("stopped: every record is on disk")
    }

    private func bootstrap() -> ServerBootstrap {
        let broker = self.broker
        let tls = self.tls
        let limits = FrameLimits(maxFrameBytes: server.maxFrameBytes)
        let maxConnections = server.maxConnections
        let idle = TimeAmount.seconds(Int64(server.timeouts.idle))
        let handshake = TimeAmount.seconds(Int64(server.timeouts.handshake))
        let logger = self.logger
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                // Relaxed: a counter and an id source; nothing else is ordered by them.
                let id = self.nextConnection.wrappingAdd(1, ordering: .relaxed).oldValue
                let open = self.connections.wrappingAdd(1, ordering: .relaxed).newValue
                channel.closeFuture.whenComplete { _ in self.connections.wrappingSubtract(1, ordering: .relaxed) }
                return channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(NIOSSLServerHandler(context: tls.current))
                    try pipeline.addHandler(ByteToMessageHandler(EnvelopeFrameDecoder(limits: limits)))
                    // maxFrameBytes is what the server accepts; what it sends (a Welcome with the catalogue) is held to
                    // the protocol's default limit, which every client's decoder takes.
                    try pipeline.addHandler(MessageToByteHandler(EnvelopeFrameEncoder()))
                    try pipeline.addHandler(IdleStateHandler(readTimeout: idle))
                    try pipeline.addHandler(
                        SignalingHandler(
                            connection: id, broker: broker, admitted: open <= maxConnections,
                            handshakeTimeout: handshake, logger: logger))
                }
            }
    }
}

/// Tells systemd the daemon is alive every half `WatchdogSec`, until the whole group has stopped (it is the
/// first service, so the last to be asked to shut down: the watchdog keeps going through the drain).
public struct WatchdogService: Service {
    let notifier: SystemdNotifier

    public init(notifier: SystemdNotifier) { self.notifier = notifier }

    public func run() async throws {
        guard let interval = notifier.watchdogInterval else {
            try? await gracefulShutdown()
            return
        }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            notifier.notify("WATCHDOG=1")
            try? await Task.sleep(for: interval)
        }
    }
}

/// SIGHUP: reloads the configuration and certificates through `reload`, until shutdown.
public struct ReloadService: Service {
    let reload: @Sendable () async -> Void

    public init(reload: @escaping @Sendable () async -> Void) { self.reload = reload }

    public func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            await reload()
        }
    }
}

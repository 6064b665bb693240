import Foundation
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
        // Each file on its own, so that the error names the one that cannot be used and its key.
        func load<T>(_ key: String, _ path: String, _ what: String, _ body: () throws -> T) throws -> T {
            do { return try body() } catch {
                throw TLSFileError(key: key, path: path, what: what, underlying: error)
            }
        }
        let chain = try load("server.certificateChain", server.certificateChain, "a PEM certificate chain") {
            try NIOSSLCertificate.fromPEMFile(server.certificateChain).map { NIOSSLCertificateSource.certificate($0) }
        }
        let key = try load("server.privateKey", server.privateKey, "a PEM private key") {
            try NIOSSLPrivateKey(file: server.privateKey, format: .pem)
        }
        let roots = try load("server.trustRoots", server.trustRoots, "PEM CA certificates") {
            try NIOSSLCertificate.fromPEMFile(server.trustRoots)
        }
        var tls = TLSConfiguration.makeServerConfigurationWithMTLS(
            certificateChain: chain, privateKey: .privateKey(key), trustRoots: .certificates(roots))
        tls.minimumTLSVersion = .tlsv13
        return try load("server.certificateChain", server.certificateChain, "a chain that fits server.privateKey") {
            try NIOSSLContext(configuration: tls)
        }
    }
}

/// A TLS file of the `server` section that cannot be used: names the key, the file and what was expected.
public struct TLSFileError: Error, CustomStringConvertible {
    let key: String
    let path: String
    let what: String
    let underlying: any Error

    public var description: String {
        let exists = FileManager.default.fileExists(atPath: path)
        let readable = FileManager.default.isReadableFile(atPath: path)
        let why =
            !exists
            ? "no such file" : !readable ? "not readable by this user" : ErrorText.withoutSourceLocations(underlying)
        return "\(key) \(path): not usable as \(what): \(why)"
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
        let channel: any Channel
        do {
            channel = try await bootstrap().bind(host: server.listenHost, port: Int(server.listenPort)).get()
        } catch {
            throw ListenError(host: server.listenHost, port: server.listenPort, underlying: error)
        }
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
        let frontDoor = broker.frontDoor
        let idle = TimeAmount.seconds(Int64(server.timeouts.idle))
        let handshake = TimeAmount.seconds(Int64(server.timeouts.handshake))
        let logger = self.logger
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: Int32(server.listenBacklog))
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                // Relaxed: an id source; nothing else is ordered by it. Ids only grow (the front door's oldest).
                let id = self.nextConnection.wrappingAdd(1, ordering: .relaxed).oldValue
                let address = channel.remoteAddress?.ipAddress ?? "unknown"
                guard frontDoor.accepted(id, from: address, close: { channel.close(promise: nil) }) else {
                    channel.close(promise: nil)
                    return channel.eventLoop.makeSucceededVoidFuture()
                }
                channel.closeFuture.whenComplete { _ in frontDoor.closed(id) }
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
                            connection: id, address: address, broker: broker, handshakeTimeout: handshake,
                            logger: logger))
                }
            }
    }
}

/// The listener could not bind: names the address and the configuration key, and what to look at.
public struct ListenError: Error, CustomStringConvertible {
    let host: String
    let port: UInt16
    let underlying: any Error

    public var description: String {
        let text = "\(underlying)"
        let why: String
        if let io = underlying as? IOError, io.errnoCode == EADDRINUSE || text.contains("Address already in use") {
            why =
                "the address is in use (another luukkud, or another program: `ss -ltnp 'sport = :\(port)'` shows which)"
        } else if let io = underlying as? IOError, io.errnoCode == EADDRNOTAVAIL {
            why = "no interface of this machine has that address"
        } else if let io = underlying as? IOError, io.errnoCode == EACCES {
            why = "permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)"
        } else {
            why = text
        }
        return "cannot listen on \(host):\(port) (server.listen, or --listen): \(why)"
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

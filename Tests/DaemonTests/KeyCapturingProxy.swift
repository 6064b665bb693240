import Foundation
import LuukkuProtocol
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// A TLS man-in-the-middle between one real client process and the daemon, for the test that looks for session
/// keys where they must not be: it answers with the daemon's own development certificate (the client trusts
/// the development CA), connects on to the daemon with the client's identity, passes every frame both ways,
/// and keeps the SessionStarted frames, so the test knows the keys that only the client process and the daemon
/// otherwise hold.
final class KeyCapturingProxy: Sendable {
    let port: Int
    private let channel: any Channel
    private let captured = NIOLockedValueBox<[Luukku_V1_SessionStarted]>([])

    /// Listens on a free loopback port; each connection is relayed to `daemonPort` as `identity`
    /// (e.g. `terminal-parainen`, whose files are in the development certificates).
    init(daemonPort: Int, identity: String) async throws {
        let certs = Daemon.certificates
        var serverTLS = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certs.appendingPathComponent("server.pem").path).map {
                .certificate($0)
            },
            privateKey: .privateKey(
                try NIOSSLPrivateKey(file: certs.appendingPathComponent("server.key").path, format: .pem)))
        serverTLS.minimumTLSVersion = .tlsv13
        serverTLS.certificateVerification = .noHostnameVerification
        serverTLS.trustRoots = .file(certs.appendingPathComponent("ca.pem").path)
        var clientTLS = TLSConfiguration.makeClientConfiguration()
        clientTLS.minimumTLSVersion = .tlsv13
        clientTLS.trustRoots = .file(certs.appendingPathComponent("ca.pem").path)
        clientTLS.certificateChain = try NIOSSLCertificate.fromPEMFile(
            certs.appendingPathComponent("\(identity).pem").path
        ).map { .certificate($0) }
        clientTLS.privateKey = .privateKey(
            try NIOSSLPrivateKey(file: certs.appendingPathComponent("\(identity).key").path, format: .pem))
        let serverContext = try NIOSSLContext(configuration: serverTLS)
        let clientContext = try NIOSSLContext(configuration: clientTLS)
        let captured = self.captured
        let group = MultiThreadedEventLoopGroup.singleton
        channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { inbound in
                let upstream = ClientBootstrap(group: inbound.eventLoop)
                    .channelInitializer { outbound in
                        outbound.eventLoop.makeCompletedFuture {
                            let pipeline = outbound.pipeline.syncOperations
                            try pipeline.addHandler(NIOSSLClientHandler(context: clientContext, serverHostname: nil))
                            try pipeline.addHandler(ByteToMessageHandler(EnvelopeFrameDecoder()))
                            try pipeline.addHandler(MessageToByteHandler(EnvelopeFrameEncoder()))
                            try pipeline.addHandler(Forwarder(peer: inbound, captured: captured))
                        }
                    }
                    .connect(host: "127.0.0.1", port: daemonPort)
                return inbound.eventLoop.makeCompletedFuture {
                    let pipeline = inbound.pipeline.syncOperations
                    try pipeline.addHandler(NIOSSLServerHandler(context: serverContext))
                    try pipeline.addHandler(ByteToMessageHandler(EnvelopeFrameDecoder()))
                    try pipeline.addHandler(MessageToByteHandler(EnvelopeFrameEncoder()))
                    try pipeline.addHandler(PendingForwarder(upstream: upstream))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress?.port ?? 0
    }

    /// Every SessionStarted the daemon sent through this proxy.
    var sessions: [Luukku_V1_SessionStarted] { captured.withLockedValue { $0 } }

    func close() async { try? await channel.close() }
}

/// Daemon to client: frames go on, SessionStarted frames are kept.
private final class Forwarder: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked Sendable is safe: used only on the two channels' shared event loop (the upstream connection
    // is made on the inbound channel's loop).
    typealias InboundIn = Luukku_V1_Envelope
    let peer: any Channel
    let captured: NIOLockedValueBox<[Luukku_V1_SessionStarted]>

    init(peer: any Channel, captured: NIOLockedValueBox<[Luukku_V1_SessionStarted]>) {
        self.peer = peer
        self.captured = captured
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        if case .sessionStarted(let started) = envelope.message { captured.withLockedValue { $0.append(started) } }
        peer.writeAndFlush(envelope, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) { peer.close(promise: nil) }
    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

/// Client to daemon: frames wait for the upstream connection, then go on.
private final class PendingForwarder: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked Sendable is safe: as Forwarder, one event loop.
    typealias InboundIn = Luukku_V1_Envelope
    let upstream: EventLoopFuture<any Channel>

    init(upstream: EventLoopFuture<any Channel>) { self.upstream = upstream }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        upstream.whenSuccess { $0.writeAndFlush(envelope, promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) { upstream.whenSuccess { $0.close(promise: nil) } }
    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

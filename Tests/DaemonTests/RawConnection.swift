import Foundation
import LuukkuProtocol
import NIOCore
import NIOPosix
import NIOSSL
import Testing

/// A client that speaks only frames, as a vendor's would: TLS with a certificate, then exactly the bytes a test
/// writes (no Hello of its own, no heartbeats), and the frames the server sends, in order. For the exchanges a
/// ``LuukkuClient/ClientConnection`` cannot get wrong on purpose (an empty first frame, nothing before the
/// server speaks).
final class RawConnection {
    private let channel: any Channel
    private var iterator: AsyncStream<Luukku_V1_Envelope>.Iterator

    private init(channel: any Channel, frames: AsyncStream<Luukku_V1_Envelope>) {
        self.channel = channel
        self.iterator = frames.makeAsyncIterator()
    }

    /// Connects with the files `certs/make-dev-certs` wrote under `name` in `certificates` (nil: no client
    /// certificate), trusting `trust` (the daemon's CA by default).
    static func connect(
        port: Int, _ name: String?, certificates: URL = Daemon.certificates, trust: URL? = nil
    ) async throws -> RawConnection {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv13
        tls.trustRoots = .file((trust ?? Daemon.certificates.appendingPathComponent("ca.pem")).path)
        if let name {
            let base = certificates.appendingPathComponent(name).path
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(base + ".pem").map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: base + ".key", format: .pem))
        }
        let context = try NIOSSLContext(configuration: tls)
        let (frames, continuation) = AsyncStream.makeStream(of: Luukku_V1_Envelope.self)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(NIOSSLClientHandler(context: context, serverHostname: "localhost"))
                    try pipeline.addHandler(ByteToMessageHandler(EnvelopeFrameDecoder()))
                    try pipeline.addHandler(Collector(continuation: continuation))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawConnection(channel: channel, frames: frames)
    }

    /// Writes these bytes as they are.
    func write(_ bytes: [UInt8]) {
        channel.writeAndFlush(ByteBuffer(bytes: bytes), promise: nil)
    }

    /// Writes one frame: the 4-byte length and the envelope.
    func send(_ message: Luukku_V1_Envelope.OneOf_Message?, correlation: UInt64 = 0) throws {
        var envelope = Luukku_V1_Envelope()
        envelope.correlationID = correlation
        envelope.message = message
        var buffer = ByteBuffer()
        try EnvelopeCoding.encode(envelope, into: &buffer)
        channel.writeAndFlush(buffer, promise: nil)
    }

    /// The next frame from the server; nil once the connection closed (or TLS failed).
    func next() async -> Luukku_V1_Envelope? { await iterator.next() }

    /// The next frame, which must be an Error; fails the test otherwise.
    func expectError(_ sourceLocation: SourceLocation = #_sourceLocation) async throws -> (
        error: Luukku_V1_Error, correlation: UInt64
    ) {
        let frame = await next()
        guard let frame, case .error(let error) = frame.message else {
            Issue.record("expected an Error, got \(String(describing: frame))", sourceLocation: sourceLocation)
            throw CancellationError()
        }
        return (error, frame.correlationID)
    }

    func close() { channel.close(promise: nil) }

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = Luukku_V1_Envelope
        let continuation: AsyncStream<Luukku_V1_Envelope>.Continuation
        init(continuation: AsyncStream<Luukku_V1_Envelope>.Continuation) { self.continuation = continuation }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            continuation.yield(unwrapInboundIn(data))
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
        func channelInactive(context: ChannelHandlerContext) { continuation.finish() }
    }
}

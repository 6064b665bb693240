import Foundation
import LuukkuCore
import LuukkuProtocol
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// Why a client could not connect or was turned away. The text is safe to print: no key, no token.
public struct ClientError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: Hashable, Sendable {
        /// The certificate, key or CA file could not be read.
        case files(String)
        /// TCP or TLS failed: daemon down, wrong port, the daemon's certificate not trusted.
        case unreachable(String)
        /// The daemon refused this client's certificate in the TLS handshake (none sent, another CA's, expired):
        /// the TLS alert it sent.
        case certificateRefused(String)
        /// The server answered with an Error frame.
        case refused(Luukku_V1_ErrorCode, String)
        /// The connection closed before the expected answer.
        case closed
    }

    public let code: Code
    public init(_ code: Code) { self.code = code }

    public var description: String {
        switch code {
        case .files(let what): "cannot use the TLS files: \(what)"
        case .unreachable(let what): "cannot reach the daemon: \(what)"
        case .certificateRefused(let alert):
            "the daemon refused this client's certificate (TLS alert \(alert)): is it issued by the service's CA, "
                + "for this role, and not expired? (certs/README.md)"
        case .refused(let code, let message): "refused by the daemon (\(code)): \(message)"
        case .closed: "the daemon closed the connection"
        }
    }
}

/// The files of a client identity: its certificate and key (URI SAN `luukku:terminal:...` or
/// `luukku:expert:...`) and the CA that signed the daemon's certificate.
public struct ClientIdentity: Sendable {
    /// nil only to test that the daemon refuses a client without a certificate.
    public var certificate: String?
    public var privateKey: String?
    public var trustRoots: String

    public init(certificate: String?, privateKey: String?, trustRoots: String) {
        self.certificate = certificate
        self.privateKey = privateKey
        self.trustRoots = trustRoots
    }
}

/// One signaling connection to luukkud over TLS 1.3 with a client certificate: frames out with ``send(_:)``,
/// frames in with ``next()``. Shared by luukku-terminal, the tests and, later, luukku-console.
public final class ClientConnection: Sendable {
    private let channel: any Channel
    private let inbound: Mailbox
    private let nextCorrelation = NIOLockedValueBox<UInt64>(1)
    /// The server's Welcome.
    public let welcome: Luukku_V1_Welcome

    /// Connects, sends Hello and waits for Welcome.
    /// - Parameter heartbeats: send Ping every `Welcome.heartbeat_interval_ms`, as the protocol asks; the
    ///   server closes a connection silent for its idle timeout (turned off only to test that).
    /// - Parameter media: what this client can send and receive (`Hello.media`); nil behaves as a client from
    ///   before media negotiation (AES_CM_128_HMAC_SHA1_80 and the service's codecs).
    /// - Parameter uiLanguage: the language the client shows its user (`Hello.ui_language`): a terminal's
    ///   Welcome names its service point in it where the point has a name in it.
    /// - Throws: ``ClientError``: `.unreachable` for TCP/TLS failures, `.refused` with the server's error code.
    public static func connect(
        host: String, port: Int, identity: ClientIdentity, software: String, group: any EventLoopGroup,
        versions: [UInt32] = ProtocolVersion.supported, heartbeats: Bool = true, media: MediaCapabilities? = nil,
        uiLanguage: String = ""
    ) async throws(ClientError) -> ClientConnection {
        let context: NIOSSLContext
        do {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.minimumTLSVersion = .tlsv13
            tls.trustRoots = .file(identity.trustRoots)
            if let certificate = identity.certificate, let key = identity.privateKey {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            }
            context = try NIOSSLContext(configuration: tls)
        } catch {
            throw ClientError(.files("\(error)"))
        }
        let inbound = Mailbox()
        let hostname = Self.isIPAddress(host) ? nil : host
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        try pipeline.addHandler(NIOSSLClientHandler(context: context, serverHostname: hostname))
                        try pipeline.addHandler(ByteToMessageHandler(EnvelopeFrameDecoder()))
                        try pipeline.addHandler(MessageToByteHandler(EnvelopeFrameEncoder()))
                        try pipeline.addHandler(InboundForwarder(mailbox: inbound))
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            throw Self.tlsFailure("\(error)", host: host, port: port)
        }
        var hello = Luukku_V1_Envelope()
        hello.hello = .with {
            $0.protocolVersions = versions
            $0.clientSoftware = software
            $0.uiLanguage = uiLanguage
            if let media { $0.media = media.wire }
        }
        channel.writeAndFlush(hello, promise: nil)
        // A peer that accepts TCP but never finishes TLS or never answers Hello must not hang the client.
        let timedOut = NIOLockedValueBox(false)
        let deadline = channel.eventLoop.scheduleTask(in: .seconds(15)) {
            timedOut.withLockedValue { $0 = true }
            channel.close(promise: nil)
        }
        let answer = await inbound.next()
        deadline.cancel()
        guard let first = answer else {
            channel.close(promise: nil)
            if timedOut.withLockedValue({ $0 }) {
                throw ClientError(.unreachable("\(host):\(port): no answer to Hello within 15 s"))
            }
            if let failure = inbound.failure { throw Self.tlsFailure(failure, host: host, port: port) }
            throw ClientError(.closed)
        }
        switch first.message {
        case .welcome(let welcome):
            if heartbeats, welcome.heartbeatIntervalMs > 0 {
                let interval = TimeAmount.milliseconds(Int64(welcome.heartbeatIntervalMs))
                let pings = channel.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { task in
                    var ping = Luukku_V1_Envelope()
                    ping.ping = .with { $0.nonce = UInt64.random(in: 1...UInt64.max) }
                    channel.writeAndFlush(ping, promise: nil)
                }
                channel.closeFuture.whenComplete { _ in pings.cancel() }
            }
            return ClientConnection(channel: channel, inbound: inbound, welcome: welcome)
        case .error(let error):
            channel.close(promise: nil)
            throw ClientError(.refused(error.code, error.message))
        default:
            channel.close(promise: nil)
            throw ClientError(.refused(.unexpectedMessage, "the first frame was not Welcome"))
        }
    }

    private init(channel: any Channel, inbound: Mailbox, welcome: Luukku_V1_Welcome) {
        self.channel = channel
        self.inbound = inbound
        self.welcome = welcome
    }

    /// Alerts a server sends when it refuses the client's certificate (BoringSSL's names).
    static let certificateAlerts = [
        "TLSV1_ALERT_UNKNOWN_CA", "CERTIFICATE_REQUIRED", "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN", "SSLV3_ALERT_CERTIFICATE_REVOKED", "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE", "TLSV1_ALERT_ACCESS_DENIED",
    ]

    /// The error for a connection that failed in or right after the TLS handshake.
    static func tlsFailure(_ failure: String, host: String, port: Int) -> ClientError {
        let text = ErrorText.withoutSourceLocations(failure)
        if let alert = certificateAlerts.first(where: { text.contains($0) }) {
            return ClientError(.certificateRefused(alert))
        }
        return ClientError(.unreachable("\(host):\(port): \(text)"))
    }

    static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }

    /// Sends one message; returns the correlation id it carries.
    @discardableResult
    public func send(_ message: Luukku_V1_Envelope.OneOf_Message) -> UInt64 {
        let correlation = nextCorrelation.withLockedValue { value in
            defer { value += 1 }
            return value
        }
        var envelope = Luukku_V1_Envelope()
        envelope.correlationID = correlation
        envelope.message = message
        channel.writeAndFlush(envelope, promise: nil)
        return correlation
    }

    /// The next frame from the server; nil once the connection closed. One reader at a time.
    public func next() async -> Luukku_V1_Envelope? { await inbound.next() }

    /// Sends Goodbye{CLIENT_EXIT} and closes: the server keeps no resume grace.
    public func goodbye() async {
        send(.goodbye(.with { $0.reason = .clientExit }))
        try? await channel.close()
    }

    /// Closes without Goodbye, as a lost connection would: the server keeps the resume grace.
    public func drop() async {
        try? await channel.close()
    }
}

/// Frames received and not yet read, and the reader waiting for one.
final class Mailbox: Sendable {
    private struct State {
        var frames: [Luukku_V1_Envelope] = []
        var waiter: CheckedContinuation<Luukku_V1_Envelope?, Never>?
        var closed = false
        var failure: String?
    }

    private let state = NIOLockedValueBox(State())

    func put(_ envelope: Luukku_V1_Envelope) {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Luukku_V1_Envelope?, Never>? in
            guard let waiter = state.waiter else {
                state.frames.append(envelope)
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume(returning: envelope)
    }

    func close() {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Luukku_V1_Envelope?, Never>? in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// The next frame; nil once closed. One reader at a time. A reader whose task is cancelled closes the
    /// mailbox (and gets nil): nobody reads this connection any more.
    func next() async -> Luukku_V1_Envelope? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { waiter in
                let ready = state.withLockedValue { state -> Luukku_V1_Envelope?? in
                    if !state.frames.isEmpty { return .some(state.frames.removeFirst()) }
                    if state.closed { return .some(nil) }
                    precondition(state.waiter == nil, "ClientConnection.next() has one reader at a time")
                    state.waiter = waiter
                    return .none
                }
                if let ready { waiter.resume(returning: ready) }
            }
        } onCancel: {
            close()
        }
    }

    /// Why the connection failed (a TLS alert, a reset), when it did.
    var failure: String? { state.withLockedValue { $0.failure } }

    func fail(_ reason: String) {
        state.withLockedValue { $0.failure = $0.failure ?? reason }
        close()
    }
}

/// Hands decoded frames to the connection's mailbox and closes it when the channel closes.
private final class InboundForwarder: ChannelInboundHandler, Sendable {
    typealias InboundIn = Luukku_V1_Envelope
    let mailbox: Mailbox

    init(mailbox: Mailbox) { self.mailbox = mailbox }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        mailbox.put(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        mailbox.close()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        mailbox.fail("\(error)")
        context.close(promise: nil)
    }
}

import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle

/// Prometheus's scrape endpoint (docs/operations.md, "Metrics"): plain HTTP/1.1 on a loopback address,
/// `GET /metrics` answered in the Prometheus text format (version 0.0.4) from the registry that swift-metrics
/// writes into. Anything else gets 404 or 405. No authentication: configuration refuses a non-loopback address.
public final class MetricsService: Service, Sendable {
    private let host: String
    private let port: Int
    private let registry: PrometheusCollectorRegistry
    private let broker: Broker
    private let logger: Logger
    private let onListening: @Sendable (SocketAddress) -> Void
    private let onFailure: @Sendable (String, any Error) -> Void

    /// - Parameters:
    ///   - onListening: told the bound address (port 0: the kernel's pick).
    ///   - onFailure: told the address and the error when the port cannot be bound; the service then waits for
    ///     shutdown without serving, and the daemon goes on.
    public init(
        host: String, port: Int, registry: PrometheusCollectorRegistry, broker: Broker, logger: Logger,
        onListening: @escaping @Sendable (SocketAddress) -> Void,
        onFailure: @escaping @Sendable (String, any Error) -> Void
    ) {
        self.host = host
        self.port = port
        self.registry = registry
        self.broker = broker
        self.logger = logger
        self.onListening = onListening
        self.onFailure = onFailure
    }

    public func run() async throws {
        let registry = self.registry
        let broker = self.broker
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                        try channel.pipeline.syncOperations.addHandler(
                            MetricsHandler(registry: registry, broker: broker))
                    }
                }
                .bind(host: host, port: port).get()
        } catch {
            // Metrics are for watching the service, not part of it: a taken port must not stop the broker.
            logger.error(
                "metrics listener cannot bind \(host):\(port); running without /metrics",
                metadata: ["error": "\(error)", "key": "server.metricsListen"])
            onFailure("\(host):\(port)", error)
            try? await gracefulShutdown()
            return
        }
        if let address = channel.localAddress {
            logger.info("metrics at http://\(host):\(address.port ?? 0)/metrics")
            onListening(address)
        }
        try? await gracefulShutdown()
        try? await channel.close()
    }
}

/// One HTTP connection of the metrics endpoint.
final class MetricsHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let registry: PrometheusCollectorRegistry
    private let broker: Broker
    private var request: HTTPRequestHead?

    init(registry: PrometheusCollectorRegistry, broker: Broker) {
        self.registry = registry
        self.broker = broker
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
            guard path == "/metrics" else {
                respond(context, head, .notFound, "not found: the metrics are at /metrics\n")
                return
            }
            guard head.method == .GET || head.method == .HEAD else {
                respond(context, head, .methodNotAllowed, "only GET\n")
                return
            }
            // The levels and relay counters are brought up to date off the event loop (the relay answers
            // asynchronously), then the registry is written out on it.
            let registry = self.registry
            let broker = self.broker
            let text = context.eventLoop.makePromise(of: String.self)
            text.completeWithTask {
                await ServerMetrics.shared.collect(broker: broker)
                return registry.emitToString()
            }
            text.futureResult.assumeIsolated().whenSuccess { body in
                self.respond(context, head, .ok, head.method == .HEAD ? "" : body)
            }
        }
    }

    private func respond(
        _ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ status: HTTPResponseStatus, _ body: String
    ) {
        var headers = HTTPHeaders()
        headers.add(
            name: "Content-Type",
            value: status == .ok ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
            promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }
}

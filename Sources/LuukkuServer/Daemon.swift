import Foundation
import Logging
import LuukkuCore
import LuukkuLedger
import LuukkuRelay
import NIOCore
import Prometheus
import ServiceLifecycle

/// luukkud's exit statuses, in one table (sysexits.h's numbers; docs/operations.md).
public enum DaemonExit: Int32, Sendable, CaseIterable {
    /// After a drain, or a valid `--check-config`.
    case ok = 0
    /// EX_SOFTWARE: the relay or the listener cannot start, or the service group failed.
    case software = 70
    /// EX_IOERR: the ledger cannot be opened.
    case ioError = 74
    /// EX_CONFIG: the configuration is not valid, or its TLS files cannot be read or do not fit together.
    case configuration = 78
}

/// Why the daemon stopped or would not start: the exit status and the line for standard error.
public struct DaemonFailure: Error, CustomStringConvertible {
    public let exit: DaemonExit
    public let message: String

    public init(_ exit: DaemonExit, _ message: String) {
        self.exit = exit
        self.message = message
    }

    public var description: String { message }
}

/// The daemon's composition root (docs/server.md): opens the ledger (closing what a previous run left open
/// as interrupted), starts the media relay, the broker, the TLS listener, the status socket, the metrics
/// endpoint and SIGHUP's reload, and serves until SIGTERM drains. `luukkud` parses its flags and runs this.
public struct Daemon: Sendable {
    /// The configuration file's path, for messages.
    public let configPath: String
    /// Reads the configuration again for SIGHUP (the file with the command line's overrides).
    public let reread: @Sendable () throws(ConfigurationError) -> Configuration
    /// Lines for standard output that scripts and tests wait for ("luukkud: ready, ...").
    public let output: @Sendable (String) -> Void
    public let logger: Logger
    public let registry: PrometheusCollectorRegistry

    public init(
        configPath: String, reread: @escaping @Sendable () throws(ConfigurationError) -> Configuration,
        output: @escaping @Sendable (String) -> Void, logger: Logger, registry: PrometheusCollectorRegistry
    ) {
        self.configPath = configPath
        self.reread = reread
        self.output = output
        self.logger = logger
        self.registry = registry
    }

    /// The TLS files must be readable before anything starts.
    public static func unreadableFiles(_ server: Configuration.Server) -> [ConfigurationIssue] {
        [
            ("server.certificateChain", server.certificateChain), ("server.privateKey", server.privateKey),
            ("server.trustRoots", server.trustRoots),
        ].compactMap { key, path in
            FileManager.default.isReadableFile(atPath: path)
                ? nil
                : ConfigurationIssue(keyPath: key, problem: "cannot read '\(path)' (make certs makes the dev ones)")
        }
    }

    /// `--check-config`: the TLS files are readable, and the key and certificates parse and fit together.
    public static func checkTLS(_ server: Configuration.Server, configPath: String) throws(DaemonFailure) {
        let unreadable = unreadableFiles(server)
        guard unreadable.isEmpty else {
            throw DaemonFailure(
                .configuration,
                "luukkud: configuration is not valid:\n"
                    + ConfigurationError(file: configPath, issues: unreadable).description)
        }
        do {
            _ = try TLSContextBox(server: server)
        } catch {
            throw DaemonFailure(.configuration, "luukkud: configuration is not valid:\n\(configPath): \(error)")
        }
    }

    /// Serves `configuration` until SIGTERM or SIGINT has drained; throws what stopped it otherwise.
    public func run(_ configuration: Configuration) async throws(DaemonFailure) {
        let server = configuration.server
        let unreadable = Self.unreadableFiles(server)
        guard unreadable.isEmpty else {
            throw DaemonFailure(
                .configuration,
                "luukkud: configuration is not valid:\n"
                    + ConfigurationError(file: configPath, issues: unreadable).description)
        }
        let ledger: SQLiteLedger
        do {
            let directory = URL(fileURLWithPath: server.ledgerPath).deletingLastPathComponent()
            try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            ledger = try SQLiteLedger(path: server.ledgerPath)
        } catch {
            throw DaemonFailure(.ioError, "luukkud: \(error)")
        }
        let recovered = ledger.recovered
        ServerMetrics.shared.interrupted(sessions: recovered.sessions)
        logger.notice(
            "ledger \(server.ledgerPath) open, run \(ledger.run)",
            metadata: [
                "interrupted_tickets": "\(recovered.tickets)", "interrupted_offers": "\(recovered.offers)",
                "interrupted_sessions": "\(recovered.sessions)",
            ])
        let tls: TLSContextBox
        do {
            tls = try TLSContextBox(server: server)
        } catch {
            throw DaemonFailure(.configuration, "luukkud: \(configPath): \(error)")
        }
        // The relay reports on its worker threads, which must not wait for the broker's lock: a stream hands
        // its reports to the broker (RelayReports).
        let (silences, silenced) = AsyncStream<RelayReports.Silence>.makeStream()
        let relay: Relay
        let logger = self.logger
        do {
            relay = try Relay(
                configuration: RelayConfiguration(configuration.relay),
                onLatch: { event in
                    logger.info(
                        event.moved ? "media moved" : "media flowing",
                        metadata: ["session": "\(event.session)", "leg": "\(event.side)"])
                },
                onSessionEnd: { session, end, snapshot in
                    guard end == .mediaSilence else { return }
                    silenced.yield(.init(session: session, snapshot: snapshot))
                })
        } catch {
            throw DaemonFailure(.software, "luukkud: the media relay cannot start: \(error)")
        }
        let broker = Broker(configuration: configuration, relay: relay, ledger: ledger, logger: logger)
        let notifier = SystemdNotifier(environment: ProcessInfo.processInfo.environment)
        let relayPorts = "\(configuration.relay.firstPort)-\(configuration.relay.lastPort)"
        let output = self.output
        let signaling = SignalingServer(
            broker: broker, relay: relay, tls: tls, server: server, notifier: notifier, logger: logger
        ) { address in
            // One line on stdout that scripts and tests wait for; the port is the real one (listen port 0).
            output(
                "luukkud: ready, listening on \(address.ipAddress ?? "?"):\(address.port ?? 0), relay ports \(relayPorts)\n"
            )
        }
        let reload = ReloadService { [self] in self.reload(broker: broker, tls: tls, notifier: notifier) }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            // First, so it is asked to stop last: media silence still ends sessions during a drain.
            .init(service: RelayReports(silences: silences, broker: broker))
        ]
        if let host = server.metricsHost {
            let metrics = MetricsService(
                host: host, port: Int(server.metricsPort), registry: registry, broker: broker, logger: logger,
                onListening: { address in
                    output("luukkud: metrics on http://\(address.ipAddress ?? host):\(address.port ?? 0)/metrics\n")
                },
                onFailure: { address, _ in
                    output("luukkud: no metrics: cannot listen on \(address) (server.metricsListen)\n")
                })
            services.append(.init(service: metrics))
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services + [
                    .init(service: WatchdogService(notifier: notifier)),
                    // Before the listener, so it is asked to stop after it: operators can watch a drain.
                    .init(
                        service: StatusSocket(
                            path: server.statusSocket, broker: broker, reports: ledger,
                            timeZone: TimeZone(identifier: server.reportTimeZone) ?? .current,
                            serviceLevelTarget: .seconds(server.serviceLevelTargetSeconds), logger: logger)),
                    .init(service: signaling, successTerminationBehavior: .gracefullyShutdownGroup),
                    .init(service: reload),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch {
            throw DaemonFailure(.software, "luukkud: \(error)")
        }
    }

    /// SIGHUP: the file again (with the command line's overrides), the TLS certificates, and what the broker
    /// may change while it runs; on any error the running configuration stays.
    private func reload(broker: Broker, tls: TLSContextBox, notifier: SystemdNotifier) {
        do {
            let fresh = try reread()
            let unreadable = Self.unreadableFiles(fresh.server)
            guard unreadable.isEmpty else { throw ConfigurationError(file: configPath, issues: unreadable) }
            try tls.reload(server: fresh.server)
            for note in broker.reload(fresh) { logger.warning("reload: \(note)") }
            logger.notice("reloaded \(configPath) and the TLS certificates")
            notifier.notify("STATUS=reloaded configuration")
            output("luukkud: reloaded \(configPath)\n")
        } catch {
            logger.error("reload refused; the running configuration stays: \(error)")
            output("luukkud: reload refused, the running configuration stays\n")
        }
    }
}

/// Hands the relay's reports of media silence to the broker, one by one, off the relay's worker threads.
struct RelayReports: Service {
    struct Silence: Sendable {
        let session: UInt64
        let snapshot: SessionSnapshot
    }

    let silences: AsyncStream<Silence>
    let broker: Broker

    func run() async {
        await cancelWhenGracefulShutdown {
            for await silence in silences {
                broker.relayEnded(session: silence.session, end: .mediaSilence, snapshot: silence.snapshot)
            }
        }
    }
}

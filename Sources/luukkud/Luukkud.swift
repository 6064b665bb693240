import ArgumentParser
import Foundation
import Logging
import LuukkuCore
import LuukkuLedger
import LuukkuProtocol
import LuukkuRelay
import LuukkuServer
import Metrics
import NIOConcurrencyHelpers
import Prometheus
import ServiceLifecycle

/// The Luukku daemon: loads and validates the configuration, opens the ledger (closing what a previous run
/// left open as interrupted), starts the media relay and the TLS listener, and serves until SIGTERM, which
/// drains (docs/server.md).
@main
struct Luukkud: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "luukkud",
        abstract: "Luukku remote video-service broker daemon.",
        discussion: """
            Brokers video sessions between service-point terminals and agency experts \
            (docs/protocol.md, docs/server.md): a TLS 1.3 listener with client \
            certificates, the matcher, the SRTP media relay and the SQLite ledger.

            Signals: SIGTERM drains (no new requests, waiting customers told the queue \
            closed, running sessions may finish until server.timeouts.drain, every \
            record flushed) and exits 0; SIGINT does the same; SIGHUP reloads the \
            configuration file and the TLS certificates. Under systemd (Type=notify) it \
            sends READY=1, STATUS=, STOPPING=1 and WATCHDOG=1.

            Exit status: 0 after a drain or a valid --check-config, 78 (EX_CONFIG) for \
            an invalid configuration or unreadable TLS files, 74 (EX_IOERR) when the \
            ledger cannot be opened, 70 (EX_SOFTWARE) when the relay or the listener \
            cannot start.
            """
    )

    @Option(
        name: .shortAndLong, help: ArgumentHelp("Configuration file (JSON, docs/configuration.md).", valueName: "path"))
    var config: String = "config/luukku.example.json"

    @Flag(name: .long, help: "Validate the configuration (and that its TLS files can be read) and exit.")
    var checkConfig = false

    @Option(help: ArgumentHelp("Listen here instead of the file's server.listen.", valueName: "host:port"))
    var listen: String?

    @Option(help: ArgumentHelp("Ledger file instead of the file's server.ledgerPath.", valueName: "path"))
    var ledger: String?

    @Option(help: ArgumentHelp("Status socket instead of the file's server.statusSocket.", valueName: "path"))
    var statusSocket: String?

    @Option(help: ArgumentHelp("Media address for peers' SDP instead of relay.publicAddress.", valueName: "ipv4"))
    var relayPublicAddress: String?

    @Option(help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error.", valueName: "level"))
    var logLevel: Logger.Level = .info

    /// The file's configuration with the command line's overrides, validated again; issues from an override
    /// name the flag.
    func effectiveConfiguration() throws(ConfigurationError) -> Configuration {
        var loaded = try Configuration.decode(contentsOf: config)  // validated below, after the overrides
        var flags: [String: String] = [:]
        if let listen {
            flags["server.listen"] = "--listen"
            guard let endpoint = Configuration.Server.endpoint(listen) else {
                throw ConfigurationError(
                    file: config,
                    issues: [
                        ConfigurationIssue(
                            keyPath: "--listen (server.listen)", problem: "expected HOST:PORT, got '\(listen)'")
                    ])
            }
            (loaded.server.listenHost, loaded.server.listenPort) = endpoint
        }
        if let ledger {
            flags["server.ledgerPath"] = "--ledger"
            loaded.server.ledgerPath = ledger
        }
        if let statusSocket {
            flags["server.statusSocket"] = "--status-socket"
            loaded.server.statusSocket = statusSocket
        }
        if let relayPublicAddress {
            flags["relay.publicAddress"] = "--relay-public-address"
            loaded.relay.publicAddress = relayPublicAddress
        }
        let issues = loaded.validate().map { issue in
            flags[issue.keyPath].map { ConfigurationIssue(keyPath: "\($0) (\(issue.keyPath))", problem: issue.problem) }
                ?? issue
        }
        guard issues.isEmpty else { throw ConfigurationError(file: config, issues: issues) }
        return loaded
    }

    /// The TLS files must be readable before anything starts.
    static func unreadableFiles(_ server: Configuration.Server) -> [ConfigurationIssue] {
        [
            ("server.certificateChain", server.certificateChain), ("server.privateKey", server.privateKey),
            ("server.trustRoots", server.trustRoots),
        ].compactMap { key, path in
            FileManager.default.isReadableFile(atPath: path)
                ? nil
                : ConfigurationIssue(keyPath: key, problem: "cannot read '\(path)' (make certs makes the dev ones)")
        }
    }

    func run() async throws {
        let loaded: Configuration
        do {
            loaded = try effectiveConfiguration()
        } catch {
            printError("luukkud: configuration is not valid:\n\(error)")
            throw ExitCode(78)
        }
        let summary =
            "\(loaded.agencies.count) agencies, \(loaded.languages.count) languages, "
            + "\(loaded.servicePoints.count) service points, \(loaded.experts.count) experts"
        let unreadable = Self.unreadableFiles(loaded.server)
        guard unreadable.isEmpty else {
            printError(
                "luukkud: configuration is not valid:\n"
                    + ConfigurationError(file: config, issues: unreadable).description)
            throw ExitCode(78)
        }
        if checkConfig {
            // Readable is not enough: the key and the certificates must parse and fit together (at start, serve()
            // makes the context and reports the same).
            do {
                _ = try TLSContextBox(server: loaded.server)
            } catch {
                printError("luukkud: configuration is not valid:\n\(config): \(error)")
                throw ExitCode(78)
            }
            let server = loaded.server
            print("luukkud: configuration \(config) is valid: \(summary)")
            print(
                "luukkud: would listen on \(server.listenHost):\(server.listenPort), ledger \(server.ledgerPath), "
                    + "status socket \(server.statusSocket), relay ports \(loaded.relay.firstPort)-\(loaded.relay.lastPort)"
            )
            return
        }
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "luukkud")
        logger.info("configuration \(config): \(summary)")
        var metrics = PrometheusMetricsFactory(registry: registry)
        metrics.durationHistogramBuckets = [
            "luukku_wait_seconds": ServerMetrics.waitBuckets,
            "luukku_ledger_commit_seconds": ServerMetrics.commitBuckets,
        ]
        MetricsSystem.bootstrap(metrics)
        ServerMetrics.shared.register(queues: Set(loaded.experts.flatMap(\.queues)).sorted())
        try await serve(loaded, logger: logger)
    }

    private func serve(_ loaded: Configuration, logger: Logger) async throws {
        let server = loaded.server
        let ledger: SQLiteLedger
        do {
            let directory = URL(fileURLWithPath: server.ledgerPath).deletingLastPathComponent()
            try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            ledger = try SQLiteLedger(path: server.ledgerPath)
        } catch {
            printError("luukkud: \(error)")
            throw ExitCode(74)
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
            printError("luukkud: \(config): \(error)")
            throw ExitCode(78)
        }
        // The relay calls back on its worker threads; the broker exists only after the relay, hence the box.
        let brokerBox = NIOLockedValueBox<Broker?>(nil)
        let relay: Relay
        do {
            relay = try Relay(
                configuration: RelayConfiguration(loaded.relay),
                onLatch: { event in
                    logger.info(
                        event.moved ? "media moved" : "media flowing",
                        metadata: ["session": "\(event.session)", "leg": "\(event.side)"])
                },
                onSessionEnd: { session, end, snapshot in
                    // On a relay worker thread, which must not wait for the broker's lock: hand it over.
                    guard end == .mediaSilence, let broker = brokerBox.withLockedValue({ $0 }) else { return }
                    Task { broker.relayEnded(session: session, end: end, snapshot: snapshot) }
                })
        } catch {
            printError("luukkud: the media relay cannot start: \(error)")
            throw ExitCode(70)
        }
        let broker = Broker(configuration: loaded, relay: relay, ledger: ledger, logger: logger)
        brokerBox.withLockedValue { $0 = broker }
        let notifier = SystemdNotifier(environment: ProcessInfo.processInfo.environment)
        let relayPorts = "\(loaded.relay.firstPort)-\(loaded.relay.lastPort)"
        let signaling = SignalingServer(
            broker: broker, relay: relay, tls: tls, server: server, notifier: notifier, logger: logger
        ) { address in
            // One line on stdout that scripts and tests wait for; the port is the real one (listen port 0).
            let line =
                "luukkud: ready, listening on \(address.ipAddress ?? "?"):\(address.port ?? 0), relay ports \(relayPorts)\n"
            FileHandle.standardOutput.write(Data(line.utf8))
        }
        let reload = ReloadService { [self] in
            do {
                let fresh = try effectiveConfiguration()
                let unreadable = Self.unreadableFiles(fresh.server)
                guard unreadable.isEmpty else {
                    throw ConfigurationError(file: config, issues: unreadable)
                }
                try tls.reload(server: fresh.server)
                for note in broker.reload(fresh) { logger.warning("reload: \(note)") }
                logger.notice("reloaded \(config) and the TLS certificates")
                notifier.notify("STATUS=reloaded configuration")
                FileHandle.standardOutput.write(Data("luukkud: reloaded \(config)\n".utf8))
            } catch {
                logger.error("reload refused; the running configuration stays: \(error)")
                FileHandle.standardOutput.write(Data("luukkud: reload refused, the running configuration stays\n".utf8))
            }
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let host = server.metricsHost {
            let metrics = MetricsService(
                host: host, port: Int(server.metricsPort), registry: registry, broker: broker, logger: logger,
                onListening: { address in
                    let line = "luukkud: metrics on http://\(address.ipAddress ?? host):\(address.port ?? 0)/metrics\n"
                    FileHandle.standardOutput.write(Data(line.utf8))
                },
                onFailure: { address, _ in
                    let line = "luukkud: no metrics: cannot listen on \(address) (server.metricsListen)\n"
                    FileHandle.standardOutput.write(Data(line.utf8))
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
            printError("luukkud: \(error)")
            throw ExitCode(70)
        }
    }

    /// Where swift-metrics records, for the metrics endpoint to write out.
    private var registry: PrometheusCollectorRegistry { PrometheusMetricsFactory.defaultRegistry }

    private func printError(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

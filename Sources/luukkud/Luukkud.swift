import ArgumentParser
import Foundation
import Logging
import LuukkuCore
import LuukkuProtocol
import LuukkuServer
import Metrics
import Prometheus

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

    func run() async throws {
        let loaded: Configuration
        do {
            loaded = try effectiveConfiguration()
        } catch {
            printError("luukkud: configuration is not valid:\n\(error)")
            throw ExitCode(DaemonExit.configuration.rawValue)
        }
        let summary =
            "\(loaded.agencies.count) agencies, \(loaded.languages.count) languages, "
            + "\(loaded.servicePoints.count) service points, \(loaded.experts.count) experts"
        if checkConfig {
            do {
                try Daemon.checkTLS(loaded.server, configPath: config)
            } catch {
                printError(error.message)
                throw ExitCode(error.exit.rawValue)
            }
            let server = loaded.server
            print("luukkud: configuration \(config) is valid: \(summary)")
            print(
                "luukkud: would listen on \(server.listenHost):\(server.listenPort), ledger \(server.ledgerPath), "
                    + "status socket \(server.statusSocket), relay ports \(loaded.relay.firstPort)-\(loaded.relay.lastPort)"
            )
            return
        }
        guard Daemon.unreadableFiles(loaded.server).isEmpty else {
            // Said before logging starts, as an invalid configuration is (Daemon.run checks it again).
            printError(
                "luukkud: configuration is not valid:\n"
                    + ConfigurationError(file: config, issues: Daemon.unreadableFiles(loaded.server)).description)
            throw ExitCode(DaemonExit.configuration.rawValue)
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
        let command = self
        let daemon = Daemon(
            configPath: config,
            reread: { () throws(ConfigurationError) -> Configuration in
                try command.effectiveConfiguration()
            },
            output: { line in FileHandle.standardOutput.write(Data(line.utf8)) }, logger: logger, registry: registry)
        do {
            try await daemon.run(loaded)
        } catch {
            printError(error.message)
            throw ExitCode(error.exit.rawValue)
        }
    }

    /// Where swift-metrics records, for the metrics endpoint to write out.
    private var registry: PrometheusCollectorRegistry { PrometheusMetricsFactory.defaultRegistry }

    private func printError(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

import ArgumentParser
import Foundation
import LuukkuCore
import LuukkuProtocol

/// The Luukku daemon. The matcher, the media relay and the ledger exist as libraries; the signaling server
/// that uses them arrives with issue 5. Until then this loads and validates the configuration, prints what it
/// would serve, and says plainly that it does not serve yet.
@main
struct Luukkud: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "luukkud",
        abstract: "Luukku remote video-service broker daemon.",
        discussion: """
            Brokers video sessions between service-point terminals and agency experts \
            (docs/protocol.md). This build validates the configuration and exits: the \
            matcher, media relay and ledger are built as libraries, but the signaling \
            server that runs them is not part of it yet (issue 5).

            Exit status: 0 when the configuration is valid, 78 (EX_CONFIG) when it is not.
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

    func run() throws {
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
        print("luukkud: configuration \(config) is valid: \(summary)")
        let server = loaded.server
        print(
            "luukkud: would listen on \(server.listenHost):\(server.listenPort), ledger \(server.ledgerPath), "
                + "status socket \(server.statusSocket), relay ports \(loaded.relay.firstPort)-\(loaded.relay.lastPort)"
        )
        if checkConfig {
            let unreadable = Self.unreadableFiles(server)
            guard unreadable.isEmpty else {
                printError(
                    "luukkud: configuration is not valid:\n"
                        + ConfigurationError(file: config, issues: unreadable).description)
                throw ExitCode(78)
            }
            return
        }
        print("luukkud: wire protocol v\(ProtocolVersion.current), max frame \(server.maxFrameBytes) bytes")
        print(
            "luukkud: the signaling server is not built yet (issue 5; the matcher, relay and ledger exist as "
                + "libraries), so nothing is listening. Exiting."
        )
    }

    private func printError(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}

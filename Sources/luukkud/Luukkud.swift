import ArgumentParser
import Foundation
import LuukkuCore
import LuukkuProtocol

/// The Luukku daemon. Signaling, matching, the media relay and the ledger arrive with issues 3-5; until then
/// this loads and validates the configuration, prints what it would serve, and says plainly that it does not
/// serve yet.
@main
struct Luukkud: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "luukkud",
        abstract: "Luukku remote video-service broker daemon.",
        discussion: """
            Brokers video sessions between service-point terminals and agency experts \
            (docs/protocol.md). This build is the foundation release: it validates the \
            configuration and exits; the signaling server, matcher, relay and ledger are \
            not part of it yet.

            Exit status: 0 when the configuration is valid, 78 (EX_CONFIG) when it is not.
            """
    )

    @Option(
        name: .shortAndLong, help: ArgumentHelp("Configuration file (JSON, docs/configuration.md).", valueName: "path"))
    var config: String = "config/luukku.example.json"

    @Flag(name: .long, help: "Validate the configuration and exit without starting.")
    var checkConfig = false

    func run() throws {
        let loaded: Configuration
        do {
            loaded = try Configuration.load(contentsOf: config)
        } catch {
            printError("luukkud: configuration is not valid:\n\(error)")
            throw ExitCode(78)
        }
        let summary =
            "\(loaded.agencies.count) agencies, \(loaded.languages.count) languages, "
            + "\(loaded.servicePoints.count) service points, \(loaded.experts.count) experts"
        print("luukkud: configuration \(config) is valid: \(summary)")
        if checkConfig { return }
        print("luukkud: wire protocol v\(ProtocolVersion.current), max frame \(FrameLimits.defaultMaxFrameBytes) bytes")
        print(
            "luukkud: this is the foundation build: the signaling server, matcher, relay and ledger "
                + "are not implemented yet (issues 3-5), so nothing is listening. Exiting."
        )
    }

    private func printError(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}

import ArgumentParser
import Foundation

/// Many terminals and experts as real mTLS connections in one process, against a running luukkud
/// (docs/benchmarks.md, "Signaling"): a compressed national day, a burst, a fixed request rate, or idle
/// connections; then `check` compares what the clients were told with the ledger.
@main
struct LuukkuLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "luukku-load",
        abstract: "Load a luukkud with many real terminals and experts, and check the ledger afterwards.",
        discussion: """
            The identities are the certificates in --certs (certs/make-dev-certs makes them): each \
            terminal-<point>.pem may be used by many connections (kiosks of one point), each \
            expert-<id>.pem by one. Agencies, languages and each expert's queues come from the \
            daemon's Welcome.

            Exit status: 0 when the run (or the check) found nothing wrong, 1 when it did (errors \
            the daemon sent, a ledger that disagrees), 64 for bad usage, 69 when the daemon cannot \
            be reached.
            """,
        subcommands: [Run.self, Check.self])
}

enum Exit {
    static let failed: Int32 = 1
    static let unreachable: Int32 = 69
}

/// Prints a line at once (stdout is often a pipe to a benchmark script).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

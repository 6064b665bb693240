import Foundation
import LuukkuTestSupport
import Testing

/// luukku-load against a real daemon: a short compressed national day (real mTLS terminals and experts,
/// arrivals, declines, customers who give up, breaks), then its check of the ledger after the daemon stopped:
/// every ticket and session the clients were told of is there with the same end, and nothing else.
@Suite(.serialized, .timeLimit(.minutes(2))) struct LoadToolTests {
    static let load = Repository.products.appendingPathComponent("luukku-load").path

    @Test func aShortNationalDayEndsWithTheLedgerAsTheClientsWereTold() async throws {
        let daemon = try await Daemon.start(LimitsTests.server { $0["maxRequestsPerTerminal"] = 10 })
        let told = daemon.directory.appendingPathComponent("told.json").path
        let summary = daemon.directory.appendingPathComponent("summary.json").path
        // 12 s: the morning of a day run 1,200 times faster, at 5 % of the national volume (about 3
        // customers a second for 8 experts).
        let run = try await runProcess(
            Self.load,
            [
                "run", "--daemon", "127.0.0.1:\(daemon.port)", "--certs", Daemon.certificates.path, "--scenario",
                "national-day", "--scenario-file",
                Repository.url("Benchmarks/national-day.json").path, "--compress", "1200",
                "--scale", "0.05", "--seconds", "12", "--progress", "4", "--told", told, "--json", summary,
            ], errorsToOutput: true)
        #expect(run.status == 0, "\(run.output)")
        let figures = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: summary))) as? [String: Any])
        let requested = try #require(figures["requested"] as? Int)
        let answered = try #require(figures["answered"] as? Int)
        #expect(requested > 20 && answered > 10 && answered == figures["completed"] as? Int, "\(run.output)")
        #expect(run.output.contains("summary: national-day"), "\(run.output)")
        #expect(await daemon.terminate() == 0)

        let check = try await runProcess(
            Self.load, ["check", "--ledger", daemon.ledgerPath, "--told", told], errorsToOutput: true)
        #expect(check.status == 0, "\(check.output)")
        #expect(check.output.contains("all in the ledger as told, nothing else"), "\(check.output)")
    }
}

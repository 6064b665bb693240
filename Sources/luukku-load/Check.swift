import ArgumentParser
import Foundation
import LuukkuLedger

/// Compares what a run's clients were told (`run --told`) with the ledger, after the daemon has stopped (the
/// ledger's lock admits one process): every ticket and session the clients were told of is there with the
/// same end, and the runs they were in hold no record the clients were not told of.
struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare a run's --told file with the ledger (after the daemon stopped).")

    @Option(help: ArgumentHelp("The daemon's ledger (server.ledgerPath).", valueName: "file"))
    var ledger: String
    @Option(help: ArgumentHelp("The file `run --told` wrote.", valueName: "file"))
    var told: String

    func run() async throws {
        let told = try JSONDecoder().decode(Told.self, from: Data(contentsOf: URL(fileURLWithPath: told)))
        let opened: SQLiteLedger
        do { opened = try SQLiteLedger(readingOnly: ledger) } catch {
            say("luukku-load: \(error)")
            throw ExitCode(Exit.failed)
        }
        let problems = try await Self.compare(told, tickets: opened.tickets(), sessions: opened.sessions())
        for problem in problems.prefix(20) { say("check: \(problem)") }
        if problems.count > 20 { say("check: ... and \(problems.count - 20) more") }
        say(
            "check: \(told.tickets.count) tickets and \(told.sessions.count) sessions told, "
                + (problems.isEmpty ? "all in the ledger as told, nothing else" : "\(problems.count) problems"))
        if !problems.isEmpty { throw ExitCode(Exit.failed) }
    }

    /// Every disagreement between `told` and the ledger's records, as sentences.
    static func compare(_ told: Told, tickets: [LedgerTicket], sessions: [LedgerSession]) -> [String] {
        var problems: [String] = []
        let ticketsByID = Dictionary(tickets.map { ("t-\($0.stamp)", $0) }) { first, _ in first }
        let sessionsByID = Dictionary(sessions.map { ("s-\($0.id)", $0) }) { first, _ in first }
        var runs = Set<Int64>()
        for (id, end) in told.tickets.sorted(by: { $0.key < $1.key }) {
            guard let record = ticketsByID[id] else {
                problems.append("\(id): told, not in the ledger")
                continue
            }
            runs.insert(record.run)
            let recorded = "\(record.outcome ?? "open")/\(record.reason ?? "")"
            if end != "open", recorded != end { problems.append("\(id): told \(end), the ledger has \(recorded)") }
            if end == "open" { problems.append("\(id): never told how it ended (the ledger has \(recorded))") }
        }
        for (id, session) in told.sessions.sorted(by: { $0.key < $1.key }) {
            guard let record = sessionsByID[id] else {
                problems.append("\(id): told, not in the ledger")
                continue
            }
            let recorded = "\(record.outcome ?? "open")/\(record.reason ?? "")"
            if "t-\(record.ticket)" != session.ticket {
                problems.append("\(id): told ticket \(session.ticket), the ledger has t-\(record.ticket)")
            }
            if recorded != session.end { problems.append("\(id): told \(session.end), the ledger has \(recorded)") }
        }
        for record in tickets where runs.contains(record.run) && told.tickets["t-\(record.stamp)"] == nil {
            problems.append("t-\(record.stamp): in the ledger, never told")
        }
        for record in sessions where runs.contains(record.run) && told.sessions["s-\(record.id)"] == nil {
            problems.append("s-\(record.id): in the ledger, never told")
        }
        return problems
    }
}

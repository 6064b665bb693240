import Foundation
import GRDB
import LuukkuCore
import LuukkuLedger
import Testing

/// The SQLite ledger on real files: a whole session read back after reopening, crash recovery, group commit,
/// refused events, and a file from a newer schema.
@Suite struct LedgerTests {
    static func temporaryPath() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("luukku-ledger-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent("ledger.sqlite").path
    }

    static let t0 = Date(timeIntervalSince1970: 1_795_000_000)
    static func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }
    static func opened(_ stamp: UInt64, point: String = "mikkeli", agency: String = "kela", language: String = "sv")
        -> LedgerEvent
    {
        .ticketOpened(
            .init(
                ticket: TicketID(stamp: stamp), servicePoint: ServicePointID(point)!, agency: AgencyID(agency)!,
                language: LanguageCode(language)!, service: ServiceCode("asumistuki"), requestedAt: at(Double(stamp))))
    }
    static let aino = ExpertID("kela-aino")!

    @Test func aCompleteSessionIsOnDiskWithTimesRelayStatsAndFeedback() async throws {
        let path = try Self.temporaryPath()
        let stats = LedgerEvent.RelayStats(
            packetsToExpert: 9_000, packetsToTerminal: 8_500, lostFromTerminal: 3, lostFromExpert: 0,
            jitterFromTerminalMicroseconds: 1_200, jitterFromExpertMicroseconds: 800)
        do {
            let ledger = try SQLiteLedger(path: path, now: Self.at(0))
            #expect(ledger.run == 1)
            let settings = try await ledger.durabilitySettings()
            #expect(settings.journalMode == "wal" && settings.synchronous == 2, "WAL, synchronous = FULL")
            try await ledger.record([Self.opened(7)])
            try await ledger.record([.offerMade(ticket: TicketID(stamp: 7), expert: Self.aino, at: Self.at(30))])
            try await ledger.record([
                .offerAnswered(ticket: TicketID(stamp: 7), expert: Self.aino, answer: .accepted, at: Self.at(34)),
                .sessionStarted(session: 1, ticket: TicketID(stamp: 7), expert: Self.aino, answeredAt: Self.at(34)),
            ])
            try await ledger.record([
                .sessionEnded(
                    session: 1, outcome: LedgerOutcome(.completed(.customerEnded)), at: Self.at(600), relay: stats),
                .ticketClosed(
                    ticket: TicketID(stamp: 7), outcome: LedgerOutcome(.completed(.customerEnded)), at: Self.at(600)),
                .feedback(session: 1, score: 5, at: Self.at(620)),
            ])
        }
        // A new ledger on the same file: a second run, nothing to recover, the session as recorded.
        let reopened = try SQLiteLedger(path: path, now: Self.at(1_000))
        #expect(reopened.run == 2)
        #expect(reopened.recovered == .init(tickets: 0, offers: 0, sessions: 0))
        let sessions = try await reopened.sessions()
        try #require(sessions.count == 1)
        let session = sessions[0]
        #expect(session.run == 1 && session.id == 1 && session.ticket == 7)
        #expect(session.servicePoint == "mikkeli" && session.agency == "kela" && session.language == "sv")
        #expect(session.service == "asumistuki" && session.expert == "kela-aino")
        #expect(session.requestedAt == Self.at(7) && session.matchedAt == Self.at(30))
        #expect(session.answeredAt == Self.at(34) && session.endedAt == Self.at(600))
        #expect(session.outcome == "completed" && session.reason == "customer-ended")
        #expect(session.relay == stats && session.feedback == 5)
        #expect(try await reopened.offerAnswers(run: 1, ticket: 7) == ["accepted"])
    }

    /// A run that stopped without closing its records (as after kill -9): the next start closes them as
    /// interrupted, and leaves closed ones alone.
    @Test func recordsLeftOpenAreClosedAsInterruptedAtTheNextStart() async throws {
        let path = try Self.temporaryPath()
        do {
            let ledger = try SQLiteLedger(path: path, now: Self.at(0))
            try await ledger.record([Self.opened(1), Self.opened(2), Self.opened(3)])
            try await ledger.record([
                .ticketClosed(
                    ticket: TicketID(stamp: 1), outcome: LedgerOutcome(.cancelled(.customer)), at: Self.at(5)),
                .offerMade(ticket: TicketID(stamp: 2), expert: Self.aino, at: Self.at(6)),
                .offerMade(ticket: TicketID(stamp: 3), expert: Self.aino, at: Self.at(7)),
                .offerAnswered(ticket: TicketID(stamp: 3), expert: Self.aino, answer: .accepted, at: Self.at(8)),
                .sessionStarted(session: 1, ticket: TicketID(stamp: 3), expert: Self.aino, answeredAt: Self.at(8)),
            ])
        }
        let next = try SQLiteLedger(path: path, now: Self.at(100))
        #expect(next.recovered == .init(tickets: 2, offers: 1, sessions: 1))
        let tickets = try await next.tickets()
        #expect(tickets.map(\.outcome) == ["cancelled", "interrupted", "interrupted"])
        #expect(tickets.map(\.reason) == ["customer", "restart", "restart"])
        #expect(tickets[1].closedAt == Self.at(100))
        let session = try #require(try await next.sessions().first)
        #expect(session.outcome == "interrupted" && session.endedAt == Self.at(100) && session.relay == nil)
        #expect(try await next.offerAnswers(run: 1, ticket: 2) == ["interrupted"])
        // The new run numbers its tickets from 1 again without colliding with the old ones.
        try await next.record([Self.opened(1)])
        #expect(try await next.tickets().count == 4)
    }

    @Test func concurrentCallersShareTransactions() async throws {
        let ledger = try SQLiteLedger(path: try Self.temporaryPath(), now: Self.at(0))
        let callers = 200
        try await withThrowingTaskGroup(of: Void.self) { group in
            for stamp in 1...UInt64(callers) {
                group.addTask { try await ledger.record([Self.opened(stamp)]) }
            }
            try await group.waitForAll()
        }
        #expect(try await ledger.tickets().count == callers, "every acknowledged record is there")
        let commits = await ledger.commits
        #expect(commits < callers, "\(commits) transactions for \(callers) callers")
    }

    @Test func aBadEventFailsItsCallerOnly() async throws {
        let ledger = try SQLiteLedger(path: try Self.temporaryPath(), now: Self.at(0))
        try await ledger.record([Self.opened(1)])
        // Two callers at once (so usually in one transaction): the bad one fails alone.
        let good = Task { try await ledger.record([Self.opened(2)]) }
        let bad = Task {
            try await ledger.record([
                Self.opened(3), .ticketClosed(ticket: TicketID(stamp: 99), outcome: .interrupted, at: Self.at(1)),
            ])
        }
        try await good.value
        await #expect(throws: LedgerError(.noSuchOpenRecord("ticket t-99"))) { try await bad.value }
        #expect(try await ledger.tickets().map(\.stamp) == [1, 2], "the failed call's ticket 3 was not written")

        await #expect(throws: LedgerError(.duplicate("ticket t-1"))) { try await ledger.record([Self.opened(1)]) }
        await #expect(throws: LedgerError(.noSuchOpenRecord("session 5"))) {
            try await ledger.record([.feedback(session: 5, score: 4, at: Self.at(2))])
        }
        await #expect(throws: LedgerError(.invalid("feedback score 6 is not 1 to 5"))) {
            try await ledger.record([.feedback(session: 5, score: 6, at: Self.at(2))])
        }
        try await ledger.record([
            .ticketClosed(ticket: TicketID(stamp: 1), outcome: LedgerOutcome(.expired), at: Self.at(3))
        ])
        await #expect(throws: LedgerError(.noSuchOpenRecord("ticket t-1")), "closed twice") {
            try await ledger.record([
                .ticketClosed(ticket: TicketID(stamp: 1), outcome: LedgerOutcome(.expired), at: Self.at(4))
            ])
        }
    }

    @Test func aFileFromANewerSchemaOrAMissingDirectoryIsAClearError() async throws {
        let path = try Self.temporaryPath()
        _ = try SQLiteLedger(path: path, now: Self.at(0))
        // As if a newer Luukku had migrated the file further.
        try await DatabaseQueue(path: path).write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-future')")
        }
        #expect(throws: LedgerError(.newerSchema(path: path, unknown: ["v99-future"]))) {
            _ = try SQLiteLedger(path: path)
        }
        let missing = "/nonexistent-luukku/ledger.sqlite"
        #expect {
            _ = try SQLiteLedger(path: missing)
        } throws: { error in
            guard let error = error as? LedgerError, case .cannotOpen(let path, _) = error.code else { return false }
            return path == missing
                && error.description.hasPrefix("ledger: cannot open /nonexistent-luukku/ledger.sqlite")
        }
    }

    @Test func oneDaemonAtATimeOnAFile() async throws {
        let path = try Self.temporaryPath()
        var first: SQLiteLedger? = try SQLiteLedger(path: path, now: Self.at(0))
        #expect(first?.run == 1)
        #expect {
            _ = try SQLiteLedger(path: path, now: Self.at(1))
        } throws: { error in
            (error as? LedgerError)?.description.contains("another process has it open") == true
        }
        first = nil  // releases the lock
        let second = try SQLiteLedger(path: path, now: Self.at(2))
        #expect(second.run == 2)
    }

    @Test func aSessionCannotStartOnAClosedTicket() async throws {
        let ledger = try SQLiteLedger(path: try Self.temporaryPath(), now: Self.at(0))
        try await ledger.record([
            Self.opened(4), .ticketClosed(ticket: TicketID(stamp: 4), outcome: LedgerOutcome(.expired), at: Self.at(9)),
        ])
        await #expect(throws: LedgerError(.noSuchOpenRecord("ticket t-4"))) {
            try await ledger.record([
                .sessionStarted(session: 1, ticket: TicketID(stamp: 4), expert: Self.aino, answeredAt: Self.at(10))
            ])
        }
        await #expect(throws: LedgerError(.noSuchOpenRecord("ticket t-4"))) {
            try await ledger.record([.offerMade(ticket: TicketID(stamp: 4), expert: Self.aino, at: Self.at(10))])
        }
    }
}

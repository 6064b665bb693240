import Foundation
import LuukkuCore
import Testing

@testable import LuukkuLedger

/// The reports' periods in a time zone, and the transactions and service-level reports over a real SQLite
/// ledger with tickets that were answered, abandoned, closed by the service, still waiting, or outside the
/// period.
@Suite struct LedgerReportTests {
    static let helsinki = TimeZone(identifier: "Europe/Helsinki")!

    @Test func periodsAreCalendarMonthsAndDaysInTheZone() throws {
        let november = try #require(ReportPeriod(month: "2026-11", timeZone: Self.helsinki))
        // Helsinki is UTC+2 in November: the month starts at 22:00 UTC the day before.
        #expect(november.start == Date(timeIntervalSince1970: 1_793_484_000))  // 2026-10-31T22:00:00Z
        #expect(november.end == Date(timeIntervalSince1970: 1_796_076_000))  // 2026-11-30T22:00:00Z
        // March has the change to summer time: 31 days less one hour.
        let march = try #require(ReportPeriod(month: "2026-03", timeZone: Self.helsinki))
        #expect(march.end.timeIntervalSince(march.start) == 31 * 86_400 - 3_600)
        let day = try #require(ReportPeriod(day: "2026-11-24", timeZone: Self.helsinki))
        #expect(day.end.timeIntervalSince(day.start) == 86_400 && day.description == "2026-11-24")
        for bad in ["2026-13", "2026-1", "26-11", "2026-11-01", "abcd-ef", ""] {
            #expect(ReportPeriod(month: bad, timeZone: Self.helsinki) == nil, "\(bad)")
        }
        for bad in ["2026-02-30", "2026-11-31", "2026-11", "2026-11-24x", "2026-00-10"] {
            #expect(ReportPeriod(day: bad, timeZone: Self.helsinki) == nil, "\(bad)")
        }
    }

    static func opened(_ stamp: UInt64, _ point: String, _ language: String, at: Date) -> LedgerEvent {
        .ticketOpened(
            .init(
                ticket: TicketID(stamp: stamp), servicePoint: ServicePointID(point)!, agency: AgencyID("kela")!,
                language: LanguageCode(language)!, service: nil, requestedAt: at))
    }

    static func answered(_ stamp: UInt64, at: Date) -> [LedgerEvent] {
        let aino = ExpertID("kela-aino")!
        return [
            .offerMade(ticket: TicketID(stamp: stamp), expert: aino, at: at),
            .offerAnswered(ticket: TicketID(stamp: stamp), expert: aino, answer: .accepted, at: at),
            .sessionStarted(session: stamp, ticket: TicketID(stamp: stamp), expert: aino, answeredAt: at),
        ]
    }

    static func ended(_ stamp: UInt64, at: Date) -> [LedgerEvent] {
        let outcome = LedgerOutcome(.completed(.customerEnded))
        let stats = LedgerEvent.RelayStats(
            packetsToExpert: 1, packetsToTerminal: 1, lostFromTerminal: 0, lostFromExpert: 0,
            jitterFromTerminalMicroseconds: 0, jitterFromExpertMicroseconds: 0)
        return [
            .sessionEnded(session: stamp, outcome: outcome, at: at, relay: stats),
            .ticketClosed(ticket: TicketID(stamp: stamp), outcome: outcome, at: at),
        ]
    }

    @Test func transactionsAndServiceLevelCountWhatTheLedgerHolds() async throws {
        let day = try #require(ReportPeriod(day: "2026-11-24", timeZone: Self.helsinki))
        let base = day.start.addingTimeInterval(10 * 3_600)
        func t(_ seconds: Double) -> Date { base.addingTimeInterval(seconds) }
        let path = try LedgerTests.temporaryPath()
        var ledger: SQLiteLedger! = try SQLiteLedger(path: path, now: t(-86_400))
        // 1 and 2: answered after 30 s and 90 s, 300 s sessions. 3: the customer left. 4 (sv): the queues
        // closed. 5: still waiting. 6: asked the day before, answered this day, still running. 7: December.
        try await ledger.record([Self.opened(6, "mikkeli", "fi", at: day.start.addingTimeInterval(-100))])
        try await ledger.record(Self.answered(6, at: day.start.addingTimeInterval(50)))
        try await ledger.record([Self.opened(1, "mikkeli", "fi", at: t(0))] + Self.answered(1, at: t(30)))
        try await ledger.record([Self.opened(2, "parainen", "fi", at: t(100))] + Self.answered(2, at: t(190)))
        try await ledger.record([
            Self.opened(3, "parainen", "fi", at: t(200)),
            .ticketClosed(ticket: TicketID(stamp: 3), outcome: LedgerOutcome(.cancelled(.customer)), at: t(260)),
            Self.opened(4, "parainen", "sv", at: t(300)),
            .ticketClosed(ticket: TicketID(stamp: 4), outcome: LedgerOutcome(.cancelled(.queueClosed)), at: t(310)),
            Self.opened(5, "mikkeli", "fi", at: t(400)),
        ])
        try await ledger.record(Self.ended(1, at: t(330)) + Self.ended(2, at: t(490)))
        let december = try #require(ReportPeriod(month: "2026-12", timeZone: Self.helsinki)).start
        try await ledger.record([Self.opened(7, "mikkeli", "fi", at: december)] + Self.answered(7, at: december))

        let november = try #require(ReportPeriod(month: "2026-11", timeZone: Self.helsinki))
        let transactions = try await ledger.transactions(in: november)
        #expect(
            transactions == [
                TransactionRow(
                    servicePoint: "mikkeli", agency: "kela", language: "fi", transactions: 2, completed: 1,
                    interrupted: 0, running: 1, handlingSeconds: 300),
                TransactionRow(
                    servicePoint: "parainen", agency: "kela", language: "fi", transactions: 1, completed: 1,
                    interrupted: 0, running: 0, handlingSeconds: 300),
            ])

        let levels = try await ledger.serviceLevel(in: day, target: .seconds(60))
        #expect(
            levels == [
                ServiceLevelRow(
                    agency: "kela", language: "fi", tickets: 4, answered: 2, answeredWithinTarget: 1, abandoned: 1,
                    closedByService: 0, waiting: 1, serviceLevelPercent: 33.3, abandonmentPercent: 33.3,
                    averageWaitSeconds: 60, p90WaitSeconds: 90, averageHandlingSeconds: 300),
                ServiceLevelRow(
                    agency: "kela", language: "sv", tickets: 1, answered: 0, answeredWithinTarget: 0, abandoned: 0,
                    closedByService: 1, waiting: 0, serviceLevelPercent: nil, abandonmentPercent: nil,
                    averageWaitSeconds: nil, p90WaitSeconds: nil, averageHandlingSeconds: nil),
            ])
        // A longer target counts the 90 s answer in.
        #expect(try await ledger.serviceLevel(in: day, target: .seconds(90)).first?.serviceLevelPercent == 66.7)
        // A restart closes the running session as interrupted, an hour later: counted as a transaction, but its
        // "end" is the restart, so it adds nothing to the handling time.
        ledger = nil  // the file is locked while a ledger has it open
        let restarted = try SQLiteLedger(path: path, now: t(3_600))
        #expect(restarted.recovered.sessions == 2)  // 6, and 7 in December
        #expect(
            try await restarted.transactions(in: november).first
                == TransactionRow(
                    servicePoint: "mikkeli", agency: "kela", language: "fi", transactions: 2, completed: 1,
                    interrupted: 1, running: 0, handlingSeconds: 300))
    }
}

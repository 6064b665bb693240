import Foundation
import GRDB

/// A calendar month or day in a time zone, as the reports count them (docs/operations.md, "Reports"): the
/// compensation paid to a service point is per transaction in a Finnish calendar month, so the month is
/// taken in the configured zone (Europe/Helsinki by default), not in UTC.
public struct ReportPeriod: Hashable, Sendable, CustomStringConvertible {
    /// `2026-11` or `2026-11-24`, as the operator wrote it.
    public let name: String
    /// The first instant in the period, and the first instant after it.
    public let start: Date
    public let end: Date

    /// A month, `YYYY-MM`, in `timeZone`; nil for anything else.
    public init?(month text: String, timeZone: TimeZone) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 4, parts[1].count == 2, let year = Int(parts[0]),
            let month = Int(parts[1]), (1...12).contains(month)
        else { return nil }
        self.init(name: text, year: year, month: month, day: nil, timeZone: timeZone)
    }

    /// A day, `YYYY-MM-DD`, in `timeZone`; nil for anything else or a day the month does not have.
    public init?(day text: String, timeZone: TimeZone) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]), (1...12).contains(month),
            (1...31).contains(day)
        else { return nil }
        self.init(name: text, year: year, month: month, day: day, timeZone: timeZone)
    }

    private init?(name: String, year: Int, month: Int, day: Int?, timeZone: TimeZone) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let components = DateComponents(year: year, month: month, day: day ?? 1)
        guard (1970...9999).contains(year), let start = calendar.date(from: components),
            calendar.component(.day, from: start) == (day ?? 1),
            let end = calendar.date(byAdding: day == nil ? .month : .day, value: 1, to: start)
        else { return nil }
        self.name = name
        self.start = start
        self.end = end
    }

    public var description: String { name }
}

/// One line of the transactions report: the sessions answered for one agency at one service point in one
/// language during the period. Every answered session is a transaction, however it ended.
public struct TransactionRow: Codable, Hashable, Sendable {
    public let servicePoint: String
    public let agency: String
    public let language: String
    /// Sessions answered in the period.
    public let transactions: Int
    /// Of those: ended normally, ended by a restart of the daemon (`interrupted`), still running.
    public let completed: Int
    public let interrupted: Int
    public let running: Int
    /// Time in sessions that ended normally, from answer to end, in whole seconds. Interrupted sessions are left
    /// out: the ledger closes them at the next start, so their end time would count the outage.
    public let handlingSeconds: Int
}

/// One line of the service-level report: the tickets requested in one queue (agency, language) during the
/// period, and how they went.
public struct ServiceLevelRow: Codable, Hashable, Sendable {
    public let agency: String
    public let language: String
    /// Tickets requested in the period.
    public let tickets: Int
    /// Answered by an expert (a session started), and answered within the target wait.
    public let answered: Int
    public let answeredWithinTarget: Int
    /// Left by the customer before an answer: cancelled at the terminal or connection lost.
    public let abandoned: Int
    /// Closed by the service without an answer: queues closed (drain, stop), operator, a restart.
    public let closedByService: Int
    /// Still waiting when the report was made.
    public let waiting: Int
    /// `answeredWithinTarget / (answered + abandoned)`, in percent; nil with no such tickets.
    public let serviceLevelPercent: Double?
    /// `abandoned / (answered + abandoned)`, in percent; nil with no such tickets.
    public let abandonmentPercent: Double?
    /// Wait from request to answer of the answered tickets: mean and 90th percentile (nearest rank).
    public let averageWaitSeconds: Double?
    public let p90WaitSeconds: Double?
    /// Answer to end of the sessions that ended normally (interrupted ones are left out, as in transactions).
    public let averageHandlingSeconds: Double?
}

/// The reports' queries, apart from ``Ledger`` so that the status socket needs only these (a PostgreSQL ledger
/// would answer them with the same SQL).
public protocol LedgerReports: Sendable {
    func transactions(in period: ReportPeriod) async throws(LedgerError) -> [TransactionRow]
    func serviceLevel(in period: ReportPeriod, target: Duration) async throws(LedgerError) -> [ServiceLevelRow]
}

extension SQLiteLedger: LedgerReports {
    /// Sessions answered in `period`, per service point, agency and language, in that order.
    public func transactions(in period: ReportPeriod) async throws(LedgerError) -> [TransactionRow] {
        let bounds: StatementArguments = [period.start.timeIntervalSince1970, period.end.timeIntervalSince1970]
        return try await read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT service_point, agency, language, COUNT(*) AS transactions,
                        SUM(ended_at IS NOT NULL AND outcome = 'completed') AS completed,
                        SUM(ended_at IS NOT NULL AND outcome = 'interrupted') AS interrupted,
                        SUM(ended_at IS NULL) AS running,
                        COALESCE(SUM(CASE WHEN outcome = 'completed' THEN ended_at - answered_at END), 0) AS handling
                    FROM sessions WHERE answered_at >= ? AND answered_at < ?
                    GROUP BY service_point, agency, language
                    ORDER BY service_point, agency, language
                    """, arguments: bounds
            ).map { row in
                TransactionRow(
                    servicePoint: row["service_point"], agency: row["agency"], language: row["language"],
                    transactions: row["transactions"], completed: row["completed"], interrupted: row["interrupted"],
                    running: row["running"], handlingSeconds: Int((row["handling"] as Double).rounded()))
            }
        }
    }

    /// Tickets requested in `period`, per queue (agency, language), with `target` as the service-level wait.
    public func serviceLevel(in period: ReportPeriod, target: Duration) async throws(LedgerError) -> [ServiceLevelRow] {
        let bounds: StatementArguments = [period.start.timeIntervalSince1970, period.end.timeIntervalSince1970]
        let rows = try await read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT t.agency, t.language, t.requested_at, t.outcome, t.reason, s.answered_at,
                        CASE WHEN s.outcome = 'completed' THEN s.ended_at END AS ended_at
                    FROM tickets t LEFT JOIN sessions s ON s.run = t.run AND s.stamp = t.stamp
                    WHERE t.requested_at >= ? AND t.requested_at < ?
                    ORDER BY t.agency, t.language
                    """, arguments: bounds
            ).map { row in
                ServiceLevelTicket(
                    agency: row["agency"], language: row["language"], requestedAt: row["requested_at"],
                    outcome: row["outcome"], reason: row["reason"], answeredAt: row["answered_at"],
                    endedAt: row["ended_at"])
            }
        }
        let targetSeconds = Double(target.components.seconds)
        var queues: [String: [ServiceLevelTicket]] = [:]
        var order: [String] = []
        for ticket in rows {
            let key = ticket.agency + "\u{0}" + ticket.language
            if queues[key] == nil { order.append(key) }
            queues[key, default: []].append(ticket)
        }
        return order.map { ServiceLevelTicket.row(queues[$0] ?? [], targetSeconds: targetSeconds) }
    }
}

/// A ticket as the service-level report reads it: times in seconds since 1970.
struct ServiceLevelTicket: Sendable {
    let agency: String
    let language: String
    let requestedAt: Double
    let outcome: String?
    let reason: String?
    let answeredAt: Double?
    let endedAt: Double?

    /// The customer left before an answer.
    var abandoned: Bool {
        answeredAt == nil && outcome == "cancelled" && (reason == "customer" || reason == "connection-lost")
    }

    /// One queue's line from its tickets (all of the same agency and language, at least one).
    static func row(_ tickets: [Self], targetSeconds: Double) -> ServiceLevelRow {
        let waits = tickets.compactMap { ticket in ticket.answeredAt.map { $0 - ticket.requestedAt } }.sorted()
        let handling = tickets.compactMap { ticket -> Double? in
            guard let answered = ticket.answeredAt, let ended = ticket.endedAt else { return nil }
            return ended - answered
        }
        let answered = waits.count
        let abandoned = tickets.filter(\.abandoned).count
        let waiting = tickets.filter { $0.answeredAt == nil && $0.outcome == nil }.count
        let within = waits.filter { $0 <= targetSeconds }.count
        let handled = answered + abandoned
        func percent(_ part: Int) -> Double? {
            handled == 0 ? nil : (Double(part) * 1_000 / Double(handled)).rounded() / 10
        }
        func mean(_ values: [Double]) -> Double? {
            values.isEmpty ? nil : (values.reduce(0, +) / Double(values.count) * 10).rounded() / 10
        }
        // Nearest rank: the smallest wait that at least 90 % of the answered waits are at or under.
        let p90 = waits.isEmpty ? nil : (waits[Int((Double(waits.count) * 0.9).rounded(.up)) - 1] * 10).rounded() / 10
        return ServiceLevelRow(
            agency: tickets.first?.agency ?? "", language: tickets.first?.language ?? "", tickets: tickets.count,
            answered: answered, answeredWithinTarget: within, abandoned: abandoned,
            closedByService: tickets.count - answered - abandoned - waiting, waiting: waiting,
            serviceLevelPercent: percent(within), abandonmentPercent: percent(abandoned),
            averageWaitSeconds: mean(waits), p90WaitSeconds: p90, averageHandlingSeconds: mean(handling))
    }
}

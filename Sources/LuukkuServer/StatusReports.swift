import Foundation
import LuukkuCore
import LuukkuLedger

/// The status socket's `report` commands (docs/operations.md, "Reports"): the ledger's report queries for a
/// month or a day in the configured time zone, as a table, CSV or JSON.
enum StatusReports {
    static func transactions(_ month: String, _ format: StatusCommand.Format, _ context: StatusContext) async
        -> String
    {
        guard let period = ReportPeriod(month: month, timeZone: context.timeZone) else {
            return "error: '\(month)' is not a month (YYYY-MM)\n"
        }
        let rows: [TransactionRow]
        do {
            rows = try await context.reports.transactions(in: period)
        } catch {
            return "error: the ledger could not be read: \(error)\n"
        }
        if format == .json {
            return StatusSocket.json(
                TransactionReport(
                    month: period.name, timeZone: context.timeZone.identifier, rows: rows,
                    transactions: rows.reduce(0) { $0 + $1.transactions }))
        }
        var table = rows.map {
            [
                $0.servicePoint, $0.agency, $0.language, "\($0.transactions)", "\($0.completed)", "\($0.interrupted)",
                "\($0.running)", "\($0.handlingSeconds)",
            ]
        }
        if format == .text {
            table.append(["total", "", "", "\(rows.reduce(0) { $0 + $1.transactions })", "", "", "", ""])
        }
        return StatusTable.render(
            format,
            [
                "service_point", "agency", "language", "transactions", "completed", "interrupted", "running",
                "handling_s",
            ], table)
    }

    static func serviceLevel(_ day: String, _ format: StatusCommand.Format, _ context: StatusContext) async
        -> String
    {
        guard let period = ReportPeriod(day: day, timeZone: context.timeZone) else {
            return "error: '\(day)' is not a day (YYYY-MM-DD)\n"
        }
        let rows: [ServiceLevelRow]
        do {
            rows = try await context.reports.serviceLevel(in: period, target: context.serviceLevelTarget)
        } catch {
            return "error: the ledger could not be read: \(error)\n"
        }
        let target = Int(context.serviceLevelTarget.components.seconds)
        if format == .json {
            return StatusSocket.json(
                ServiceLevelReport(
                    day: period.name, timeZone: context.timeZone.identifier, targetSeconds: target, rows: rows))
        }
        func figure(_ value: Double?) -> String { value.map { String(format: "%.1f", $0) } ?? "-" }
        return StatusTable.render(
            format,
            [
                "agency", "language", "tickets", "answered", "within_\(target)s", "abandoned", "closed_by_service",
                "waiting", "service_level_pct", "abandoned_pct", "avg_wait_s", "p90_wait_s", "avg_handling_s",
            ],
            rows.map {
                [
                    $0.agency, $0.language, "\($0.tickets)", "\($0.answered)", "\($0.answeredWithinTarget)",
                    "\($0.abandoned)", "\($0.closedByService)", "\($0.waiting)", figure($0.serviceLevelPercent),
                    figure($0.abandonmentPercent), figure($0.averageWaitSeconds), figure($0.p90WaitSeconds),
                    figure($0.averageHandlingSeconds),
                ]
            })
    }

    /// The JSON of `report transactions`: the period, its zone, the rows and their total.
    struct TransactionReport: Encodable {
        let month: String
        let timeZone: String
        let rows: [TransactionRow]
        let transactions: Int
    }

    /// The JSON of `report service-level`.
    struct ServiceLevelReport: Encodable {
        let day: String
        let timeZone: String
        let targetSeconds: Int
        let rows: [ServiceLevelRow]
    }
}

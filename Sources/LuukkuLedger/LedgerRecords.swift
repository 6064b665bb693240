import Foundation
import GRDB

/// A session as the ledger holds it (what reports and tests read back).
public struct LedgerSession: Hashable, Sendable {
    public let run: Int64
    public let id: UInt64
    public let ticket: UInt64
    public let servicePoint: String
    public let agency: String
    public let language: String
    public let service: String?
    public let expert: String
    public let requestedAt: Date
    public let matchedAt: Date?
    public let answeredAt: Date
    public let endedAt: Date?
    public let outcome: String?
    public let reason: String?
    public let relay: LedgerEvent.RelayStats?
    public let feedback: Int?
    public let feedbackComment: String?
}

/// A ticket as the ledger holds it.
public struct LedgerTicket: Hashable, Sendable {
    public let run: Int64
    public let stamp: UInt64
    public let servicePoint: String
    public let agency: String
    public let language: String
    public let requestedAt: Date
    public let closedAt: Date?
    public let outcome: String?
    public let reason: String?
}

extension SQLiteLedger {
    /// A read on a reader connection, its failure as a ledger error.
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(LedgerError) -> T {
        do {
            return try await pool.read(body)
        } catch {
            throw LedgerError(.database(SQLiteLedger.reason(error)))
        }
    }

    /// SQLite's journal mode and synchronous level of the ledger's writer ("wal" and 2 = FULL).
    public func durabilitySettings() async throws(LedgerError) -> (journalMode: String, synchronous: Int) {
        // The writer's connection: the one whose commits record() waits for.
        do {
            return try await pool.writeWithoutTransaction { db in
                (
                    try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "",
                    try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1
                )
            }
        } catch {
            throw LedgerError(.database(SQLiteLedger.reason(error)))
        }
    }

    /// Every session, oldest first, with its feedback.
    public func sessions() async throws(LedgerError) -> [LedgerSession] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT s.*, f.score, f.comment FROM sessions s
                    LEFT JOIN feedback f ON f.run = s.run AND f.session = s.id
                    ORDER BY s.run, s.id
                    """
            ).map { row in
                let ended: Double? = row["ended_at"]
                let packets: Int64? = row["packets_to_expert"]
                return LedgerSession(
                    run: row["run"], id: UInt64(bitPattern: row["id"]), ticket: UInt64(bitPattern: row["stamp"]),
                    servicePoint: row["service_point"], agency: row["agency"], language: row["language"],
                    service: row["service_code"], expert: row["expert"],
                    requestedAt: Date(timeIntervalSince1970: row["requested_at"]),
                    matchedAt: (row["matched_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                    answeredAt: Date(timeIntervalSince1970: row["answered_at"]),
                    endedAt: ended.map(Date.init(timeIntervalSince1970:)), outcome: row["outcome"],
                    reason: row["reason"],
                    relay: packets.map { _ in
                        LedgerEvent.RelayStats(
                            packetsToExpert: UInt64(row["packets_to_expert"] as Int64),
                            packetsToTerminal: UInt64(row["packets_to_terminal"] as Int64),
                            lostFromTerminal: row["lost_from_terminal"], lostFromExpert: row["lost_from_expert"],
                            jitterFromTerminalMicroseconds: UInt64(row["jitter_from_terminal_us"] as Int64),
                            jitterFromExpertMicroseconds: UInt64(row["jitter_from_expert_us"] as Int64))
                    },
                    feedback: row["score"], feedbackComment: row["comment"])
            }
        }
    }

    /// Every ticket, oldest first.
    public func tickets() async throws(LedgerError) -> [LedgerTicket] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM tickets ORDER BY run, stamp").map { row in
                LedgerTicket(
                    run: row["run"], stamp: UInt64(bitPattern: row["stamp"]), servicePoint: row["service_point"],
                    agency: row["agency"], language: row["language"],
                    requestedAt: Date(timeIntervalSince1970: row["requested_at"]),
                    closedAt: (row["closed_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                    outcome: row["outcome"], reason: row["reason"])
            }
        }
    }

    /// Answers of the offers of one ticket, in order.
    public func offerAnswers(run: Int64, ticket: UInt64) async throws(LedgerError) -> [String?] {
        try await read { db in
            try String?.fetchAll(
                db, sql: "SELECT answer FROM offers WHERE run = ? AND stamp = ? ORDER BY id",
                arguments: [run, Int64(bitPattern: ticket)])
        }
    }
}

import Foundation
import GRDB
import LuukkuCore

/// The SQL of each event. Updates only touch open records, so an event for a closed or unknown record is an
/// error for its caller, never a silent no-op.
enum LedgerWriter {
    static func apply(_ event: LedgerEvent, run: Int64, db: Database) throws {
        switch event {
        case .ticketOpened(let ticket):
            do {
                try db.execute(
                    sql: """
                        INSERT INTO tickets (run, stamp, service_point, agency, language, service_code, requested_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        run, Int64(bitPattern: ticket.ticket.stamp), ticket.servicePoint.rawValue,
                        ticket.agency.rawValue, ticket.language.rawValue, ticket.service?.rawValue,
                        ticket.requestedAt.timeIntervalSince1970,
                    ])
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                throw LedgerError(.duplicate("ticket \(ticket.ticket)"))
            }
        case .ticketClosed(let ticket, let outcome, let at):
            try db.execute(
                sql: """
                    UPDATE tickets SET closed_at = ?, outcome = ?, reason = ?
                    WHERE run = ? AND stamp = ? AND closed_at IS NULL
                    """,
                arguments: [at.timeIntervalSince1970, outcome.outcome, outcome.reason, run, stamp(ticket)])
            guard db.changesCount == 1 else { throw LedgerError(.noSuchOpenRecord("ticket \(ticket)")) }
        case .offerMade(let ticket, let expert, let at):
            guard try isOpen(ticket, run: run, db: db) else { throw LedgerError(.noSuchOpenRecord("ticket \(ticket)")) }
            try db.execute(
                sql: "INSERT INTO offers (run, stamp, expert, offered_at) VALUES (?, ?, ?, ?)",
                arguments: [run, stamp(ticket), expert.rawValue, at.timeIntervalSince1970])
        case .offerAnswered(let ticket, let expert, let answer, let at):
            try db.execute(
                sql: """
                    UPDATE offers SET answer = ?, answered_at = ?
                    WHERE id = (SELECT id FROM offers WHERE run = ? AND stamp = ? AND expert = ? AND answer IS NULL
                                ORDER BY id DESC LIMIT 1)
                    """,
                arguments: [answer.rawValue, at.timeIntervalSince1970, run, stamp(ticket), expert.rawValue])
            guard db.changesCount == 1 else {
                throw LedgerError(.noSuchOpenRecord("offer of ticket \(ticket) to \(expert)"))
            }
        case .sessionStarted(let session, let ticket, let expert, let answeredAt):
            guard try isOpen(ticket, run: run, db: db) else { throw LedgerError(.noSuchOpenRecord("ticket \(ticket)")) }
            do {
                try db.execute(
                    sql: """
                        INSERT INTO sessions (run, id, stamp, service_point, agency, language, service_code, expert,
                                              requested_at, matched_at, answered_at)
                        SELECT run, ?, stamp, service_point, agency, language, service_code, ?, requested_at,
                               (SELECT offered_at FROM offers o WHERE o.run = t.run AND o.stamp = t.stamp
                                AND o.expert = ? ORDER BY o.id DESC LIMIT 1),
                               ?
                        FROM tickets t WHERE run = ? AND stamp = ?
                        """,
                    arguments: [
                        Int64(bitPattern: session), expert.rawValue, expert.rawValue,
                        answeredAt.timeIntervalSince1970, run, stamp(ticket),
                    ])
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                throw LedgerError(.duplicate("session \(session)"))
            }
            guard db.changesCount == 1 else { throw LedgerError(.noSuchOpenRecord("ticket \(ticket)")) }
        case .sessionEnded(let session, let outcome, let at, let relay):
            try db.execute(
                sql: """
                    UPDATE sessions SET ended_at = ?, outcome = ?, reason = ?, packets_to_expert = ?,
                        packets_to_terminal = ?, lost_from_terminal = ?, lost_from_expert = ?,
                        jitter_from_terminal_us = ?, jitter_from_expert_us = ?
                    WHERE run = ? AND id = ? AND ended_at IS NULL
                    """,
                arguments: [
                    at.timeIntervalSince1970, outcome.outcome, outcome.reason,
                    Int64(clamping: relay.packetsToExpert), Int64(clamping: relay.packetsToTerminal),
                    relay.lostFromTerminal, relay.lostFromExpert, Int64(clamping: relay.jitterFromTerminalMicroseconds),
                    Int64(clamping: relay.jitterFromExpertMicroseconds), run, Int64(bitPattern: session),
                ])
            guard db.changesCount == 1 else { throw LedgerError(.noSuchOpenRecord("session \(session)")) }
        case .feedback(let session, let score, let comment, let at):
            guard (1...5).contains(score) else { throw LedgerError(.invalid("feedback score \(score) is not 1 to 5")) }
            let exists =
                try Int.fetchOne(
                    db, sql: "SELECT count(*) FROM sessions WHERE run = ? AND id = ?",
                    arguments: [run, Int64(bitPattern: session)]) ?? 0
            guard exists == 1 else { throw LedgerError(.noSuchOpenRecord("session \(session)")) }
            do {
                try db.execute(
                    sql: "INSERT INTO feedback (run, session, score, comment, given_at) VALUES (?, ?, ?, ?, ?)",
                    arguments: [
                        run, Int64(bitPattern: session), score, comment.isEmpty ? nil : comment,
                        at.timeIntervalSince1970,
                    ])
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                throw LedgerError(.duplicate("feedback for session \(session)"))
            }
        }
    }

    static func stamp(_ ticket: TicketID) -> Int64 { Int64(bitPattern: ticket.stamp) }

    static func isOpen(_ ticket: TicketID, run: Int64, db: Database) throws -> Bool {
        try Bool.fetchOne(
            db, sql: "SELECT 1 FROM tickets WHERE run = ? AND stamp = ? AND closed_at IS NULL",
            arguments: [run, stamp(ticket)]) ?? false
    }
}

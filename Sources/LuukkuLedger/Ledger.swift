import Foundation
import LuukkuCore

/// The durable record of the broker's work (docs/ledger.md). ``SQLiteLedger`` is the default; the protocol
/// keeps another store (PostgreSQL) possible.
public protocol Ledger: Sendable {
    /// This run of the daemon; tickets and sessions are keyed by (run, number).
    var run: Int64 { get }
    /// The highest session id and ticket stamp recorded in any earlier run: this run numbers after them, so
    /// `s-7` and `t-1042` name one session and one ticket in the whole ledger, across restarts.
    var issued: IssuedNumbers { get }
    /// Writes the events in one transaction, together with whatever other callers are writing at the same
    /// time (group commit), and returns when they are on disk. Events of one call are all written or none.
    /// - Throws: ``LedgerError`` for this call's events only; other callers' events are not affected.
    func record(_ events: [LedgerEvent]) async throws(LedgerError)
}

/// The highest numbers a ledger holds (0 when empty).
public struct IssuedNumbers: Hashable, Sendable {
    public var session: UInt64
    public var ticket: UInt64

    public init(session: UInt64, ticket: UInt64) {
        self.session = session
        self.ticket = ticket
    }
}

/// Why the ledger refused events or could not open. No personal data is ever in the text (records hold ids,
/// times and outcomes only).
public struct LedgerError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: Hashable, Sendable {
        /// The database file could not be opened or created.
        case cannotOpen(path: String, reason: String)
        /// The file was written by a newer Luukku (migrations this build does not know).
        case newerSchema(path: String, unknown: [String])
        /// An event names a ticket, offer or session that does not exist or is already closed.
        case noSuchOpenRecord(String)
        /// An event would create a record that exists already.
        case duplicate(String)
        /// A value out of range (e.g. a feedback score).
        case invalid(String)
        /// SQLite failed (disk full, I/O error); the events were not written.
        case database(String)
    }

    public let code: Code
    public init(_ code: Code) { self.code = code }

    public var description: String {
        switch code {
        case .cannotOpen(let path, let reason): "ledger: cannot open \(path): \(reason)"
        case .newerSchema(let path, let unknown):
            "ledger: \(path) was written by a newer Luukku (unknown migrations: \(unknown.joined(separator: ", ")))"
        case .noSuchOpenRecord(let what): "ledger: no open \(what)"
        case .duplicate(let what): "ledger: \(what) is recorded already"
        case .invalid(let what): "ledger: \(what)"
        case .database(let what): "ledger: database error: \(what)"
        }
    }
}

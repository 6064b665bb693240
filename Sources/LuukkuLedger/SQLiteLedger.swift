import Foundation
import GRDB
import LuukkuCore

/// The ledger in one SQLite file, in WAL mode with `synchronous = FULL` (a commit is on disk when it returns),
/// through GRDB. Schema changes are versioned migrations (``SQLiteLedger/migrator``).
///
/// Opening it starts a new run and closes every ticket, offer and session an earlier run left open as
/// `interrupted` (reason `restart`): after a crash nothing is silently dropped.
public final class SQLiteLedger: Ledger {
    public let run: Int64
    public let path: String
    /// What opening closed as interrupted.
    public let recovered: Recovered
    public let issued: IssuedNumbers
    let pool: DatabasePool
    private let committer: GroupCommitter
    /// An exclusive flock on `path + ".lock"` for the ledger's lifetime: a second daemon on the same file would
    /// otherwise close the first one's open records as interrupted.
    private let lockDescriptor: Int32

    public struct Recovered: Hashable, Sendable {
        public let tickets: Int
        public let offers: Int
        public let sessions: Int

        public init(tickets: Int, offers: Int, sessions: Int) {
            self.tickets = tickets
            self.offers = offers
            self.sessions = sessions
        }
    }

    public init(path: String, now: Date = Date()) throws(LedgerError) {
        self.path = path
        let lock = try Self.lock(path)
        var configuration = GRDB.Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            // GRDB sets synchronous = NORMAL on the writer when it turns WAL on (after prepareDatabase): FULL
            // again, so that a commit is on disk, not only in the WAL's page cache, when record() returns.
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        } catch {
            close(lock)
            throw LedgerError(.cannotOpen(path: path, reason: Self.reason(error)))
        }
        let migrator = Self.migrator
        do {
            let unknown = try pool.read { db in
                try Set(migrator.appliedIdentifiers(db)).subtracting(migrator.migrations).sorted()
            }
            guard unknown.isEmpty else { throw LedgerError(.newerSchema(path: path, unknown: unknown)) }
            try migrator.migrate(pool)
            (run, recovered, issued) = try pool.write { db in
                try db.execute(sql: "INSERT INTO runs (started_at) VALUES (?)", arguments: [now.timeIntervalSince1970])
                let run = db.lastInsertedRowID
                let at = now.timeIntervalSince1970
                let interrupted = LedgerOutcome.interrupted
                try db.execute(
                    sql: """
                        UPDATE tickets SET closed_at = ?, outcome = ?, reason = ?
                        WHERE closed_at IS NULL AND run < ?
                        """, arguments: [at, interrupted.outcome, interrupted.reason, run])
                let tickets = db.changesCount
                try db.execute(
                    sql: "UPDATE offers SET answer = ?, answered_at = ? WHERE answer IS NULL AND run < ?",
                    arguments: [LedgerEvent.OfferAnswer.interrupted.rawValue, at, run])
                let offers = db.changesCount
                try db.execute(
                    sql: "UPDATE sessions SET ended_at = ?, outcome = ?, reason = ? WHERE ended_at IS NULL AND run < ?",
                    arguments: [at, interrupted.outcome, interrupted.reason, run])
                let sessions = db.changesCount
                let issued = IssuedNumbers(
                    session: try UInt64.fetchOne(db, sql: "SELECT MAX(id) FROM sessions") ?? 0,
                    ticket: try UInt64.fetchOne(db, sql: "SELECT MAX(stamp) FROM tickets") ?? 0)
                return (run, Recovered(tickets: tickets, offers: offers, sessions: sessions), issued)
            }
        } catch let error as LedgerError {
            close(lock)
            throw error
        } catch {
            close(lock)
            throw LedgerError(.cannotOpen(path: path, reason: Self.reason(error)))
        }
        lockDescriptor = lock
        self.pool = pool
        committer = GroupCommitter(pool: pool, run: run)
    }

    /// Opens an existing ledger to read it only (luukku-load's check, after the daemon stopped): no new run,
    /// nothing closed as interrupted, no write; `record` fails. `run` is the latest run's.
    /// - Throws: ``LedgerError`` `.cannotOpen` when the file is missing or a daemon still has it open.
    public init(readingOnly path: String) throws(LedgerError) {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else {
            throw LedgerError(.cannotOpen(path: path, reason: "no such file"))
        }
        let lock = try Self.lock(path)
        var configuration = GRDB.Configuration()
        configuration.readonly = true
        do {
            let pool = try DatabasePool(path: path, configuration: configuration)
            (run, issued) = try pool.read { db in
                (
                    try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM runs") ?? 0,
                    IssuedNumbers(
                        session: try UInt64.fetchOne(db, sql: "SELECT MAX(id) FROM sessions") ?? 0,
                        ticket: try UInt64.fetchOne(db, sql: "SELECT MAX(stamp) FROM tickets") ?? 0)
                )
            }
            self.pool = pool
        } catch {
            close(lock)
            throw LedgerError(.cannotOpen(path: path, reason: Self.reason(error)))
        }
        recovered = Recovered(tickets: 0, offers: 0, sessions: 0)
        lockDescriptor = lock
        committer = GroupCommitter(pool: pool, run: run)
    }

    deinit { close(lockDescriptor) }

    /// The exclusive flock on `path + ".lock"`, or `.cannotOpen` when another process holds it.
    private static func lock(_ path: String) throws(LedgerError) -> Int32 {
        let lock = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else {
            throw LedgerError(.cannotOpen(path: path, reason: String(cString: strerror(errno))))
        }
        guard flock(lock, LOCK_EX | LOCK_NB) == 0 else {
            close(lock)
            throw LedgerError(
                .cannotOpen(
                    path: path, reason: "another process has it open (\(path).lock is locked: stop the daemon first)"))
        }
        return lock
    }

    public func record(_ events: [LedgerEvent]) async throws(LedgerError) {
        let result = await committer.submit(events)
        try result.get()
    }

    /// Transactions committed so far by this ledger's group commit (each may carry many callers' events).
    public var commits: Int { get async { await committer.commits } }

    /// The schema, one migration per version. Never edit a released migration: add the next one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE runs (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        started_at REAL NOT NULL
                    );
                    CREATE TABLE tickets (
                        run INTEGER NOT NULL REFERENCES runs(id),
                        stamp INTEGER NOT NULL,
                        service_point TEXT NOT NULL,
                        agency TEXT NOT NULL,
                        language TEXT NOT NULL,
                        service_code TEXT,
                        requested_at REAL NOT NULL,
                        closed_at REAL,
                        outcome TEXT,
                        reason TEXT,
                        PRIMARY KEY (run, stamp)
                    );
                    CREATE TABLE offers (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        run INTEGER NOT NULL,
                        stamp INTEGER NOT NULL,
                        expert TEXT NOT NULL,
                        offered_at REAL NOT NULL,
                        answer TEXT,
                        answered_at REAL,
                        FOREIGN KEY (run, stamp) REFERENCES tickets (run, stamp)
                    );
                    CREATE INDEX offers_by_ticket ON offers (run, stamp);
                    CREATE TABLE sessions (
                        run INTEGER NOT NULL,
                        id INTEGER NOT NULL,
                        stamp INTEGER NOT NULL,
                        service_point TEXT NOT NULL,
                        agency TEXT NOT NULL,
                        language TEXT NOT NULL,
                        service_code TEXT,
                        expert TEXT NOT NULL,
                        requested_at REAL NOT NULL,
                        matched_at REAL,
                        answered_at REAL NOT NULL,
                        ended_at REAL,
                        outcome TEXT,
                        reason TEXT,
                        packets_to_expert INTEGER,
                        packets_to_terminal INTEGER,
                        lost_from_terminal INTEGER,
                        lost_from_expert INTEGER,
                        jitter_from_terminal_us INTEGER,
                        jitter_from_expert_us INTEGER,
                        PRIMARY KEY (run, id),
                        FOREIGN KEY (run, stamp) REFERENCES tickets (run, stamp)
                    );
                    CREATE INDEX sessions_by_end ON sessions (ended_at);
                    CREATE INDEX sessions_by_ticket ON sessions (run, stamp);
                    CREATE TABLE feedback (
                        run INTEGER NOT NULL,
                        session INTEGER NOT NULL,
                        score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
                        given_at REAL NOT NULL,
                        PRIMARY KEY (run, session),
                        FOREIGN KEY (run, session) REFERENCES sessions (run, id)
                    );
                    """)
        }
        // v2: the customer's optional feedback comment (issue 5).
        migrator.registerMigration("v2") { db in
            try db.execute(sql: "ALTER TABLE feedback ADD COLUMN comment TEXT")
        }
        return migrator
    }

    static func reason(_ error: any Error) -> String {
        if let database = error as? DatabaseError { return database.message ?? "SQLite error \(database.resultCode)" }
        return "\(error)"
    }
}

/// Group commit: callers queue their events; one writer takes everything queued, writes it in one transaction
/// (each caller's events in a savepoint, so one caller's bad event fails only that caller), commits, and
/// answers all of them. While it writes, new callers queue for the next transaction.
actor GroupCommitter {
    let pool: DatabasePool
    let run: Int64
    private var pending: [(events: [LedgerEvent], reply: CheckedContinuation<Result<Void, LedgerError>, Never>)] = []
    private var writing = false
    private(set) var commits = 0

    init(pool: DatabasePool, run: Int64) {
        self.pool = pool
        self.run = run
    }

    func submit(_ events: [LedgerEvent]) async -> Result<Void, LedgerError> {
        await withCheckedContinuation { reply in
            pending.append((events, reply))
            if !writing {
                writing = true
                Task { await self.drain() }
            }
        }
    }

    private func drain() async {
        while !pending.isEmpty {
            let batch = pending
            pending.removeAll()
            let run = self.run
            let eventLists = batch.map(\.events)
            var results: [Result<Void, LedgerError>]
            do {
                results = try await pool.write { db in
                    eventLists.map { events -> Result<Void, LedgerError> in
                        do {
                            try db.inSavepoint {
                                for event in events { try LedgerWriter.apply(event, run: run, db: db) }
                                return .commit
                            }
                            return .success(())
                        } catch let error as LedgerError {
                            return .failure(error)
                        } catch {
                            return .failure(LedgerError(.database(SQLiteLedger.reason(error))))
                        }
                    }
                }
                commits += 1
            } catch {
                results = batch.map { _ in .failure(LedgerError(.database(SQLiteLedger.reason(error)))) }
            }
            for (item, result) in zip(batch, results) { item.reply.resume(returning: result) }
        }
        writing = false
    }
}

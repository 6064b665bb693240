import CoreMetrics
import Foundation
import LuukkuCore
import LuukkuRelay
import NIOConcurrencyHelpers

/// The daemon's metrics (docs/operations.md, "Metrics"), through swift-metrics: luukkud bootstraps it with
/// swift-prometheus and serves them on `/metrics` (``MetricsService``); without a bootstrap (unit tests) every
/// call is a no-op.
///
/// Events are counted where they happen (a TLS handshake, a session's end, a ledger commit, an answer's wait).
/// Levels (queue depth, experts by presence) and the relay's packet counters are read when Prometheus scrapes
/// (``collect(broker:)``), so the hot paths do nothing extra for them.
public final class ServerMetrics: Sendable {
    /// One daemon, one set of metrics: the broker, the outbox and the listener all count into it.
    public static let shared = ServerMetrics()

    let tlsHandshakes = Counter(label: "luukku_tls_handshakes_total")
    let tlsHandshakeFailures = Counter(label: "luukku_tls_handshake_failures_total")
    let ledgerCommit = CoreMetrics.Timer(label: "luukku_ledger_commit_seconds")
    private let sessionsActive = Gauge(label: "luukku_sessions_active")
    private let sessionsEnded: [String: Counter]
    private let packets: [RelayDirection: Counter]
    private let bytes: [RelayDirection: Counter]
    private let drops: [DropReason: Counter]
    private let authFailures = Counter(label: "luukku_srtp_auth_failures_total")
    private let latchMoves = Counter(label: "luukku_relay_latch_moves_total")
    /// Refusals for NO_COMMON_MEDIA, by who was refused (terminal, expert, session) and why (suite, codec).
    private let mediaRefusals: [String: Counter]
    /// Connections refused or closed by the front door before Welcome, by reason (``FrontDoor/Refusal``).
    private let connectionRefusals: [FrontDoor.Refusal: Counter]

    /// Counters of the relay: sessions that have ended are added here, running ones read at scrape time.
    private let relay = NIOLockedValueBox(RelayTotals())

    /// Every presence, so that each has a series (at 0 when no expert is in it).
    static let presences: [(ExpertPresence, String)] = [
        (.offline, "offline"), (.available, "available"), (.offered, "offered"), (.inSession, "in_session"),
        (.wrapUp, "wrap_up"), (.away, "away"),
    ]

    /// Histogram buckets, set on the Prometheus factory by luukkud: waits from seconds to half an hour, and
    /// commits from a fraction of a millisecond (WAL, one fsync) to seconds (a stalled disk).
    public static let waitBuckets: [Duration] = [1, 5, 10, 20, 30, 60, 120, 300, 600, 1_200, 1_800].map { .seconds($0) }
    public static let commitBuckets: [Duration] =
        [250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000].map { .microseconds($0) }

    init() {
        connectionRefusals = Dictionary(
            uniqueKeysWithValues: FrontDoor.Refusal.allCases.map {
                ($0, Counter(label: "luukku_connection_refusals_total", dimensions: [("reason", $0.rawValue)]))
            })
        mediaRefusals = Dictionary(
            uniqueKeysWithValues: ["terminal", "expert", "session"].flatMap { role in
                ["suite", "codec"].map { kind in
                    (
                        "\(role)/\(kind)",
                        Counter(label: "luukku_media_refusals_total", dimensions: [("role", role), ("reason", kind)])
                    )
                }
            })
        sessionsEnded = Dictionary(
            uniqueKeysWithValues: ["completed", "interrupted"].map {
                ($0, Counter(label: "luukku_sessions_total", dimensions: [("outcome", $0)]))
            })
        packets = Dictionary(
            uniqueKeysWithValues: RelayDirection.allCases.map {
                ($0, Counter(label: "luukku_relay_packets_total", dimensions: [("direction", $0.rawValue)]))
            })
        bytes = Dictionary(
            uniqueKeysWithValues: RelayDirection.allCases.map {
                ($0, Counter(label: "luukku_relay_bytes_total", dimensions: [("direction", $0.rawValue)]))
            })
        drops = Dictionary(
            uniqueKeysWithValues: DropReason.allCases.map {
                ($0, Counter(label: "luukku_relay_drops_total", dimensions: [("reason", Self.name($0))]))
            })
    }

    /// Makes every series exist from the start, at zero, so that dashboards and `rate()` see them.
    public func register(queues: [QueueKey]) {
        // Making a handle registers its series with the Prometheus registry; gauges start at 0 and histograms
        // empty, so nothing needs to be recorded.
        for queue in queues {
            _ = queueGauges(queue.agency.rawValue, queue.language.rawValue)
            _ = waitTimer(queue)
        }
        for (_, name) in Self.presences { _ = Gauge(label: "luukku_experts", dimensions: [("presence", name)]) }
        for counter in mediaRefusals.values { counter.increment(by: 0) }
        for counter in connectionRefusals.values { counter.increment(by: 0) }
        for stage in ["tcp", "tls", "authenticated"] {
            _ = Gauge(label: "luukku_connections", dimensions: [("stage", stage)])
        }
    }

    /// A connection refused or closed by the front door before Welcome.
    func connectionRefused(_ reason: FrontDoor.Refusal) {
        connectionRefusals[reason]?.increment()
    }

    /// Sessions the ledger closed as interrupted at start-up (the previous run stopped during them).
    public func interrupted(sessions: Int) {
        sessionsEnded["interrupted"]?.increment(by: Int64(sessions))
    }

    /// A party refused with NO_COMMON_MEDIA (`role`: terminal, expert, session; `kind`: suite or codec).
    func mediaRefused(role: String, kind: String) {
        mediaRefusals["\(role)/\(kind)"]?.increment()
    }

    /// A customer's wait, from the request to the expert's accept.
    func answered(queue: QueueKey, waited: TimeInterval) {
        waitTimer(queue).recordNanoseconds(Int64(max(0, waited) * 1_000_000_000))
    }

    /// A session ended: counted by outcome, its relay legs' final counters kept for the totals.
    func sessionEnded(outcome: String, relay snapshot: SessionSnapshot?) {
        sessionsEnded[outcome]?.increment()
        guard let snapshot else { return }
        relay.withLockedValue { $0.closed.add(snapshot) }
    }

    /// Brings the levels and the relay counters up to date; called for each scrape.
    public func collect(broker: Broker) async {
        // The ended sessions' totals first, then the running ones: a session that ends in between is then
        // missing from this scrape (and counted in the next) rather than counted twice.
        let closed = relay.withLockedValue { $0.closed }
        let snapshot = broker.statusSnapshot()
        for queue in snapshot.queues {
            let gauges = queueGauges(queue.agency, queue.language)
            gauges.depth.record(queue.waiting)
            gauges.oldestWait.record(queue.oldestWaitSeconds)
        }
        for (presence, name) in Self.presences {
            let count = snapshot.experts.filter { $0.presence == "\(presence)" }.count
            Gauge(label: "luukku_experts", dimensions: [("presence", name)]).record(count)
        }
        sessionsActive.record(snapshot.sessions.count)
        let doors = broker.frontDoor.snapshot().counts
        for (stage, count) in [("tcp", doors.tcp), ("tls", doors.tls), ("authenticated", doors.authenticated)] {
            Gauge(label: "luukku_connections", dimensions: [("stage", stage)]).record(count)
        }
        var total = closed
        for session in snapshot.sessions {
            guard let number = SessionWire.number(session.id),
                let live = await broker.relay.snapshot(session: number)
            else { continue }
            total.add(live)
        }
        let increments = relay.withLockedValue { totals in
            defer { totals.reported.raise(to: total) }
            return total.minus(totals.reported)
        }
        for direction in RelayDirection.allCases {
            packets[direction]?.increment(by: Int64(increments.packets[direction] ?? 0))
            bytes[direction]?.increment(by: Int64(increments.bytes[direction] ?? 0))
        }
        for reason in DropReason.allCases { drops[reason]?.increment(by: Int64(increments.drops[reason] ?? 0)) }
        authFailures.increment(by: Int64(increments.drops[.authenticationFailed] ?? 0))
        latchMoves.increment(by: Int64(increments.relatches))
    }

    private func queueGauges(_ agency: String, _ language: String) -> (depth: Gauge, oldestWait: Gauge) {
        let dimensions = [("agency", agency), ("language", language)]
        return (
            Gauge(label: "luukku_queue_depth", dimensions: dimensions),
            Gauge(label: "luukku_queue_oldest_wait_seconds", dimensions: dimensions)
        )
    }

    private func waitTimer(_ queue: QueueKey) -> CoreMetrics.Timer {
        CoreMetrics.Timer(
            label: "luukku_wait_seconds",
            dimensions: [("agency", queue.agency.rawValue), ("language", queue.language.rawValue)])
    }

    static func name(_ reason: DropReason) -> String {
        switch reason {
        case .authenticationFailed: "authentication_failed"
        case .replayed: "replayed"
        case .overRate: "over_rate"
        case .notLatched: "not_latched"
        case .malformed: "malformed"
        case .unknownPort: "unknown_port"
        }
    }
}

/// Packets into the relay (from the parties) and out of it (to them).
enum RelayDirection: String, CaseIterable, Hashable, Sendable {
    case `in`, out
}

/// The relay's counters summed over legs.
struct RelayCounts: Hashable, Sendable {
    var packets: [RelayDirection: UInt64] = [:]
    var bytes: [RelayDirection: UInt64] = [:]
    var drops: [DropReason: UInt64] = [:]
    var relatches: UInt64 = 0

    mutating func add(_ session: SessionSnapshot) {
        for leg in [session.a.counters, session.b.counters] {
            packets[.in, default: 0] += leg.packetsIn
            packets[.out, default: 0] += leg.packetsOut
            bytes[.in, default: 0] += leg.bytesIn
            bytes[.out, default: 0] += leg.bytesOut
            for reason in DropReason.allCases { drops[reason, default: 0] += leg.drops(reason) }
            relatches += leg.relatches
        }
    }

    /// What `self` has beyond `other`, never below zero (a counter only goes up).
    func minus(_ other: Self) -> Self {
        var result = Self()
        for direction in RelayDirection.allCases {
            result.packets[direction] = (packets[direction] ?? 0) -| (other.packets[direction] ?? 0)
            result.bytes[direction] = (bytes[direction] ?? 0) -| (other.bytes[direction] ?? 0)
        }
        for reason in DropReason.allCases { result.drops[reason] = (drops[reason] ?? 0) -| (other.drops[reason] ?? 0) }
        result.relatches = relatches -| other.relatches
        return result
    }

    /// Each count the larger of the two.
    mutating func raise(to other: Self) {
        for direction in RelayDirection.allCases {
            packets[direction] = max(packets[direction] ?? 0, other.packets[direction] ?? 0)
            bytes[direction] = max(bytes[direction] ?? 0, other.bytes[direction] ?? 0)
        }
        for reason in DropReason.allCases { drops[reason] = max(drops[reason] ?? 0, other.drops[reason] ?? 0) }
        relatches = max(relatches, other.relatches)
    }
}

/// The relay's counters of ended sessions, and what the Prometheus counters have been told so far.
struct RelayTotals: Sendable {
    var closed = RelayCounts()
    var reported = RelayCounts()
}

infix operator -| : AdditionPrecedence

/// Subtraction that stops at zero.
private func -| (lhs: UInt64, rhs: UInt64) -> UInt64 { lhs > rhs ? lhs - rhs : 0 }

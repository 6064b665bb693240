import DequeModule
import Logging
import NIOConcurrencyHelpers

/// The listener's budgets (docs/server.md, "The front door"). A connection that has not yet proved an identity
/// (TCP accepted, TLS not done) is *pending*; pending connections have a budget of their own, in all and per
/// source address, apart from the authenticated ones (`server.maxConnections`), so sockets that never finish
/// TLS can never refuse a terminal or expert with a valid certificate:
/// - a source address with `maxPendingPerAddress` pending connections gets its next one closed at once
///   (`per_address`);
/// - at `maxPending` in all, the oldest pending connection is closed to make room (`evicted`): a real client's
///   handshake takes milliseconds, so it finishes long before a flood's sockets push it out;
/// - TLS done with an accepted identity, the connection counts against `maxConnections` instead (`overloaded`
///   beyond it: the client gets Error{OVERLOADED}).
///
/// Stages for operators: `tcp` (pending), `tls` (identity accepted, waiting for Hello), `authenticated`
/// (Welcome sent). Every refusal is counted by reason and logged at most once per source, reason and identity
/// per ``logInterval``, with the number left unlogged since the last line.
///
/// Thread-safe: called from every event loop of the listener; one lock, no I/O under it (closing an evicted
/// connection happens after).
public final class FrontDoor: Sendable {
    public struct Limits: Hashable, Sendable {
        public var maxPending: Int
        public var maxPendingPerAddress: Int
        public var maxAuthenticated: Int

        public init(maxPending: Int, maxPendingPerAddress: Int, maxAuthenticated: Int) {
            self.maxPending = maxPending
            self.maxPendingPerAddress = maxPendingPerAddress
            self.maxAuthenticated = maxAuthenticated
        }
    }

    public enum Refusal: String, CaseIterable, Codable, Sendable {
        /// The source address has `maxPendingPerAddress` connections still handshaking.
        case perAddress = "per_address"
        /// The oldest handshaking connection, closed to make room at `maxPending`.
        case evicted
        /// TLS and Hello not done within `timeouts.handshake`.
        case handshakeTimeout = "handshake_timeout"
        /// The TLS handshake failed: no certificate, another CA's, not TLS at all.
        case tlsFailed = "tls_failed"
        /// A certificate of the CA whose identity is refused (UNAUTHENTICATED, UNKNOWN_IDENTITY, REVOKED).
        case identity
        /// `maxConnections` authenticated connections are open (OVERLOADED).
        case overloaded
    }

    /// Open connections by stage.
    public struct Counts: Codable, Hashable, Sendable {
        public var tcp = 0
        public var tls = 0
        public var authenticated = 0
    }

    private enum Stage {
        case pending(address: String, close: @Sendable () -> Void)
        case tls
        case authenticated
    }

    private struct LogState {
        var lastLine: ContinuousClock.Instant
        var unlogged: Int
    }

    private struct State {
        var stages: [UInt64: Stage] = [:]
        /// Pending connections' ids in the order they came (ids of ones that left since are skipped).
        var pendingOrder = Deque<UInt64>()
        var pendingByAddress: [String: Int] = [:]
        var counts = Counts()
        var refusals: [Refusal: Int] = [:]
        var logs: [String: LogState] = [:]
    }

    public let limits: Limits
    /// At most one refusal line per source, reason and identity this often.
    public let logInterval: Duration
    private let logger: Logger
    private let state = NIOLockedValueBox(State())

    public init(limits: Limits, logger: Logger, logInterval: Duration = .seconds(60)) {
        self.limits = limits
        self.logger = logger
        self.logInterval = logInterval
    }

    /// A TCP connection was accepted from `address`; false when it is refused (the caller closes it). `close`
    /// closes it if it is evicted later.
    public func accepted(
        _ id: UInt64, from address: String, now: ContinuousClock.Instant = .now,
        close: @escaping @Sendable () -> Void
    ) -> Bool {
        let (admitted, evicted) = state.withLockedValue {
            state -> (Bool, (id: UInt64, address: String, close: @Sendable () -> Void)?) in
            guard state.pendingByAddress[address, default: 0] < limits.maxPendingPerAddress else {
                return (false, nil)
            }
            var evicted: (UInt64, String, @Sendable () -> Void)?
            if state.counts.tcp >= limits.maxPending {
                // The oldest pending connection, from the front of the order (O(1) amortised).
                while let oldest = state.pendingOrder.popFirst() {
                    guard case .pending(let address, let close) = state.stages[oldest] else { continue }
                    Self.removePending(oldest, address, &state)
                    state.stages[oldest] = nil
                    evicted = (oldest, address, close)
                    break
                }
            }
            state.stages[id] = .pending(address: address, close: close)
            state.pendingOrder.append(id)
            // Ids that finished their handshake stay in the order until they reach its front: compact it now and
            // then, so that it stays within twice the pending connections.
            if state.pendingOrder.count > 2 * state.counts.tcp + 64 {
                let stages = state.stages
                state.pendingOrder = Deque(
                    state.pendingOrder.filter { id in
                        if case .pending = stages[id] { return true }
                        return false
                    })
            }
            state.pendingByAddress[address, default: 0] += 1
            state.counts.tcp += 1
            return (true, evicted)
        }
        if !admitted {
            refused(.perAddress, from: address, now: now, detail: "\(limits.maxPendingPerAddress) handshaking already")
        }
        if let evicted {
            refused(.evicted, from: evicted.address, now: now, detail: "\(limits.maxPending) handshaking in all")
            evicted.close()
        }
        return admitted
    }

    /// TLS is up with an accepted identity: the connection leaves the pending budget for the authenticated one.
    /// False at `maxConnections` (counted; the caller sends OVERLOADED).
    public func tlsEstablished(_ id: UInt64, from address: String, now: ContinuousClock.Instant = .now) -> Bool {
        let admitted = state.withLockedValue { state -> Bool in
            Self.leavePending(id, &state)
            guard state.counts.tls + state.counts.authenticated < limits.maxAuthenticated else { return false }
            state.stages[id] = .tls
            state.counts.tls += 1
            return true
        }
        if !admitted {
            refused(.overloaded, from: address, now: now, detail: "\(limits.maxAuthenticated) connections open")
        }
        return admitted
    }

    /// Hello accepted, Welcome sent.
    public func attached(_ id: UInt64) {
        state.withLockedValue { state in
            guard case .tls = state.stages[id] else { return }
            state.stages[id] = .authenticated
            state.counts.tls -= 1
            state.counts.authenticated += 1
        }
    }

    /// The connection is refused for `reason` before Welcome (TLS failed, identity refused, handshake timeout):
    /// counted and logged; it closes next.
    public func refuse(
        _ id: UInt64, _ reason: Refusal, from address: String, identity: String? = nil,
        now: ContinuousClock.Instant = .now, detail: String
    ) {
        state.withLockedValue { state in Self.leavePending(id, &state) }
        refused(reason, from: address, identity: identity, now: now, detail: detail)
    }

    /// The connection closed.
    public func closed(_ id: UInt64) {
        state.withLockedValue { state in
            switch state.stages.removeValue(forKey: id) {
            case .pending(let address, _): Self.removePending(id, address, &state)
            case .tls: state.counts.tls -= 1
            case .authenticated: state.counts.authenticated -= 1
            case nil: break
            }
        }
    }

    /// Connections by stage and refusals by reason so far (every reason, 0 included).
    public func snapshot() -> (counts: Counts, refusals: [Refusal: Int]) {
        state.withLockedValue { state in
            (state.counts, Dictionary(uniqueKeysWithValues: Refusal.allCases.map { ($0, state.refusals[$0] ?? 0) }))
        }
    }

    private static func leavePending(_ id: UInt64, _ state: inout State) {
        guard case .pending(let address, _) = state.stages[id] else { return }
        state.stages[id] = nil
        removePending(id, address, &state)
    }

    private static func removePending(_ id: UInt64, _ address: String, _ state: inout State) {
        state.counts.tcp -= 1
        let left = state.pendingByAddress[address, default: 1] - 1
        state.pendingByAddress[address] = left > 0 ? left : nil
    }

    /// Counts a refusal and logs it unless one of the same source, reason and identity was logged within
    /// ``logInterval``.
    private func refused(
        _ reason: Refusal, from address: String, identity: String? = nil, now: ContinuousClock.Instant,
        detail: String
    ) {
        ServerMetrics.shared.connectionRefused(reason)
        var key = "\(address) \(reason.rawValue) \(identity ?? "")"
        var address = address
        let unlogged = state.withLockedValue { state -> Int? in
            state.refusals[reason, default: 0] += 1
            // Bounded under a flood from many addresses: forget the sources quiet for an interval, and beyond
            // that fold every new source into one line per reason.
            if state.logs[key] == nil, state.logs.count >= 4_096 {
                state.logs = state.logs.filter { now - $0.value.lastLine < logInterval }
                if state.logs.count >= 4_096 {
                    key = "many \(reason.rawValue)"
                    address = "many sources"
                }
            }
            if let last = state.logs[key], now - last.lastLine < logInterval {
                state.logs[key]?.unlogged += 1
                return nil
            }
            let unlogged = state.logs[key]?.unlogged ?? 0
            state.logs[key] = LogState(lastLine: now, unlogged: 0)
            return unlogged
        }
        guard let unlogged else { return }
        var metadata: Logger.Metadata = ["peer": "\(address)", "reason": "\(reason.rawValue)", "detail": "\(detail)"]
        if let identity { metadata["identity"] = "\(identity)" }
        if unlogged > 0 { metadata["unlogged_since_last"] = "\(unlogged)" }
        logger.notice("refused a connection", metadata: metadata)
    }
}

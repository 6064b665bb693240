import Foundation
import Logging
import LuukkuBroker
import LuukkuCore
import LuukkuLedger
import LuukkuProtocol
import LuukkuRelay
import NIOConcurrencyHelpers
import NIOSSL

/// Where the broker sends frames for one connection. The server's implementation writes to the NIO channel
/// (thread-safe); tests may collect frames instead.
public protocol ConnectionSink: Sendable {
    func send(_ envelope: Luukku_V1_Envelope)
    /// Flushes what was sent and closes the connection.
    func close()
}

/// The broker service: carries out what ``BrokerStateMachine`` decides (docs/server.md, "The broker"). It
/// decides nothing itself.
///
/// Each input runs as one step under one lock (a single serial executor over the state machine): the step's
/// relay legs are opened at once and their answer fed back in the same step, its log lines written and its
/// figures counted; then the step goes to ``BrokerOutbox``, which writes its records and, once they are on
/// disk, carries out its actions in the order the steps were made: frames to the connections' sinks, timers,
/// legs to close.
public final class Broker: @unchecked Sendable {
    // @unchecked Sendable is safe: `machine` and `sessionsEndedWaiters` are read and written only inside
    // `lock.withLock` (NIOLock, not Mutex: see STYLE.md on ThreadSanitizer), and the `let`s are Sendable or
    // thread-safe.
    let lock = NIOLock()
    var machine: BrokerStateMachine<ContinuousClock>
    let relay: Relay
    let logger: Logger
    private(set) var outbox: BrokerOutbox!
    /// The listener's budgets and refusal counts (fixed at start, like the listener).
    public let frontDoor: FrontDoor
    let startedAt = ContinuousClock.now
    var sessionsEndedWaiters: [CheckedContinuation<Void, Never>] = []
    /// Each attached connection's sink, by connection id: what the state machine's `send` and `close` reach.
    let sinks = NIOLockedValueBox<[UInt64: any ConnectionSink]>([:])

    typealias Step = BrokerStep<ContinuousClock.Instant>

    public init(configuration: Configuration, relay: Relay, ledger: any Ledger, logger: Logger) {
        self.relay = relay
        self.logger = logger
        let server = configuration.server
        frontDoor = FrontDoor(
            limits: .init(
                maxPending: server.maxPendingConnections, maxPendingPerAddress: server.maxPendingPerAddress,
                maxAuthenticated: server.maxConnections), logger: logger)
        // Ids continue after the ledger's highest, so none is issued twice across restarts.
        let issued = ledger.issued
        machine = BrokerStateMachine(
            configuration: configuration, issued: (issued.ticket, issued.session), clock: ContinuousClock())
        machine.logLevel =
            switch logger.logLevel {
            case .trace, .debug, .info: .info
            case .notice: .notice
            case .warning, .error, .critical: .error
            }
        outbox = BrokerOutbox(ledger: ledger, logger: logger, broker: self)
    }

    // MARK: Steps

    /// Runs one input under the lock and queues what it produced.
    func step(_ body: (inout BrokerStateMachine<ContinuousClock>) -> Step) {
        lock.withLock {
            var step = body(&machine)
            carryOutNow(&step, snapshot: nil)
            outbox.enqueue(step)
        }
    }

    /// Runs one input under the lock and returns what it produced for the caller (the outbox) to carry out
    /// in place: the end of a session whose legs the outbox just closed, with the relay's final `snapshot`.
    func stepInPlace(snapshot: SessionSnapshot?, _ body: (inout BrokerStateMachine<ContinuousClock>) -> Step) -> Step {
        lock.withLock {
            var step = body(&machine)
            carryOutNow(&step, snapshot: snapshot)
            return step
        }
    }

    /// What a step asks for at once, with the lock held: the legs to open (their answer joins the step, so
    /// no other input comes between), the log lines, the figures; and the drain's waiters once no session
    /// runs.
    private func carryOutNow(_ step: inout Step, snapshot: SessionSnapshot?) {
        while !step.openLegs.isEmpty {
            let requests = step.openLegs
            step.openLegs.removeAll()
            for request in requests {
                let answer: Step
                do {
                    let ports = try relay.open(
                        session: request.session, a: request.a, b: request.b, clockRatesA: request.clockRatesA,
                        clockRatesB: request.clockRatesB)
                    answer = machine.legsOpened(session: request.session, ports: ports)
                } catch {
                    answer = machine.legsFailed(session: request.session, reason: "\(error)")
                }
                step.append(answer)
            }
        }
        for line in step.logs {
            let level: Logger.Level =
                switch line.level {
                case .info: .info
                case .notice: .notice
                case .error: .error
                }
            logger.log(
                level: level, "\(line.message)", metadata: line.metadata.mapValues { Logger.MetadataValue.string($0) })
        }
        step.logs.removeAll()
        for metric in step.metrics {
            switch metric {
            case .answered(let queue, let waited): ServerMetrics.shared.answered(queue: queue, waited: waited)
            case .mediaRefused(let role, let kind): ServerMetrics.shared.mediaRefused(role: role, kind: kind)
            case .sessionEnded(_, let outcome): ServerMetrics.shared.sessionEnded(outcome: outcome, relay: snapshot)
            }
        }
        step.metrics.removeAll()
        if machine.sessionCount == 0, !sessionsEndedWaiters.isEmpty {
            // The waiter (the drain) flushes the outbox next, so this step's writes are done before exit.
            for waiter in sessionsEndedWaiters { waiter.resume() }
            sessionsEndedWaiters.removeAll()
        }
    }

    // MARK: Connections

    /// A connection passed TLS and Hello: registers its party and sends Welcome (and, for an expert, its
    /// presence and queues). `media` is the Hello's capabilities (nil: an older client that sent none).
    ///
    /// `uiLanguage` is the Hello's: the language of the names Welcome picks (a service point's display name);
    /// `correlation` is the Hello's, which Welcome answers.
    public func attach(
        connection: UInt64, sink: any ConnectionSink, identity: PeerIdentity, version: UInt32,
        media: MediaCapabilities? = nil, uiLanguage: String = "", correlation: UInt64 = 0
    ) {
        sinks.withLockedValue { $0[connection] = sink }
        step {
            $0.attach(
                connection: connection, identity: identity, version: version, media: media, uiLanguage: uiLanguage,
                correlation: correlation)
        }
    }

    /// The connection closed; `clean` after Goodbye (no resume grace kept).
    public func detach(connection: UInt64, clean: Bool) {
        step { $0.detach(connection: connection, clean: clean) }
        sinks.withLockedValue { $0[connection] = nil }
    }

    /// One frame from a connection that has its Welcome.
    public func receive(connection: UInt64, envelope: Luukku_V1_Envelope) {
        step { $0.receive(connection: connection, envelope: envelope) }
    }

    /// The identity of a client certificate under the current configuration (revocations reload with SIGHUP).
    func authenticate(_ certificate: NIOSSLCertificate?) -> Result<PeerIdentity, PeerAuthentication.Refusal> {
        let configuration = lock.withLock { machine.configuration }
        return PeerAuthentication.identity(of: certificate, configuration: configuration)
    }

    func sink(_ connection: UInt64) -> (any ConnectionSink)? { sinks.withLockedValue { $0[connection] } }

    // MARK: Timers and the relay

    func timerFired(_ timer: BrokerTimer) { step { $0.timerFired(timer) } }

    /// The relay ended a session on its own (media silence), with its final snapshot.
    public func relayEnded(session: UInt64, end: SessionEnd, snapshot: SessionSnapshot) {
        guard end == .mediaSilence else { return }
        lock.withLock {
            var step = machine.relayEnded(session: session, relay: RelayStats(snapshot))
            carryOutNow(&step, snapshot: snapshot)
            outbox.enqueue(step)
        }
    }

    // MARK: Draining

    /// SIGTERM: no new requests; waiting tickets close as QUEUE_CLOSED; running sessions may go on until the
    /// drain deadline, when they are ended.
    public func drain() { step { $0.drain() } }

    /// An operator's `drain` (status socket): the queues close as on SIGTERM, but nothing stops.
    func closeQueuesForMaintenance() { step { $0.closeQueuesForMaintenance() } }

    /// Opens the queues again after an operator's drain; returns false while the daemon is stopping.
    func reopenQueues() -> Bool {
        var reopened = false
        step { machine in
            guard let step = machine.reopenQueues() else { return Step() }
            reopened = true
            return step
        }
        return reopened
    }

    /// Returns when no session is running (after ``drain()``, the deadline ends the rest).
    public func sessionsEnded() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let done = lock.withLock { () -> Bool in
                guard machine.sessionCount == 0 else {
                    sessionsEndedWaiters.append(waiter)
                    return false
                }
                return true
            }
            if done { waiter.resume() }
        }
    }

    /// Sends Goodbye{SERVER_SHUTDOWN} to every connection, waits until every step is on disk and sent, and
    /// cancels the timers left.
    public func shutdown() async {
        step { $0.shutdown() }
        await outbox.flush()
        outbox.cancelTimers()
    }

    /// Waits until every step so far is written and carried out.
    public func flush() async { await outbox.flush() }

    /// SIGHUP: the catalogue, revocations, limits and timeouts from the reloaded file
    /// (``BrokerStateMachine/reload(_:)``). Returns the notes for the operator.
    public func reload(_ new: Configuration) -> [String] {
        var notes: [String] = []
        step { machine in
            let (step, said) = machine.reload(new)
            notes = said
            return step
        }
        return notes
    }
}

extension RelayStats {
    /// The ledger's media figures from the relay's final snapshot: leg A is the terminal's, leg B the expert's.
    init(_ snapshot: SessionSnapshot?) {
        guard let snapshot else {
            self.init()
            return
        }
        func lost(_ leg: LegSnapshot) -> Int64 { leg.sources.reduce(0) { $0 + max(0, $1.lost) } }
        func jitter(_ leg: LegSnapshot) -> UInt64 { leg.sources.map(\.jitterMicroseconds).max() ?? 0 }
        self.init(
            packetsToExpert: snapshot.b.counters.packetsOut, packetsToTerminal: snapshot.a.counters.packetsOut,
            lostFromTerminal: lost(snapshot.a), lostFromExpert: lost(snapshot.b),
            jitterFromTerminalMicroseconds: jitter(snapshot.a), jitterFromExpertMicroseconds: jitter(snapshot.b))
    }
}

typealias RelayStats = LedgerEvent.RelayStats

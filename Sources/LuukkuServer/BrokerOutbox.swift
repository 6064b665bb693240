import Foundation
import Logging
import LuukkuBroker
import LuukkuLedger
import LuukkuRelay
import NIOConcurrencyHelpers

/// Carries out the broker's steps in the order they were made, each only after its ledger records are on
/// disk: a client is never told of something the ledger could lose (docs/server.md, "Durability").
///
/// Steps queue up while a write is in flight; the next drain writes all of them in one ``Ledger/record(_:)``
/// call (group commit). While the database fails (disk full, I/O error) the write is retried with backoff and
/// every later step waits: nothing is told before it is on disk, nothing out of order. Events the ledger
/// refuses as conflicting with its records (a bug) are logged as critical, step by step, and their frames go
/// out: the broker's state has moved on, and withholding them would strand clients.
final class BrokerOutbox: Sendable {
    typealias Step = BrokerStep<ContinuousClock.Instant>

    private struct State {
        var steps: [Step] = []
        var draining = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    /// An armed timer's task, and its number (a timer that fires removes only its own entry).
    private struct Armed {
        let number: UInt64
        let task: Task<Void, Never>
    }

    private let state = NIOLockedValueBox(State())
    private let timers = NIOLockedValueBox<(next: UInt64, armed: [BrokerTimer: Armed])>((1, [:]))
    private let ledger: any Ledger
    private let logger: Logger
    private unowned let broker: Broker

    init(ledger: any Ledger, logger: Logger, broker: Broker) {
        self.ledger = ledger
        self.logger = logger
        self.broker = broker
    }

    /// Queues a step; called with the broker's lock held, so steps keep the broker's order.
    func enqueue(_ step: Step) {
        guard !step.isEmpty else { return }
        let start = state.withLockedValue { state -> Bool in
            state.steps.append(step)
            guard !state.draining else { return false }
            state.draining = true
            return true
        }
        if start { Task { await self.drain() } }
    }

    /// Returns once every step queued so far is written and carried out.
    func flush() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let idle = state.withLockedValue { state -> Bool in
                guard state.draining || !state.steps.isEmpty else { return true }
                state.idleWaiters.append(waiter)
                return false
            }
            if idle { waiter.resume() }
        }
    }

    private func drain() async {
        while true {
            let batch = state.withLockedValue { state -> [Step] in
                defer { state.steps.removeAll(keepingCapacity: true) }
                return state.steps
            }
            if batch.isEmpty {
                let waiters = state.withLockedValue { state -> [CheckedContinuation<Void, Never>]? in
                    guard state.steps.isEmpty else { return nil }  // a step arrived meanwhile
                    state.draining = false
                    defer { state.idleWaiters.removeAll() }
                    return state.idleWaiters
                }
                guard let waiters else { continue }
                for waiter in waiters { waiter.resume() }
                return
            }
            await write(batch)
            for step in batch { await perform(step.actions) }
        }
    }

    /// Writes the batch's records in one transaction; a refused batch step by step, so that one step's
    /// conflict does not cost the others their records.
    private func write(_ batch: [Step]) async {
        let events = batch.flatMap(\.records)
        guard !events.isEmpty, !(await record(events)), batch.count > 1 else { return }
        for step in batch where !step.records.isEmpty { _ = await record(step.records) }
    }

    /// Writes events, retrying while the database fails (disk full, I/O error): meanwhile every later step
    /// waits, so nothing is told out of order or before it is on disk. Returns false when the ledger refuses
    /// the events themselves (a record that conflicts with what is there: a bug, logged as critical).
    private func record(_ events: [LedgerEvent]) async -> Bool {
        var delay = Duration.milliseconds(100)
        while true {
            do {
                let started = ContinuousClock.now
                try await ledger.record(events)
                let elapsed = (ContinuousClock.now - started).components
                ServerMetrics.shared.ledgerCommit.recordNanoseconds(
                    elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000)
                return true
            } catch {
                switch error.code {
                case .database, .cannotOpen:
                    logger.error(
                        "ledger write failed; retrying, replies held until it succeeds",
                        metadata: [
                            "error": "\(error)",
                            "retry_in_ms":
                                "\(delay.components.seconds * 1_000 + delay.components.attoseconds / 1_000_000_000_000_000)",
                        ])
                    try? await Task.sleep(for: delay)
                    delay = min(delay * 2, .seconds(5))
                case .noSuchOpenRecord, .duplicate, .invalid, .newerSchema:
                    logger.critical(
                        "the ledger refused events that conflict with its records; their replies go out anyway",
                        metadata: ["error": "\(error)"])
                    return false
                }
            }
        }
    }

    private func perform(_ actions: [BrokerAction<ContinuousClock.Instant>]) async {
        for action in actions {
            switch action {
            case .send(let connection, let envelope):
                broker.sink(connection)?.send(envelope)
            case .close(let connection):
                broker.sink(connection)?.close()
            case .arm(let timer, let deadline):
                arm(timer, at: deadline)
            case .cancel(let timer):
                timers.withLockedValue { $0.armed.removeValue(forKey: timer) }?.task.cancel()
            case .closeLegs(let session):
                // The session's end, with the relay's final figures, is recorded and its Hangups sent before
                // anything after this: in place, not queued behind later steps.
                let snapshot = await broker.relay.close(session: session)
                let ended = broker.stepInPlace(snapshot: snapshot) {
                    $0.legsClosed(session: session, relay: RelayStats(snapshot))
                }
                if !ended.records.isEmpty { _ = await record(ended.records) }
                await perform(ended.actions)
            }
        }
    }

    /// Arms (or re-arms) a timer: it fires as ``Broker/timerFired(_:)`` unless cancelled first.
    private func arm(_ timer: BrokerTimer, at deadline: ContinuousClock.Instant) {
        timers.withLockedValue { timers in
            let number = timers.next
            timers.next += 1
            let task = Task { [weak self] in
                guard (try? await Task.sleep(until: deadline, clock: .continuous)) != nil, let self else { return }
                let own = self.timers.withLockedValue { timers -> Bool in
                    guard timers.armed[timer]?.number == number else { return false }
                    timers.armed[timer] = nil
                    return true
                }
                if own { self.broker.timerFired(timer) }
            }
            timers.armed.updateValue(Armed(number: number, task: task), forKey: timer)?.task.cancel()
        }
    }

    /// Cancels every armed timer (at exit).
    func cancelTimers() {
        let armed = timers.withLockedValue { timers in
            defer { timers.armed.removeAll() }
            return timers.armed.values
        }
        for timer in armed { timer.task.cancel() }
    }
}

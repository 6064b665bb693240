import Foundation
import Logging
import LuukkuLedger
import LuukkuRelay
import NIOConcurrencyHelpers

/// Carries out the broker's steps in the order they were made, each only after its ledger events are on
/// disk: a client is never told of something the ledger could lose (docs/server.md, "Durability").
///
/// Steps queue up while a write is in flight; the next drain writes all of them in one ``Ledger/record(_:)``
/// call (group commit). While the database fails (disk full, I/O error) the write is retried with backoff and
/// every later step waits: nothing is told before it is on disk, nothing out of order. Events the ledger
/// refuses as conflicting with its records (a bug) are logged as critical, step by step, and their frames go
/// out: the broker's state has moved on, and withholding them would strand clients.
final class BrokerOutbox: Sendable {
    private struct State {
        var steps: [BrokerStep] = []
        var draining = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = NIOLockedValueBox(State())
    private let ledger: any Ledger
    private let relay: Relay
    private let logger: Logger
    private let onTimer: @Sendable (BrokerTimer) -> Void

    init(ledger: any Ledger, relay: Relay, logger: Logger, onTimer: @escaping @Sendable (BrokerTimer) -> Void) {
        self.ledger = ledger
        self.relay = relay
        self.logger = logger
        self.onTimer = onTimer
    }

    /// Queues a step; called with the broker's lock held, so steps keep the broker's order.
    func enqueue(_ step: BrokerStep) {
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
            let batch = state.withLockedValue { state -> [BrokerStep] in
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
            for step in batch { await perform(step.effects) }
        }
    }

    /// Writes the batch's events in one transaction; a refused batch step by step, so that one step's
    /// conflict does not cost the others their records.
    private func write(_ batch: [BrokerStep]) async {
        let events = batch.flatMap(\.events)
        guard !events.isEmpty, !(await record(events)), batch.count > 1 else { return }
        for step in batch where !step.events.isEmpty { _ = await record(step.events) }
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

    private func perform(_ effects: [BrokerEffect]) async {
        for effect in effects {
            switch effect {
            case .send(let sink, let envelope):
                sink.send(envelope)
            case .close(let sink):
                sink.close()
            case .schedule(let timer, let deadline):
                let onTimer = self.onTimer
                Task {
                    try? await Task.sleep(until: deadline, clock: .continuous)
                    onTimer(timer)
                }
            case .endSession(let ended, let then):
                var snapshot = ended.snapshot
                if snapshot == nil { snapshot = await relay.close(session: ended.session) }
                let now = Date()
                let outcome = LedgerOutcome(.completed(ended.reason))
                let events: [LedgerEvent] = [
                    .sessionEnded(session: ended.session, outcome: outcome, at: now, relay: RelayStats(snapshot)),
                    .ticketClosed(ticket: ended.ticket, outcome: outcome, at: now),
                ]
                _ = await record(events)
                ServerMetrics.shared.sessionEnded(outcome: outcome.outcome, relay: snapshot)
                await perform(then)
            }
        }
    }
}

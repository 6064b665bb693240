import Foundation
import Logging
import LuukkuLedger
import LuukkuRelay
import NIOConcurrencyHelpers

/// Carries out the broker's steps in the order they were made, each only after its ledger events are on
/// disk: a client is never told of something the ledger could lose (docs/server.md, "Durability").
///
/// Steps queue up while a write is in flight; the next drain writes all of them in one ``Ledger/record(_:)``
/// call (group commit). If that write fails, each step is retried on its own, so one bad event costs only its
/// own step: that step's frames are not sent (the failure is logged), every other step goes ahead.
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
            let durable = await write(batch)
            for (step, ok) in zip(batch, durable) {
                await perform(step.effects, told: ok)
            }
        }
    }

    /// Writes the batch's events in one transaction; on failure, step by step. Returns per step whether its
    /// events are on disk.
    private func write(_ batch: [BrokerStep]) async -> [Bool] {
        let events = batch.flatMap(\.events)
        guard !events.isEmpty else { return batch.map { _ in true } }
        do {
            try await ledger.record(events)
            return batch.map { _ in true }
        } catch {
            guard batch.count > 1 else {
                logger.error("ledger write failed; the step's frames are not sent", metadata: ["error": "\(error)"])
                return [false]
            }
        }
        var durable: [Bool] = []
        for step in batch {
            do {
                try await ledger.record(step.events)
                durable.append(true)
            } catch {
                logger.error("ledger write failed; the step's frames are not sent", metadata: ["error": "\(error)"])
                durable.append(false)
            }
        }
        return durable
    }

    private func perform(_ effects: [BrokerEffect], told: Bool) async {
        for effect in effects {
            switch effect {
            case .send(let sink, let envelope):
                if told { sink.send(envelope) }
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
                let ok: Bool
                do {
                    try await ledger.record(events)
                    ok = true
                } catch {
                    logger.error(
                        "ledger write of a session's end failed",
                        metadata: ["session": "\(ended.session)", "error": "\(error)"])
                    ok = false
                }
                await perform(then, told: ok && told)
            }
        }
    }
}

import Foundation
import LuukkuCore

/// ``MatchingStateMachine`` behind one lock: the baseline ``LockFreeMatcher`` must beat, and the simplest
/// correct ``ConcurrentMatcher``. It takes any queue and expert, where ``LockFreeMatcher`` knows its own.
///
/// `NSLock` rather than `Synchronization.Mutex`: ThreadSanitizer reports false races on `Mutex` on Linux
/// (../shared/FACTS.md), and the stress test runs this class under TSan.
public final class LockedMatcher: ConcurrentMatcher, @unchecked Sendable {
    // @unchecked Sendable is safe: `state` is read and written only inside `lock.withLock`, and `lock` is
    // itself thread-safe; nothing else is mutable.
    private let lock = NSLock()
    private var state: MatchingStateMachine

    public init(capacityPerQueue: Int) {
        state = MatchingStateMachine(capacityPerQueue: capacityPerQueue)
    }

    public func request(_ queue: QueueKey) throws(MatcherError) -> (ticket: TicketID, matches: [Match]) {
        let result: Result<(ticket: TicketID, match: Match?), MatcherError> = lock.withLock {
            do throws(MatcherError) { return .success(try state.request(queue)) } catch { return .failure(error) }
        }
        let (ticket, match) = try result.get()
        return (ticket, match.map { [$0] } ?? [])
    }

    public func cancel(_ ticket: TicketID) -> CancelOutcome { lock.withLock { state.cancel(ticket) } }

    public func accept(_ ticket: TicketID, by expert: ExpertID) -> Bool {
        lock.withLock { state.accept(ticket, by: expert) }
    }

    public func decline(_ ticket: TicketID, by expert: ExpertID) -> [Match] {
        lock.withLock { state.decline(ticket, by: expert) }.map { [$0] } ?? []
    }

    public func expertAvailable(_ expert: ExpertID, queues: [QueueKey]) -> [Match] {
        lock.withLock { state.expertAvailable(expert, queues: queues) }.map { [$0] } ?? []
    }

    public func expertUnavailable(_ expert: ExpertID) -> Bool { lock.withLock { state.expertUnavailable(expert) } }

    public func position(of ticket: TicketID) -> Int? { lock.withLock { state.position(of: ticket) } }

    public func snapshot(of queue: QueueKey) -> (depth: Int, oldestWaiting: TicketID?) {
        lock.withLock { state.snapshot(of: queue) }
    }

    public func offer(for expert: ExpertID) -> TicketID? { lock.withLock { state.offer(for: expert) } }
    public func isAvailable(_ expert: ExpertID) -> Bool { lock.withLock { state.isAvailable(expert) } }
}

/// ``MatchingStateMachine`` inside an actor: the other baseline of `make bench-matcher`. Every call is a hop
/// onto the actor's executor.
public actor ActorMatcher {
    private var state: MatchingStateMachine

    public init(capacityPerQueue: Int) {
        state = MatchingStateMachine(capacityPerQueue: capacityPerQueue)
    }

    public func request(_ queue: QueueKey) throws(MatcherError) -> (ticket: TicketID, match: Match?) {
        try state.request(queue)
    }

    public func cancel(_ ticket: TicketID) -> CancelOutcome { state.cancel(ticket) }
    public func accept(_ ticket: TicketID, by expert: ExpertID) -> Bool { state.accept(ticket, by: expert) }
    public func decline(_ ticket: TicketID, by expert: ExpertID) -> Match? { state.decline(ticket, by: expert) }

    public func expertAvailable(_ expert: ExpertID, queues: [QueueKey]) -> Match? {
        state.expertAvailable(expert, queues: queues)
    }

    public func expertUnavailable(_ expert: ExpertID) -> Bool { state.expertUnavailable(expert) }
    public func position(of ticket: TicketID) -> Int? { state.position(of: ticket) }
    public func snapshot(of queue: QueueKey) -> (depth: Int, oldestWaiting: TicketID?) { state.snapshot(of: queue) }
    public func offer(for expert: ExpertID) -> TicketID? { state.offer(for: expert) }
    public func isAvailable(_ expert: ExpertID) -> Bool { state.isAvailable(expert) }
}

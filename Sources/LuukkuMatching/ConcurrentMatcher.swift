import LuukkuCore

/// A matcher that many threads may call at once: the API of ``MatchingStateMachine``, thread-safe.
///
/// Implementations: ``LockFreeMatcher`` (the one the broker runs) and ``LockedMatcher`` (the state machine
/// under a lock, the baseline). ``ActorMatcher`` offers the same operations as an actor, for the benchmark.
/// The concurrent stress test is written against this protocol, so every implementation is held to the same
/// invariants.
///
/// Calls that make matches return all of them: concurrently, one call may make a match that another
/// operation left to it besides its own (docs/matching.md). Every returned match must be delivered.
public protocol ConcurrentMatcher: Sendable {
    func request(_ queue: QueueKey) throws(MatcherError) -> (ticket: TicketID, matches: [Match])
    func cancel(_ ticket: TicketID) -> CancelOutcome
    func accept(_ ticket: TicketID, by expert: ExpertID) -> Bool
    func decline(_ ticket: TicketID, by expert: ExpertID) -> [Match]
    func expertAvailable(_ expert: ExpertID, queues: [QueueKey]) throws(MatcherError) -> [Match]
    func expertUnavailable(_ expert: ExpertID) -> Bool
    func position(of ticket: TicketID) -> Int?
    func snapshot(of queue: QueueKey) -> (depth: Int, oldestWaiting: TicketID?)
    func offer(for expert: ExpertID) -> TicketID?
    func isAvailable(_ expert: ExpertID) -> Bool
}

import Foundation
import LuukkuCore
import LuukkuMatching
import Synchronization
import Testing

/// No older waiting ticket is overtaken, checked on concurrent runs.
///
/// Every call is stamped with a start and an end from one shared counter. A match of ticket `t` by a call
/// that ran `[start, end]` overtook an older ticket `o` of the same queue if `o`'s request had returned before
/// `start` and `o` was still waiting when the call ended: nothing took it out of waiting (an offer or a
/// cancel) in a call that started before `end`. Experts accept every offer here (no declines), so a ticket
/// leaves waiting once and for all and "still waiting" is exactly that.
///
/// Short mode in `make test`; `LUUKKU_STRESS_LONG=1` runs it longer, as the stress test.
@Suite struct ConcurrentOrderTests {
    static let rounds = ConcurrentMatcherStressTests.long ? 200 : 20
    static let operationsPerThreadPerRound = ConcurrentMatcherStressTests.long ? 2_500 : 500

    @Test func lockFreeMatcherOvertakesNoOlderTicket() {
        Self.run(
            LockFreeMatcher(
                queues: ConcurrentMatcherStressTests.queues, experts: ConcurrentMatcherStressTests.experts,
                capacityPerQueue: 64, ringCapacity: 64))
    }

    @Test func lockedMatcherOvertakesNoOlderTicket() {
        Self.run(LockedMatcher(capacityPerQueue: 64))
    }

    /// What one thread saw in one round.
    struct Log {
        var requested: [(ticket: TicketID, queue: QueueKey, end: Int)] = []
        var matched: [(ticket: TicketID, queue: QueueKey, start: Int, end: Int)] = []
        var cancelled: [(ticket: TicketID, start: Int)] = []
    }

    static func run(_ matcher: some ConcurrentMatcher) {
        let threads = ConcurrentMatcherStressTests.threads
        let experts = ConcurrentMatcherStressTests.experts
        let queues = ConcurrentMatcherStressTests.queues
        let clock = Atomic<Int>(0)
        // Tickets still waiting at the end of a round: (queue, when its request returned).
        var waiting: [TicketID: (queue: QueueKey, end: Int)] = [:]
        var mine: [[TicketID]] = Array(repeating: [], count: threads)
        var checked = 0

        for round in 0..<rounds {
            let logs = UnsafeMutableBufferPointer<(Log, [TicketID])>.allocate(capacity: threads)
            logs.initialize(repeating: (Log(), []))
            defer { logs.deallocate() }
            nonisolated(unsafe) let slots = logs
            let before = mine
            DispatchQueue.concurrentPerform(iterations: threads) { thread in
                var random = SplitMix(state: UInt64(round * 1_000 + thread + 7))
                var log = Log()
                var tickets = before[thread]
                let owned = experts.enumerated().filter { $0.offset % threads == thread }.map(\.element)
                func tick() -> Int { clock.add(1, ordering: .sequentiallyConsistent).newValue }
                func note(_ matches: [Match], _ start: Int, _ end: Int) {
                    log.matched += matches.map { ($0.ticket, $0.queue, start, end) }
                }
                for _ in 0..<operationsPerThreadPerRound {
                    // Fewer requests than experts can serve, so queues stay short and the check stays cheap.
                    let roll = Int.random(in: 0..<100, using: &random)
                    let start = tick()
                    if roll < 25 {
                        let queue = queues.randomElement(using: &random)!
                        guard let (ticket, matches) = try? matcher.request(queue) else { continue }
                        let end = tick()
                        tickets.append(ticket)
                        log.requested.append((ticket, queue, end))
                        note(matches, start, end)
                    } else if roll < 35 {
                        guard !tickets.isEmpty else { continue }
                        let ticket = tickets.remove(at: Int.random(in: 0..<tickets.count, using: &random))
                        if matcher.cancel(ticket) == .wasWaiting { log.cancelled.append((ticket, start)) }
                    } else {
                        let (expert, skills) = owned.randomElement(using: &random)!
                        if let ticket = matcher.offer(for: expert) {
                            _ = matcher.accept(ticket, by: expert)
                        } else if Int.random(in: 0..<8, using: &random) == 0 {
                            _ = matcher.expertUnavailable(expert)
                        } else if !matcher.isAvailable(expert),
                            let matches = try? matcher.expertAvailable(expert, queues: skills)
                        {
                            note(matches, start, tick())
                        }
                    }
                }
                slots[thread] = (log, tickets)
            }
            mine = logs.map(\.1)
            let log = logs.reduce(into: Log()) { all, next in
                all.requested += next.0.requested
                all.matched += next.0.matched
                all.cancelled += next.0.cancelled
            }
            for request in log.requested { waiting[request.ticket] = (request.queue, request.end) }
            // When each ticket stopped waiting: the start of the call that offered or cancelled it.
            var left: [TicketID: Int] = [:]
            for match in log.matched { left[match.ticket] = match.start }
            for cancel in log.cancelled { left[cancel.ticket] = cancel.start }
            for match in log.matched {
                for (older, (queue, requestEnd)) in waiting
                where queue == match.queue && older < match.ticket && requestEnd < match.start {
                    checked += 1
                    let stillWaiting = left[older].map { $0 > match.end } ?? true
                    #expect(
                        !stillWaiting,
                        "round \(round): \(match.ticket) offered in [\(match.start), \(match.end)] before \(older)")
                }
            }
            for ticket in left.keys { waiting[ticket] = nil }
        }
        #expect(checked > 1_000, "too few orderings checked: \(checked)")
    }
}

import Foundation
import LuukkuCore
import LuukkuMatching
import Testing

/// Several threads at once request, cancel, accept, decline and change presence on one matcher, in rounds;
/// between rounds (all threads joined) the matcher's state is checked against what the threads saw:
/// - no ticket accepted twice, none both accepted and cancelled;
/// - no ticket offered to two experts at once, no expert holding two offers;
/// - no available expert beside a waiting ticket of its queues (no missed match);
/// - every ticket accounted for exactly once: created = accepted + cancelled + open;
/// - every offer an expert holds was returned as a match by some call (none made and left unreported);
/// - every open ticket is offered or waiting, and each queue's oldest waiting ticket is the one the test's own
///   account says (so a ticket the matcher's scans lost sight of is caught).
/// (That no older waiting ticket is overtaken is checked step by step in MatchingPropertyTests, where the
/// order of events is known.)
///
/// Short mode in `make test`; `LUUKKU_STRESS_LONG=1` runs millions of operations.
@Suite struct ConcurrentMatcherStressTests {
    static let long = ProcessInfo.processInfo.environment["LUUKKU_STRESS_LONG"] == "1"
    static let threads = 4
    static let rounds = long ? 400 : 20
    static let operationsPerThreadPerRound = long ? 2_500 : 500

    static let queues: [QueueKey] = ["kela", "vero", "te", "poliisi"].flatMap { agency in
        [LanguageCode.finnish, .swedish].map { QueueKey(agency: AgencyID(agency)!, language: $0) }
    }

    /// What the threads observed, under a lock of the test's own.
    final class Observations: @unchecked Sendable {
        // @unchecked Sendable is safe: every field is accessed only inside `lock.withLock`.
        let lock = NSLock()
        var created = 0
        var accepted: Set<TicketID> = []
        var cancelled: Set<TicketID> = []
        var violations: [String] = []
        /// Every (ticket, expert) pair some call returned as a match.
        var reported: Set<Match> = []
        /// Tickets created and neither accepted nor cancelled, with their queues: the test's own account,
        /// so that the checks do not rest on the matcher's answers about itself alone.
        var open: [TicketID: QueueKey] = [:]

        func note<T>(_ body: (Observations) -> T) -> T { lock.withLock { body(self) } }
    }

    static let experts: [(ExpertID, [QueueKey])] = (0..<24).map { i in
        let skills = (0..<(1 + i % 3)).map { queues[(i * 5 + $0 * 3) % queues.count] }
        return (ExpertID("e-\(i)")!, Array(Set(skills)).sorted())
    }

    @Test func lockedMatcherKeepsItsInvariantsUnderConcurrency() {
        Self.stress(LockedMatcher(capacityPerQueue: 1_000))
    }

    @Test func lockFreeMatcherKeepsItsInvariantsUnderConcurrency() {
        Self.stress(LockFreeMatcher(queues: Self.queues, experts: Self.experts, capacityPerQueue: 1_000))
    }

    /// A small capacity, so that the rings come round many times and requests meet full queues (so fewer
    /// of them create tickets: about one operation in eleven does).
    @Test func lockFreeMatcherKeepsItsInvariantsWithSmallRings() {
        Self.stress(
            LockFreeMatcher(queues: Self.queues, experts: Self.experts, capacityPerQueue: 8, ringCapacity: 16),
            createdAtLeastOneIn: 20)
    }

    /// Experts are owned by threads (thread `i` drives experts `i, i + threads, ...`), as an expert's console
    /// is one connection; tickets are requested and cancelled by any thread, as terminals are many.
    /// Many short rounds: more quiescent points, so that a missed match is checked before a later arrival in
    /// the same queue repairs it.
    @Test func lockFreeMatcherKeepsItsInvariantsInShortRounds() {
        Self.stress(
            LockFreeMatcher(queues: Self.queues, experts: Self.experts, capacityPerQueue: 1_000),
            rounds: Self.rounds * 20, operationsPerThreadPerRound: Self.operationsPerThreadPerRound / 20)
    }

    static func stress(
        _ matcher: some ConcurrentMatcher, createdAtLeastOneIn share: Int = 10, rounds: Int = rounds,
        operationsPerThreadPerRound: Int = operationsPerThreadPerRound
    ) {
        let observations = Observations()
        var open: [[TicketID]] = Array(repeating: [], count: threads)

        for round in 0..<rounds {
            let openBefore = open
            let results = UnsafeMutableBufferPointer<[TicketID]>.allocate(capacity: threads)
            results.initialize(repeating: [])
            defer { results.deallocate() }
            nonisolated(unsafe) let slots = results
            DispatchQueue.concurrentPerform(iterations: threads) { thread in
                var random = SplitMix(state: UInt64(round * 1_000 + thread + 1))
                var mine = openBefore[thread]
                let owned = experts.enumerated().filter { $0.offset % threads == thread }.map(\.element)
                for _ in 0..<operationsPerThreadPerRound {
                    switch Int.random(in: 0..<10, using: &random) {
                    case 0...2:
                        let queue = queues.randomElement(using: &random)!
                        if let (ticket, matches) = try? matcher.request(queue) {
                            mine.append(ticket)
                            observations.note { o in
                                o.created += 1
                                // Its expert's thread may have accepted it already (it was matched at once).
                                if !o.accepted.contains(ticket) { o.open[ticket] = queue }
                                o.reported.formUnion(matches)
                            }
                        }
                    case 3:
                        guard !mine.isEmpty else { continue }
                        let ticket = mine.remove(at: Int.random(in: 0..<mine.count, using: &random))
                        switch matcher.cancel(ticket) {
                        case .wasWaiting, .wasOffered:
                            observations.note { o in
                                if o.accepted.contains(ticket) {
                                    o.violations.append("\(ticket) accepted and cancelled")
                                }
                                o.cancelled.insert(ticket)
                                o.open[ticket] = nil
                            }
                        case .notOpen:
                            break
                        }
                    default:
                        let (expert, skills) = owned.randomElement(using: &random)!
                        if let ticket = matcher.offer(for: expert) {
                            if Bool.random(using: &random) {
                                if matcher.accept(ticket, by: expert) {
                                    observations.note { o in
                                        o.open[ticket] = nil
                                        if !o.accepted.insert(ticket).inserted {
                                            o.violations.append("\(ticket) accepted twice")
                                        }
                                        if o.cancelled.contains(ticket) {
                                            o.violations.append("\(ticket) cancelled and accepted")
                                        }
                                    }
                                }
                            } else {
                                let matches = matcher.decline(ticket, by: expert)
                                observations.note { $0.reported.formUnion(matches) }
                            }
                        } else if Int.random(in: 0..<5, using: &random) == 0 {
                            _ = matcher.expertUnavailable(expert)
                        } else if !matcher.isAvailable(expert) {
                            do {
                                let matches = try matcher.expertAvailable(expert, queues: skills)
                                observations.note { $0.reported.formUnion(matches) }
                            } catch {
                                observations.note { $0.violations.append("\(expert): \(error)") }
                            }
                        }
                    }
                }
                slots[thread] = mine
            }
            open = Array(results)
            check(matcher, observations: observations, round: round)
        }
        observations.note { o in
            #expect(o.violations.isEmpty, "\(o.violations.prefix(5))")
            #expect(o.created > rounds * threads * operationsPerThreadPerRound / share, "too few requests")
            #expect(!o.accepted.isEmpty && !o.cancelled.isEmpty, "the run exercised too little")
        }
    }

    /// The quiescent-point invariants. Conditions are tested plainly and only failures recorded: an
    /// expectation per check would cost more than the check, thousands of times a run.
    static func check(
        _ matcher: some ConcurrentMatcher,
        observations: Observations,
        round: Int
    ) {
        func require(_ condition: Bool, _ what: @autoclosure () -> String) {
            if !condition { Issue.record("round \(round): \(what())") }
        }
        var offered: [TicketID: ExpertID] = [:]
        for (expert, skills) in experts {
            guard let ticket = matcher.offer(for: expert) else { continue }
            require(offered.updateValue(expert, forKey: ticket) == nil, "\(ticket) offered twice")
            let reported = skills.contains { queue in
                observations.note { $0.reported.contains(Match(ticket: ticket, expert: expert, queue: queue)) }
            }
            require(reported, "\(expert) holds \(ticket), which no call reported")
            require(!matcher.isAvailable(expert), "\(expert) available while holding an offer")
        }
        // Every open ticket is either offered or waiting; the matcher's oldest waiting ticket of each queue is
        // the oldest the test knows to be waiting there (a waiting ticket the scans cannot see fails this),
        // and no available expert stands beside one (no missed match). `position(of:)` costs a walk of the
        // queue, so it is asked of the oldest few waiting tickets of each queue only.
        let open = observations.note { $0.open }
        var waiting: [QueueKey: [TicketID]] = [:]
        for (ticket, queue) in open where offered[ticket] == nil { waiting[queue, default: []].append(ticket) }
        for queue in queues {
            let mine = (waiting[queue] ?? []).sorted()
            for ticket in mine.prefix(4) {
                require(matcher.position(of: ticket) != nil, "\(ticket) is open but neither offered nor waiting")
            }
            let (depth, oldest) = matcher.snapshot(of: queue)
            require(oldest == mine.first, "oldest waiting ticket of \(queue): \(String(describing: oldest))")
            require(depth == open.values.count { $0 == queue }, "open tickets of \(queue)")
        }
        for (expert, skills) in experts where matcher.isAvailable(expert) {
            for queue in skills {
                require(waiting[queue] == nil, "\(expert) idle beside a waiting ticket in \(queue)")
            }
        }
        let counts = observations.note { ($0.created, $0.accepted.count + $0.cancelled.count) }
        require(counts.0 == counts.1 + open.count, "tickets lost or duplicated")
    }
}

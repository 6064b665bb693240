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
/// - every offer an expert holds was returned as a match by some call (none made and left unreported).
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

    /// A small capacity, so that the rings come round many times and requests meet full queues.
    @Test func lockFreeMatcherKeepsItsInvariantsWithSmallRings() {
        Self.stress(
            LockFreeMatcher(queues: Self.queues, experts: Self.experts, capacityPerQueue: 8, ringCapacity: 16))
    }

    /// Experts are owned by threads (thread `i` drives experts `i, i + threads, ...`), as an expert's console
    /// is one connection; tickets are requested and cancelled by any thread, as terminals are many.
    static func stress(_ matcher: some ConcurrentMatcher) {
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
                        if let (ticket, matches) = try? matcher.request(queues.randomElement(using: &random)!) {
                            mine.append(ticket)
                            observations.note { o in
                                o.created += 1
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
            #expect(o.created > rounds * threads * operationsPerThreadPerRound / 10, "too few requests")
            #expect(!o.accepted.isEmpty && !o.cancelled.isEmpty, "the run exercised too little")
        }
    }

    /// The quiescent-point invariants.
    static func check(
        _ matcher: some ConcurrentMatcher,
        observations: Observations,
        round: Int
    ) {
        var offered: [TicketID: ExpertID] = [:]
        for (expert, skills) in experts {
            if let ticket = matcher.offer(for: expert) {
                #expect(offered.updateValue(expert, forKey: ticket) == nil, "round \(round): \(ticket) offered twice")
                let queue = skills.first { queue in
                    observations.note { $0.reported.contains(Match(ticket: ticket, expert: expert, queue: queue)) }
                }
                #expect(queue != nil, "round \(round): \(expert) holds \(ticket), which no call reported")
                #expect(!matcher.isAvailable(expert), "round \(round): \(expert) available while holding an offer")
            }
            if matcher.isAvailable(expert) {
                for queue in skills {
                    #expect(
                        matcher.snapshot(of: queue).oldestWaiting == nil,
                        "round \(round): \(expert) idle beside a waiting ticket in \(queue)"
                    )
                }
            }
        }
        let open = queues.map { matcher.snapshot(of: $0).depth }.reduce(0, +)
        observations.note { o in
            #expect(
                o.created == o.accepted.count + o.cancelled.count + open, "round \(round): tickets lost or duplicated")
        }
    }
}

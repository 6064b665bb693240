// make bench-matcher: the matchers under a mixed workload at 1, 2 and 4 threads (docs/benchmarks.md).
//
// Workload (issue 3): 10 agencies x 2 languages, 2,000 experts with 1-3 skills each. Each thread owns a
// share of the experts (an expert's console is one connection) and, per operation: 45 % requests a ticket
// in a random queue; 5 % cancels one of its own tickets; 50 % steps one of its experts: answers an offer
// (accept 90 %, decline 10 %; an accepted session ends at once, since the matcher, not the session, is
// measured), goes away (5 %), or becomes available again.
//
// Figures: matches/s (every offer made, by any call) and the latency of `request` calls that were matched
// on the spot, i.e. enqueue-to-offer when an expert is free (HdrHistogram, ns).
import Foundation
import Histogram
import LuukkuCore
import LuukkuMatching

struct Workload {
    static let queues: [QueueKey] = (0..<10).flatMap { agency in
        [LanguageCode.finnish, .swedish].map { QueueKey(agency: AgencyID("agency-\(agency)")!, language: $0) }
    }
    static let capacityPerQueue = 100_000
    static let experts: [(ExpertID, [QueueKey])] = {
        var random = SplitMix(state: 2_026)
        return (0..<2_000).map { i in
            let count = Int.random(in: 1...3, using: &random)
            let skills = Set((0..<count).map { _ in queues.randomElement(using: &random)! })
            return (ExpertID("expert-\(i)")!, skills.sorted())
        }
    }()

    enum Step { case request(QueueKey), cancel, expert(ExpertID, [QueueKey], roll: Int) }

    var random: SplitMix
    let owned: [(ExpertID, [QueueKey])]

    init(thread: Int, threads: Int) {
        random = SplitMix(state: UInt64(thread + 1))
        owned = Self.experts.enumerated().filter { $0.offset % threads == thread }.map(\.element)
    }

    mutating func next() -> Step {
        let roll = Int.random(in: 0..<100, using: &random)
        if roll < 45 { return .request(Self.queues.randomElement(using: &random)!) }
        if roll < 50 { return .cancel }
        let (expert, skills) = owned.randomElement(using: &random)!
        return .expert(expert, skills, roll: Int.random(in: 0..<100, using: &random))
    }
}

/// Per-thread results, merged after the run.
struct ThreadResult: Sendable {
    var matches = 0
    var latency = Histogram<UInt64>(highestTrackableValue: 10_000_000_000, numberOfSignificantValueDigits: .three)
}

/// Runs the workload on one thread against a thread-safe matcher.
func runSync(_ matcher: some ConcurrentMatcher, thread: Int, threads: Int, operations: Int) -> ThreadResult {
    var workload = Workload(thread: thread, threads: threads)
    var result = ThreadResult()
    var mine: [TicketID] = []
    let clock = ContinuousClock()
    for _ in 0..<operations {
        switch workload.next() {
        case .request(let queue):
            let start = clock.now
            guard let (ticket, matches) = try? matcher.request(queue) else { continue }
            let elapsed = clock.now - start
            mine.append(ticket)
            result.matches += matches.count
            if matches.contains(where: { $0.ticket == ticket }) {
                _ = result.latency.record(UInt64(elapsed.nanoseconds))
            }
        case .cancel:
            if let ticket = mine.popLast() { _ = matcher.cancel(ticket) }
        case .expert(let expert, let skills, let roll):
            if let ticket = matcher.offer(for: expert) {
                if roll < 90 {
                    if matcher.accept(ticket, by: expert) {
                        result.matches += (try? matcher.expertAvailable(expert, queues: skills))?.count ?? 0
                    }
                } else {
                    result.matches += matcher.decline(ticket, by: expert).count
                }
            } else if roll < 5 {
                _ = matcher.expertUnavailable(expert)
            } else if !matcher.isAvailable(expert) {
                result.matches += (try? matcher.expertAvailable(expert, queues: skills))?.count ?? 0
            }
        }
        if mine.count > 64 { mine.removeFirst(32) }
    }
    return result
}

/// The same workload against the actor: each thread is a task, each call an await.
func runActor(_ matcher: ActorMatcher, thread: Int, threads: Int, operations: Int) async -> ThreadResult {
    var workload = Workload(thread: thread, threads: threads)
    var result = ThreadResult()
    var mine: [TicketID] = []
    let clock = ContinuousClock()
    for _ in 0..<operations {
        switch workload.next() {
        case .request(let queue):
            let start = clock.now
            guard let (ticket, match) = try? await matcher.request(queue) else { continue }
            let elapsed = clock.now - start
            mine.append(ticket)
            if let match {
                result.matches += 1
                if match.ticket == ticket { _ = result.latency.record(UInt64(elapsed.nanoseconds)) }
            }
        case .cancel:
            if let ticket = mine.popLast() { _ = await matcher.cancel(ticket) }
        case .expert(let expert, let skills, let roll):
            if let ticket = await matcher.offer(for: expert) {
                if roll < 90 {
                    if await matcher.accept(ticket, by: expert),
                        await matcher.expertAvailable(expert, queues: skills) != nil
                    {
                        result.matches += 1
                    }
                } else if await matcher.decline(ticket, by: expert) != nil {
                    result.matches += 1
                }
            } else if roll < 5 {
                _ = await matcher.expertUnavailable(expert)
            } else if await !matcher.isAvailable(expert), await matcher.expertAvailable(expert, queues: skills) != nil {
                result.matches += 1
            }
        }
        if mine.count > 64 { mine.removeFirst(32) }
    }
    return result
}

extension Duration {
    var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

struct Measurement {
    var name: String
    var threads: Int
    var matchesPerSecond: Double
    var p50: Double
    var p99: Double
    var p999: Double
    /// Matches per 1,000 operations and open tickets left at the end: the same workload should give about
    /// the same for every matcher, which shows they did the same work (and how deep the queues got).
    var matchesPerThousand: Double
    var openAtEnd: Int
}

func summarize(
    _ name: String, threads: Int, operations: Int, elapsed: Duration, results: [ThreadResult], openAtEnd: Int
) -> Measurement {
    var latency = results[0].latency
    for other in results.dropFirst() { latency.add(other.latency) }
    let matches = results.map(\.matches).reduce(0, +)
    return Measurement(
        name: name,
        threads: threads,
        matchesPerSecond: Double(matches) / elapsed.seconds,
        p50: Double(latency.valueAtPercentile(50)) / 1_000,
        p99: Double(latency.valueAtPercentile(99)) / 1_000,
        p999: Double(latency.valueAtPercentile(99.9)) / 1_000,
        matchesPerThousand: Double(matches) * 1_000 / Double(threads * operations),
        openAtEnd: openAtEnd
    )
}

/// Runs `runSync` on `threads` threads of their own against one matcher.
func measureThreads(_ name: String, _ matcher: some ConcurrentMatcher, threads: Int, operations: Int) -> Measurement {
    let results = UnsafeMutableBufferPointer<ThreadResult>.allocate(capacity: threads)
    results.initialize(repeating: ThreadResult())
    defer { results.deallocate() }
    nonisolated(unsafe) let slots = results
    let done = DispatchGroup()
    let start = ContinuousClock.now
    for thread in 0..<threads {
        done.enter()
        Thread.detachNewThread {
            slots[thread] = runSync(matcher, thread: thread, threads: threads, operations: operations)
            done.leave()
        }
    }
    done.wait()
    let elapsed = ContinuousClock.now - start
    let open = Workload.queues.map { matcher.snapshot(of: $0).depth }.reduce(0, +)
    return summarize(
        name, threads: threads, operations: operations, elapsed: elapsed, results: Array(results), openAtEnd: open)
}

func measureActor(threads: Int, operations: Int) async -> Measurement {
    let matcher = ActorMatcher(capacityPerQueue: Workload.capacityPerQueue)
    let start = ContinuousClock.now
    let results = await withTaskGroup(of: ThreadResult.self) { group in
        for thread in 0..<threads {
            group.addTask { await runActor(matcher, thread: thread, threads: threads, operations: operations) }
        }
        return await group.reduce(into: []) { $0.append($1) }
    }
    let elapsed = ContinuousClock.now - start
    var open = 0
    for queue in Workload.queues { open += await matcher.snapshot(of: queue).depth }
    return summarize(
        "actor", threads: threads, operations: operations, elapsed: elapsed, results: results, openAtEnd: open)
}

@main
struct MatcherBenchmark {
    static func main() async {
        let arguments = CommandLine.arguments
        let operations = arguments.count > 1 ? Int(arguments[1]) ?? 400_000 : 400_000
        let threadCounts = arguments.count > 2 ? arguments[2].split(separator: ",").compactMap { Int($0) } : [1, 2, 4]
        var rows: [Measurement] = []
        for threads in threadCounts {
            // Each matcher fresh for each run; the same capacity for all.
            let lockFree = LockFreeMatcher(
                queues: Workload.queues, experts: Workload.experts, capacityPerQueue: Workload.capacityPerQueue)
            rows.append(measureThreads("lockfree", lockFree, threads: threads, operations: operations))
            let locked = LockedMatcher(capacityPerQueue: Workload.capacityPerQueue)
            rows.append(measureThreads("locked", locked, threads: threads, operations: operations))
            rows.append(await measureActor(threads: threads, operations: operations))
        }
        print("| matcher | threads | matches/s | request p50 us | p99 us | p99.9 us | matches/1k ops | open at end |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for row in rows {
            print(
                "| \(row.name) | \(row.threads) | \(Int(row.matchesPerSecond)) | "
                    + String(format: "%.2f | %.2f | %.2f | %.1f |", row.p50, row.p99, row.p999, row.matchesPerThousand)
                    + " \(row.openAtEnd) |"
            )
        }
        // The summary is taken at 2 threads (issue 3), or the first thread count when 2 was not run.
        let summaryThreads = threadCounts.contains(2) ? 2 : threadCounts[0]
        func row(_ name: String) -> Measurement { rows.first { $0.name == name && $0.threads == summaryThreads }! }
        let lockFree = row("lockfree")
        let locked = row("locked")
        let actor = row("actor")
        print(
            "matcher: lockfree_mps=\(Int(lockFree.matchesPerSecond)) locked_mps=\(Int(locked.matchesPerSecond)) "
                + "actor_mps=\(Int(actor.matchesPerSecond)) "
                + String(format: "ratio_vs_locked=%.2f ", lockFree.matchesPerSecond / locked.matchesPerSecond)
                + String(format: "p99_us=%.2f", lockFree.p99)
        )
    }
}

import Foundation
import Histogram
import NIOConcurrencyHelpers

/// What the clients of one run saw, counted from every task (one lock), and what they were told, for the
/// ledger check.
final class Tally: Sendable {
    struct State {
        var requested = 0
        var offered = 0
        var answered = 0
        var abandoned = 0
        var completed = 0
        var declined = 0
        var throttled = 0
        /// An Accept that crossed the customer's cancel (OFFER_EXPIRED): a race of the day, not an error.
        var crossed = 0
        var errors: [String: Int] = [:]
        /// Customer waits, request to SessionStarted, in milliseconds.
        var waits = Histogram<UInt64>(highestTrackableValue: 3_600_000, numberOfSignificantValueDigits: .three)
        /// RequestService sent (terminal) to Offer read (expert), in microseconds.
        var offerLatency = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        /// Tickets whose request time is known and whose offer is not yet seen, and the reverse.
        var requestedAt: [String: UInt64] = [:]
        var offeredAt: [String: UInt64] = [:]
        var told = Told()
        /// rate and burst: open tickets per point (the daemon's limit counts per point), and requests done.
        var openByPoint: [String: Int] = [:]
        var settled = 0
    }

    private let state = NIOLockedValueBox(State())

    func update<T>(_ body: (inout State) -> T) -> T { state.withLockedValue(body) }

    func error(_ what: String) { update { $0.errors[what, default: 0] += 1 } }

    func openTickets(point: String) -> Int { update { $0.openByPoint[point] ?? 0 } }

    /// A request is done (its session ended, or it was refused).
    func settled() { update { $0.settled += 1 } }

    /// Waits until every request sent is done, at most 60 s (then the rest count as an error).
    func waitUntilSettled() async {
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        while ContinuousClock.now < deadline {
            if update({ $0.settled >= $0.requested }) { return }
            try? await Task.sleep(for: .milliseconds(20))
        }
        update { $0.errors["unanswered after 60 s", default: 0] += $0.requested - $0.settled }
    }

    /// The ticket's request left at `sentNanos`; pairs it with its offer for the latency.
    func requested(ticket: String, sentNanos: UInt64) {
        update { state in
            if let offered = state.offeredAt.removeValue(forKey: ticket) {
                state.offerLatency.record((offered &- min(offered, sentNanos)) / 1_000)
            } else {
                state.requestedAt[ticket] = sentNanos
            }
        }
    }

    /// An expert read the ticket's Offer at `nanos`.
    func offered(ticket: String, nanos: UInt64) {
        update { state in
            state.offered += 1
            if let sent = state.requestedAt.removeValue(forKey: ticket) {
                state.offerLatency.record((nanos &- min(nanos, sent)) / 1_000)
            } else {
                state.offeredAt[ticket] = nanos
            }
        }
    }

    /// One progress line: offered, answered, abandoned, waits, errors.
    func progressLine(elapsed: Double) -> String {
        update { state in
            let errors = state.errors.values.reduce(0, +)
            return String(
                format:
                    "t=%.0fs requested %d offered %d answered %d abandoned %d completed %d wait p50 %.2fs p99 %.2fs errors %d",
                elapsed, state.requested, state.offered, state.answered, state.abandoned, state.completed,
                Double(state.waits.valueAtPercentile(50)) / 1_000, Double(state.waits.valueAtPercentile(99)) / 1_000,
                errors)
        }
    }

    func summary(scenario: String, seconds: Double, extra: [String: Double]) -> Summary {
        update { state in
            Summary(
                scenario: scenario, seconds: seconds, requested: state.requested, offered: state.offered,
                answered: state.answered, abandoned: state.abandoned, completed: state.completed,
                declined: state.declined, throttled: state.throttled, errors: state.errors,
                waitP50Seconds: Double(state.waits.valueAtPercentile(50)) / 1_000,
                waitP99Seconds: Double(state.waits.valueAtPercentile(99)) / 1_000,
                offerP50Milliseconds: Double(state.offerLatency.valueAtPercentile(50)) / 1_000,
                offerP99Milliseconds: Double(state.offerLatency.valueAtPercentile(99)) / 1_000,
                offerP999Milliseconds: Double(state.offerLatency.valueAtPercentile(99.9)) / 1_000,
                offerSamples: Int(state.offerLatency.totalCount), extra: extra)
        }
    }
}

/// The end of a run, printed and written with `--json`.
struct Summary: Codable {
    var scenario: String
    var seconds: Double
    var requested: Int
    var offered: Int
    var answered: Int
    var abandoned: Int
    var completed: Int
    var declined: Int
    var throttled: Int
    var errors: [String: Int]
    var waitP50Seconds: Double
    var waitP99Seconds: Double
    var offerP50Milliseconds: Double
    var offerP99Milliseconds: Double
    var offerP999Milliseconds: Double
    var offerSamples: Int
    var extra: [String: Double]
}

/// What the daemon told the clients: each ticket's end and each session's, as the ledger should hold them.
struct Told: Codable, Equatable {
    /// Ticket id (`t-N`) to "outcome/reason" as the ledger writes it (`completed/expert-ended`,
    /// `cancelled/customer`, `cancelled/queue-closed`).
    var tickets: [String: String] = [:]
    /// Session id (`s-N`) to its ticket id and "outcome/reason".
    var sessions: [String: SessionEnd] = [:]

    struct SessionEnd: Codable, Equatable {
        var ticket: String
        var end: String
    }
}

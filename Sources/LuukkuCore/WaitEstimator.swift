/// An honest estimate of how long a waiting customer still has to wait, for one queue (agency x language).
///
/// It keeps the handling times (session plus wrap-up) of the most recent sessions of the queue. For a ticket
/// at position `p` with `n` experts serving the queue and `a` of them available right now:
/// - `p <= a`: an expert is free for it, the estimate is zero;
/// - otherwise `k = p - a` experts must finish first. With `n` experts working in parallel that takes
///   `r = ceil(k / n)` rounds of the mean handling time `h`; the first round is on average half done already
///   (sessions in progress are at a random point), so the estimate is `(r - 1/2) * h`.
/// - with no expert serving the queue there is no honest estimate: `nil` (QueueStatus omits it).
///
/// Until the queue has history, ``prior`` stands in for `h` (the broker's fixed 300 s).
/// The query is O(1): the server may call it after every change of a queue.
public struct WaitEstimator: Sendable {
    /// Handling time assumed before any session of this queue has ended.
    public let prior: Duration
    /// How many recent sessions the mean is taken over.
    public let window: Int
    private var recent: [Duration] = []
    private var next = 0
    private var sum: Duration = .zero

    public init(prior: Duration, window: Int = 20) {
        precondition(window >= 1, "window must hold at least one session")
        self.prior = prior
        self.window = window
        recent.reserveCapacity(window)
    }

    /// Records the handling time of a session that just ended (from SessionStarted to wrap-up done).
    public mutating func record(handlingTime: Duration) {
        let time = max(handlingTime, .zero)
        if recent.count < window {
            recent.append(time)
        } else {
            sum -= recent[next]
            recent[next] = time
            next = (next + 1) % window
        }
        sum += time
    }

    /// Sessions the mean is taken over (at most ``window``).
    public var sampleCount: Int { recent.count }

    /// Mean handling time of the recent sessions, or the prior without any.
    public var meanHandlingTime: Duration {
        recent.isEmpty ? prior : sum / recent.count
    }

    /// The estimate for a ticket at `position` (1 = next), or `nil` when no expert serves the queue.
    public func estimate(position: Int, expertsServing: Int, expertsAvailable: Int) -> Duration? {
        guard expertsServing > 0 else { return nil }
        let ahead = position - min(max(expertsAvailable, 0), expertsServing)
        guard ahead > 0 else { return .zero }
        let rounds = (ahead + expertsServing - 1) / expertsServing
        return meanHandlingTime * (2 * rounds - 1) / 2
    }
}

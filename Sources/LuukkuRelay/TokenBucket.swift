/// A token bucket (rate limit) for one leg: up to `burst` units at once, refilled at `ratePerSecond`.
/// Integer arithmetic in nano-units, no clock read inside (the caller passes a monotonic time in
/// nanoseconds), no allocation: it runs once per packet on the relay's hot path.
public struct TokenBucket: Hashable, Sendable {
    public let ratePerSecond: UInt64
    public let burst: UInt64
    /// Tokens times 10^9, so that refilling by `elapsed ns x rate` needs no division.
    private var scaledTokens: UInt64
    private var lastRefill: UInt64
    /// Nanoseconds an empty bucket takes to fill: longer gaps are clamped to it (and so cannot overflow).
    private let fillTime: UInt64

    /// Starts full at `now`.
    /// - Precondition: `ratePerSecond` > 0 and 0 < `burst` <= 10^9 (checked by the configuration).
    public init(ratePerSecond: UInt64, burst: UInt64, now: UInt64) {
        precondition(ratePerSecond > 0 && burst > 0 && burst <= 1_000_000_000, "rate limit out of range")
        self.ratePerSecond = ratePerSecond
        self.burst = burst
        scaledTokens = burst * 1_000_000_000
        lastRefill = now
        fillTime = (burst * 1_000_000_000) / ratePerSecond + 1
    }

    /// Takes `amount` units if the bucket holds them; `false` (and nothing taken) when over the rate.
    public mutating func take(_ amount: UInt64, now: UInt64) -> Bool {
        if now > lastRefill {
            let elapsed = min(now - lastRefill, fillTime)
            scaledTokens = min(burst * 1_000_000_000, scaledTokens + elapsed * ratePerSecond)
            lastRefill = now
        }
        guard amount <= burst else { return false }
        let needed = amount * 1_000_000_000
        guard scaledTokens >= needed else { return false }
        scaledTokens -= needed
        return true
    }
}

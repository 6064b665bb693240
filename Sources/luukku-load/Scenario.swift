import Foundation
import LuukkuCore

/// The national-day scenario's rates and shares (Benchmarks/national-day.json, with the sources of its
/// figures): when customers come, from where, for which agency, in which language, how long they are served
/// and how long they wait before giving up; what experts do between customers.
struct DayProfile: Codable {
    /// Customers on a whole day, nationally.
    var customersPerDay: Double
    /// Opening hours, local time: [first, last) hour.
    var openingHours: [Int]
    /// Relative arrival intensity per opening hour (one weight per hour of `openingHours`).
    var hourlyWeights: [Double]
    /// Share of the customers per service point id (normalised).
    var pointShares: [String: Double]
    /// Share of the customers per agency id (normalised).
    var agencyShares: [String: Double]
    /// Share of Swedish-speaking customers per point; other points `defaultSwedishShare`.
    var swedishShares: [String: Double]
    var defaultSwedishShare: Double
    /// Handling time of a session: log-normal with this mean (minutes) and log-space sigma.
    var handlingMinutesMean: Double
    var handlingSigma: Double
    /// Wrap-up after a session (seconds), before WrapUpDone.
    var wrapUpSeconds: Double
    /// Probability that an expert declines an offer.
    var declineProbability: Double
    /// A waiting customer gives up after an exponential time with this mean (minutes).
    var patienceMinutesMean: Double
    /// After a wrap-up an expert takes a break with this probability, for this long (minutes).
    var breakProbability: Double
    var breakMinutes: Double
    /// Where the figures come from.
    var sources: [String]

    /// Arrivals per real second at `hour` (fractional hours from midnight), times `scale`.
    func rate(atHour hour: Double, scale: Double) -> Double {
        let first = Double(openingHours[0])
        let index = Int(hour - first)
        guard index >= 0, index < hourlyWeights.count else { return 0 }
        let total = hourlyWeights.reduce(0, +)
        return customersPerDay * hourlyWeights[index] / total / 3_600 * scale
    }

    /// The busiest hour's rate per real second, times `scale`.
    func peakRate(scale: Double) -> Double {
        customersPerDay * (hourlyWeights.max() ?? 0) / hourlyWeights.reduce(0, +) / 3_600 * scale
    }
}

/// Draws from the profile's distributions with a seeded generator, so that a run can be repeated.
struct Draw {
    var random: SplitMix

    mutating func unit() -> Double { Double(random.next() >> 11) / Double(1 << 53) }

    /// One of `shares`' keys, with probability proportional to its share (among `allowed`, if given).
    mutating func pick(_ shares: [String: Double], among allowed: Set<String>? = nil) -> String? {
        let entries = shares.filter { allowed?.contains($0.key) ?? true }.sorted { $0.key < $1.key }
        let total = entries.reduce(0) { $0 + $1.value }
        guard total > 0 else { return nil }
        var target = unit() * total
        for (key, share) in entries {
            target -= share
            if target < 0 { return key }
        }
        return entries.last?.key
    }

    mutating func exponential(mean: Double) -> Double { -mean * log(1 - unit()) }

    /// Log-normal with the given mean and log-space sigma (Box-Muller).
    mutating func logNormal(mean: Double, sigma: Double) -> Double {
        let normal = (-2 * log(1 - unit())).squareRoot() * cos(2 * .pi * unit())
        return mean * exp(sigma * normal - sigma * sigma / 2)
    }
}

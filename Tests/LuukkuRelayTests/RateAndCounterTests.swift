import LuukkuCore
import LuukkuRelay
import Testing

@Suite struct RateAndCounterTests {
    static let second: UInt64 = 1_000_000_000

    @Test func bucketAllowsTheBurstThenTheRate() {
        // 1,000 packets a second, bursts of 100; time is passed in, so the test needs no clock.
        // (Results are bound before #expect: it cannot take a mutating call.)
        var bucket = TokenBucket(ratePerSecond: 1_000, burst: 100, now: 0)
        let burst = (0..<100).map { _ in bucket.take(1, now: 0) }
        let afterBurst = bucket.take(1, now: 0)
        let oneMillisecondLater = bucket.take(1, now: Self.second / 1_000)
        let andThen = bucket.take(1, now: Self.second / 1_000)
        #expect(burst.allSatisfy { $0 } && !afterBurst, "the burst, then nothing")
        #expect(oneMillisecondLater && !andThen, "one token back after 1 ms")
        // Over one second at twice the rate, exactly half pass.
        var paced = TokenBucket(ratePerSecond: 1_000, burst: 1, now: 0)
        let passed = (1...2_000).filter { paced.take(1, now: UInt64($0) * Self.second / 2_000) }.count
        #expect(passed == 1_000)
    }

    @Test func longSilenceRefillsToTheBurstOnlyAndCannotOverflow() {
        var bucket = TokenBucket(ratePerSecond: 3_000_000, burst: 1_000_000, now: 0)  // bytes: 24 Mbit/s
        let first = bucket.take(1_000_000, now: 0)
        let empty = bucket.take(1, now: 0)
        let aDayLater: UInt64 = 86_400 * Self.second
        let refilled = bucket.take(1_000_000, now: aDayLater)
        let noFuller = bucket.take(1, now: aDayLater)
        let overBurst = bucket.take(1_000_001, now: UInt64.max)
        #expect(first && !empty)
        #expect(refilled && !noFuller, "full again after a day, but no fuller than the burst")
        #expect(!overBurst, "more than the burst never passes")
    }

    @Test func dropsAreCountedByReason() {
        var counters = LegCounters()
        counters.drop(DropReason(SRTPError(.authenticationFailed)))
        counters.drop(DropReason(SRTPError(.replayed)))
        counters.drop(DropReason(SRTPError(.replayed)))
        counters.drop(.overRate)
        counters.drop(DropReason(SRTPError(.library(13))))
        #expect(counters.drops(.authenticationFailed) == 1 && counters.drops(.replayed) == 2)
        #expect(counters.drops(.overRate) == 1 && counters.drops(.malformed) == 1)
        #expect(counters.drops(.notLatched) == 0 && counters.drops(.unknownPort) == 0)
        #expect(counters.totalDrops == 5)
    }
}

/// The configuration file's `relay` section becomes the relay's configuration.
@Suite struct RelayConfigurationMappingTests {
    @Test func fileValuesAndDefaultsMap() {
        var section = Configuration.Relay()
        section.bindAddress = "127.0.0.1"
        section.firstPort = 50_000
        section.lastPort = 50_099
        section.workers = 3
        section.packetsPerSecond = 4_000
        section.burstPackets = 800
        section.mediaSilenceSeconds = 12
        section.crypto = .nss
        let relay = RelayConfiguration(section)
        #expect(relay.bindAddress == "127.0.0.1" && relay.ports == 50_000...50_099 && relay.workers == 3)
        #expect(relay.packetsPerSecond == 4_000 && relay.burstPackets == 800)
        #expect(relay.mediaSilenceTimeoutNanoseconds == 12_000_000_000 && relay.cryptoBackend == .nss)
        let defaults = RelayConfiguration(Configuration.Relay())
        #expect(defaults.workers == RelayConfiguration.processorCount && defaults.cryptoBackend == .openssl)
        #expect(defaults.packetsPerSecond == RelayConfiguration().packetsPerSecond)
        #expect(defaults.burstPackets == RelayConfiguration().burstPackets)
        #expect(defaults.ports == RelayConfiguration().ports)
    }
}

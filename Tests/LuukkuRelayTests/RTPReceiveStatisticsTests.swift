import LuukkuRelay
import Testing

/// RFC 3550 Appendix A reception statistics on synthetic streams whose loss and jitter are known.
@Suite struct RTPReceiveStatisticsTests {
    /// A 90 kHz video stream at 30 frames a second: 3,000 timestamp units a packet.
    static func feed(
        _ statistics: inout RTPReceiveStatistics, sequences: some Sequence<UInt16>, delay: (Int) -> UInt32 = { _ in 0 }
    ) {
        for (index, sequence) in sequences.enumerated() {
            let timestamp = UInt32(sequence) &* 3_000
            statistics.record(sequence: sequence, timestamp: timestamp, arrival: timestamp &+ 500 &+ delay(index))
        }
    }

    @Test func inOrderStreamLosesNothingAndHasNoJitter() {
        var statistics = RTPReceiveStatistics()
        Self.feed(&statistics, sequences: 1_000..<1_100)
        // The first packet is the source's probation packet (A.1): 99 counted.
        #expect(statistics.received == 99 && statistics.expected == 99 && statistics.lost == 0)
        #expect(statistics.extendedHighestSequence == 1_099)
        #expect(statistics.jitter == 0)
    }

    @Test func gapsAreCountedAsLost() {
        var statistics = RTPReceiveStatistics()
        let dropped: Set<UInt16> = [10, 11, 12, 50, 77]
        Self.feed(&statistics, sequences: (0..<100).filter { !dropped.contains($0) })
        #expect(statistics.lost == 5)
    }

    @Test func wrapAroundExtendsTheSequence() {
        var statistics = RTPReceiveStatistics()
        Self.feed(&statistics, sequences: (0..<200).map { UInt16(truncatingIfNeeded: 65_450 + $0) })
        #expect(statistics.extendedHighestSequence == 65_536 + 113)
        #expect(statistics.lost == 0 && statistics.received == 199)
    }

    @Test func reorderedPacketsAreNotLostAndDuplicatesMakeLossNegative() {
        var statistics = RTPReceiveStatistics()
        Self.feed(&statistics, sequences: [1, 2, 3, 5, 4, 6, 7, 7, 8] as [UInt16])
        #expect(statistics.expected == 7 && statistics.received == 8 && statistics.lost == -1)
    }

    @Test func aRestartedSourceIsFollowedAfterTwoPackets() {
        var statistics = RTPReceiveStatistics()
        Self.feed(&statistics, sequences: 100..<120)
        // A jump of 20,000: the first packet after it is not counted, the second confirms the restart.
        let jump = statistics.record(sequence: 20_000, timestamp: 0, arrival: 0)
        let confirmed = statistics.record(sequence: 20_001, timestamp: 3_000, arrival: 3_000)
        #expect(!jump && confirmed)
        #expect(statistics.extendedHighestSequence == 20_001 && statistics.lost == 0)
    }

    @Test func jitterFollowsTheTransitTimeVariation() {
        var statistics = RTPReceiveStatistics()
        // Every other packet is 180 units (2 ms at 90 kHz) late: each transit differs from the last by 180.
        Self.feed(&statistics, sequences: 0..<300, delay: { $0 % 2 == 0 ? 0 : 180 })
        // J += (|D| - J) / 16 converges to |D|: after 298 steps it is within 180 * (15/16)^298 of it.
        #expect(statistics.jitter == 179 || statistics.jitter == 180)
        #expect(statistics.lost == 0)
    }

    /// An authenticated peer can make the sequence wrap every 22 packets once its source is valid (steps of
    /// 2,999 count as in order): after more than 2^16 wraps the cycle count itself wraps, as in RFC 3550's 32-bit
    /// arithmetic, and the extended sequence stays the true one modulo 2^32.
    @Test func theCycleCountWrapsInsteadOfTrapping() {
        var statistics = RTPReceiveStatistics()
        let packets = 1_500_000
        var accepted = 0
        for index in 0..<packets {
            // 0, 1, 2 pass probation; then steps of 2,999.
            let sequence = index <= 2 ? index : 2 + (index - 2) * 2_999
            let counted = statistics.record(
                sequence: UInt16(truncatingIfNeeded: sequence), timestamp: UInt32(truncatingIfNeeded: index), arrival: 0
            )
            if counted { accepted += 1 }
        }
        #expect(accepted == packets - 1, "all but the first, which was on probation")
        #expect(statistics.extendedHighestSequence == UInt32(truncatingIfNeeded: 2 + (packets - 3) * 2_999))
    }
}

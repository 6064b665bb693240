/// Reception statistics of one RTP source, computed as RFC 3550 Appendix A does: sequence-number tracking
/// with wrap-around, probation and restart (A.1), expected and lost packets (A.3), and interarrival jitter
/// (A.8). A value type updated per packet; no clock is read inside (the caller passes each packet's arrival
/// time in the stream's RTP clock units). Packet and byte counts of a leg are kept apart from this: these
/// are the figures an RTCP report block carries.
public struct RTPReceiveStatistics: Hashable, Sendable {
    static let maxDropout: UInt16 = 3_000
    static let maxMisorder: UInt16 = 100
    static let minSequential = 2
    static let sequenceModulus: UInt32 = 1 << 16

    private var started = false
    private var probation = 0
    private var maxSequence: UInt16 = 0
    private var cycles: UInt32 = 0
    private var baseSequence: UInt32 = 0
    private var badSequence: UInt32 = sequenceModulus + 1
    private var lastTransit: Int64?
    private var jitterEstimate: Double = 0

    /// Packets counted since the source was validated (A.1: duplicates included, probation packets not).
    public private(set) var received: UInt64 = 0

    public init() {}

    /// Records one packet. Returns `false` when A.1 does not count it: while the source is on probation
    /// (its first packet), or for a very large jump not yet confirmed as a restart by the next packet.
    @discardableResult
    public mutating func record(sequence: UInt16, timestamp: UInt32, arrival: UInt32) -> Bool {
        if !started {  // a new source: A.1 starts it on probation
            started = true
            initSequence(sequence)
            maxSequence = sequence &- 1
            probation = Self.minSequential
        }
        guard updateSequence(sequence) else { return false }
        // A.8: the difference of relative transit times, smoothed with gain 1/16.
        let transit = Int64(Int32(bitPattern: arrival &- timestamp))
        if let last = lastTransit { jitterEstimate += (Double(abs(transit - last)) - jitterEstimate) / 16 }
        lastTransit = transit
        return true
    }

    /// The highest sequence number received, extended with the count of wrap-arounds (A.3).
    public var extendedHighestSequence: UInt32 { cycles + UInt32(maxSequence) }

    /// Packets expected from the first counted to the highest sequence number (A.3).
    public var expected: Int64 { received == 0 ? 0 : Int64(extendedHighestSequence) - Int64(baseSequence) + 1 }

    /// Expected minus received; negative when duplicates arrived (A.3).
    public var lost: Int64 { expected - Int64(received) }

    /// Interarrival jitter in RTP timestamp units (A.8), as an RTCP report block carries it.
    public var jitter: UInt32 { UInt32(jitterEstimate) }

    /// A.1 `init_seq`.
    private mutating func initSequence(_ sequence: UInt16) {
        baseSequence = UInt32(sequence)
        maxSequence = sequence
        badSequence = Self.sequenceModulus + 1
        cycles = 0
        received = 0
    }

    /// A.1 `update_seq`.
    private mutating func updateSequence(_ sequence: UInt16) -> Bool {
        let delta = sequence &- maxSequence
        if probation > 0 {
            if sequence == maxSequence &+ 1 {  // in sequence
                probation -= 1
                maxSequence = sequence
                if probation == 0 {
                    initSequence(sequence)
                    received += 1
                    return true
                }
            } else {
                probation = Self.minSequential - 1
                maxSequence = sequence
            }
            return false
        }
        if delta < Self.maxDropout {  // in order, with a permissible gap
            if sequence < maxSequence { cycles &+= Self.sequenceModulus }  // wraps after 2^16 cycles, as in RFC 3550
            maxSequence = sequence
        } else if UInt32(delta) <= Self.sequenceModulus - UInt32(Self.maxMisorder) {  // a very large jump
            guard UInt32(sequence) == badSequence else {
                badSequence = (UInt32(sequence) + 1) & (Self.sequenceModulus - 1)
                return false
            }
            initSequence(sequence)  // two in a row: the source restarted
        }
        // Otherwise a duplicate or a reordered packet: counted, the highest stays.
        received += 1
        return true
    }
}

/// What a peer says in RTCP about the media it receives (RFC 3550 section 6.4): one report block of a sender or
/// receiver report, read in place from a decrypted compound packet.
public struct RTCPReportBlock: Hashable, Sendable {
    /// The source the block reports on.
    public let ssrc: UInt32
    /// Fraction of packets lost since the previous report, in 1/256.
    public let fractionLost: UInt8
    /// Cumulative packets lost (signed: duplicates can make it negative).
    public let cumulativeLost: Int32
    public let extendedHighestSequence: UInt32
    /// Interarrival jitter in RTP timestamp units.
    public let jitter: UInt32
    /// Middle 32 bits of the NTP time of the last sender report received (0: none yet).
    public let lastSenderReport: UInt32
    /// Delay since that sender report, in 1/65536 seconds.
    public let delaySinceLastSenderReport: UInt32
}

/// Walks an RTCP compound packet (after SRTCP unprotect): the NTP time of a sender report and the report blocks
/// of sender and receiver reports. Other packet types (SDES, BYE, APP, feedback) are stepped over. Never reads
/// past the buffer; stops at the first malformed length.
public enum RTCPCompound {
    /// Calls `senderReport` with the middle 32 bits of each SR's NTP timestamp and `block` with each report block.
    /// Returns false when the compound is malformed (what was read before the fault was still reported).
    @inline(__always)
    public static func walk(
        _ packet: UnsafeRawBufferPointer,
        senderReport: (_ ntpMiddle: UInt32) -> Void,
        block: (RTCPReportBlock) -> Void
    ) -> Bool {
        var offset = 0
        while offset + 4 <= packet.count {
            let first = packet[offset]
            guard first >> 6 == 2 else { return false }
            let count = Int(first & 0x1F)
            let type = packet[offset + 1]
            let length = (Int(packet[offset + 2]) << 8 | Int(packet[offset + 3]) + 1) * 4
            guard offset + length <= packet.count else { return false }
            var blocks = offset + 8
            switch type {
            case 200:  // SR: sender SSRC, NTP (8), RTP timestamp, packet count, octet count, then blocks
                guard length >= 28 else { return false }
                senderReport(read32(packet, offset + 10))  // the middle 32 bits of the 64-bit NTP time
                blocks = offset + 28
            case 201:  // RR: sender SSRC, then blocks
                guard length >= 8 else { return false }
            default:
                offset += length
                continue
            }
            guard blocks + count * 24 <= offset + length else { return false }
            for index in 0..<count {
                let at = blocks + index * 24
                let lost = read32(packet, at + 4) & 0x00FF_FFFF
                block(
                    RTCPReportBlock(
                        ssrc: read32(packet, at),
                        fractionLost: packet[at + 4],
                        cumulativeLost: Int32(bitPattern: lost & 0x0080_0000 != 0 ? lost | 0xFF00_0000 : lost),
                        extendedHighestSequence: read32(packet, at + 8),
                        jitter: read32(packet, at + 12),
                        lastSenderReport: read32(packet, at + 16),
                        delaySinceLastSenderReport: read32(packet, at + 20)
                    ))
            }
            offset += length
        }
        return offset == packet.count
    }

    @inline(__always)
    static func read32(_ packet: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
        UInt32(packet[at]) << 24 | UInt32(packet[at + 1]) << 16 | UInt32(packet[at + 2]) << 8 | UInt32(packet[at + 3])
    }
}

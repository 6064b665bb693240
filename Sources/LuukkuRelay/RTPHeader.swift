/// The fixed RTP header fields the relay reads (RFC 3550 section 5.1), and RTP/RTCP demultiplexing on one
/// port (RFC 5761 section 4). Read from a buffer the caller owns; nothing is copied.
public struct RTPHeader: Hashable, Sendable {
    public let payloadType: UInt8
    public let marker: Bool
    public let sequenceNumber: UInt16
    public let timestamp: UInt32
    public let ssrc: UInt32

    /// What arrived on a multiplexed port.
    public enum Kind: Hashable, Sendable { case rtp, rtcp }

    /// RTP or RTCP, by the second octet (RFC 5761 section 4: RTCP packet types 192-223 fall on payload types
    /// 64-95 with the marker bit, which RTP must not use when multiplexing). `nil` when the packet is too
    /// short for either or its version is not 2.
    public static func kind(of packet: UnsafeRawBufferPointer) -> Kind? {
        guard packet.count >= 8, packet[0] >> 6 == 2 else { return nil }
        return (192...223).contains(packet[1]) ? .rtcp : (packet.count >= 12 ? .rtp : nil)
    }

    /// Parses the fixed header; `nil` for anything shorter than 12 octets, not version 2, or whose CSRC list
    /// runs past the end.
    public init?(_ packet: UnsafeRawBufferPointer) {
        guard packet.count >= 12, packet[0] >> 6 == 2, packet.count >= 12 + 4 * Int(packet[0] & 0x0F) else {
            return nil
        }
        func word(_ at: Int) -> UInt32 {
            UInt32(packet[at]) << 24 | UInt32(packet[at + 1]) << 16 | UInt32(packet[at + 2]) << 8
                | UInt32(packet[at + 3])
        }
        marker = packet[1] & 0x80 != 0
        payloadType = packet[1] & 0x7F
        sequenceNumber = UInt16(packet[2]) << 8 | UInt16(packet[3])
        timestamp = word(4)
        ssrc = word(8)
    }
}

/// The VP8 payload descriptor of an RTP packet (RFC 7741 section 4.2) and, in the packet that starts a frame,
/// the key-frame bit of the VP8 payload header (section 4.3). Read in place; nil for a payload too short for
/// what its flags announce.
///
/// The engine uses it to count frames and key frames it sends, and to hold back, before the path through the
/// relay is open, only what a receiver can decode: the packets from the latest key frame on.
public struct VP8Descriptor: Hashable, Sendable {
    /// S = 1 and partition index 0: this packet carries the first octets of a frame.
    public let startsFrame: Bool
    /// In a packet that starts a frame: the frame is a key frame (P = 0 in the payload header).
    public let isKeyFrame: Bool
    /// The picture id, when present (7 or 15 bits).
    public let pictureID: UInt16?
    /// Octets of descriptor before the VP8 payload.
    public let length: Int

    public init?(_ payload: UnsafeRawBufferPointer) {
        guard payload.count >= 1 else { return nil }
        let first = payload[0]
        var offset = 1
        var pictureID: UInt16?
        if first & 0x80 != 0 {  // X: an extension octet follows
            guard payload.count > offset else { return nil }
            let extensions = payload[offset]
            offset += 1
            if extensions & 0x80 != 0 {  // I: picture id
                guard payload.count > offset else { return nil }
                if payload[offset] & 0x80 != 0 {  // M: 15 bits
                    guard payload.count > offset + 1 else { return nil }
                    pictureID = UInt16(payload[offset] & 0x7F) << 8 | UInt16(payload[offset + 1])
                    offset += 2
                } else {
                    pictureID = UInt16(payload[offset])
                    offset += 1
                }
            }
            if extensions & 0x40 != 0 { offset += 1 }  // L: TL0PICIDX
            if extensions & 0x30 != 0 { offset += 1 }  // T or K: TID/Y/KEYIDX
        }
        guard payload.count >= offset else { return nil }
        let starts = first & 0x10 != 0 && first & 0x0F == 0
        if starts {
            guard payload.count > offset else { return nil }
            isKeyFrame = payload[offset] & 0x01 == 0
        } else {
            isKeyFrame = false
        }
        startsFrame = starts
        self.pictureID = pictureID
        length = offset
    }
}

/// The RTCP the engine writes (RFC 3550 section 6): a compound of a sender report (or a receiver report, for a
/// source that has sent nothing yet) per own source, one SDES with each source's CNAME, and BYE when it
/// leaves. The GStreamer child does no RTCP: it has no socket.
enum RTCPPackets {
    /// A report block about one received source (RFC 3550 section 6.4.1).
    struct Block {
        var ssrc: UInt32
        var fractionLost: UInt8
        var cumulativeLost: Int32
        var extendedHighestSequence: UInt32
        var jitter: UInt32
        var lastSenderReport: UInt32
        var delaySinceLastSenderReport: UInt32
    }

    /// What one of our sources reports: a sender report when it has sent, else a receiver report.
    struct Source {
        var ssrc: UInt32
        /// NTP time (64-bit) and the RTP timestamp of the same instant, packets and octets sent: nil before the
        /// first packet.
        var sender: (ntp: UInt64, rtpTimestamp: UInt32, packets: UInt32, octets: UInt32)?
        var blocks: [Block]
    }

    /// Writes the compound into `buffer`; returns its length (0 when it does not fit).
    static func compound(
        _ sources: [Source], cname: String, bye: Bool, into buffer: UnsafeMutableRawBufferPointer
    ) -> Int {
        var writer = Writer(buffer: buffer)
        for source in sources {
            let blocks = source.blocks.prefix(31)
            if let sender = source.sender {
                writer.header(count: blocks.count, type: 200, words: 6 + 6 * blocks.count)
                writer.word(source.ssrc)
                writer.word(UInt32(truncatingIfNeeded: sender.ntp >> 32))
                writer.word(UInt32(truncatingIfNeeded: sender.ntp))
                writer.word(sender.rtpTimestamp)
                writer.word(sender.packets)
                writer.word(sender.octets)
            } else {
                writer.header(count: blocks.count, type: 201, words: 1 + 6 * blocks.count)
                writer.word(source.ssrc)
            }
            for block in blocks {
                writer.word(block.ssrc)
                let lost = UInt32(bitPattern: max(-0x80_0000, min(0x7F_FFFF, block.cumulativeLost))) & 0x00FF_FFFF
                writer.word(UInt32(block.fractionLost) << 24 | lost)
                writer.word(block.extendedHighestSequence)
                writer.word(block.jitter)
                writer.word(block.lastSenderReport)
                writer.word(block.delaySinceLastSenderReport)
            }
        }
        // SDES: one chunk per source, CNAME (item 1) then the end item, padded to a word.
        let name = Array(cname.utf8.prefix(255))
        let chunkWords = (4 + 2 + name.count + 1 + 3) / 4
        writer.header(count: sources.count, type: 202, words: sources.count * chunkWords)
        for source in sources {
            writer.word(source.ssrc)
            var chunk = [UInt8](repeating: 0, count: chunkWords * 4 - 4)
            chunk[0] = 1
            chunk[1] = UInt8(name.count)
            for (index, byte) in name.enumerated() { chunk[2 + index] = byte }
            writer.bytes(chunk)
        }
        if bye {
            writer.header(count: sources.count, type: 203, words: sources.count)
            for source in sources { writer.word(source.ssrc) }
        }
        return writer.overflowed ? 0 : writer.offset
    }

    /// The sender reports in a compound: each sender's SSRC and the middle 32 bits of its NTP time, which our
    /// next report block about that sender carries back (LSR).
    static func senderReports(in packet: UnsafeRawBufferPointer) -> [(ssrc: UInt32, ntpMiddle: UInt32)] {
        var found: [(UInt32, UInt32)] = []
        var offset = 0
        while offset + 4 <= packet.count, packet[offset] >> 6 == 2 {
            let length = (Int(packet[offset + 2]) << 8 | Int(packet[offset + 3]) + 1) * 4
            guard offset + length <= packet.count else { break }
            if packet[offset + 1] == 200, length >= 28 {
                found.append((word(packet, offset + 4), word(packet, offset + 10)))
            }
            offset += length
        }
        return found
    }

    static func word(_ packet: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
        UInt32(packet[at]) << 24 | UInt32(packet[at + 1]) << 16 | UInt32(packet[at + 2]) << 8 | UInt32(packet[at + 3])
    }

    private struct Writer {
        let buffer: UnsafeMutableRawBufferPointer
        var offset = 0
        var overflowed = false

        mutating func header(count: Int, type: UInt8, words: Int) {
            bytes([0x80 | UInt8(count & 0x1F), type, UInt8((words >> 8) & 0xFF), UInt8(words & 0xFF)])
        }

        mutating func word(_ value: UInt32) {
            bytes([UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)])
        }

        mutating func bytes(_ values: [UInt8]) {
            guard offset + values.count <= buffer.count else {
                overflowed = true
                return
            }
            for value in values {
                buffer[offset] = value
                offset += 1
            }
        }
    }
}

import LuukkuRelay
import Testing

/// Reading sender and receiver reports out of RTCP compound packets (RFC 3550 section 6.4).
@Suite struct RTCPCompoundTests {
    static func walk(_ packet: [UInt8]) -> (ok: Bool, ntp: [UInt32], blocks: [RTCPReportBlock]) {
        var ntp: [UInt32] = []
        var blocks: [RTCPReportBlock] = []
        let ok = packet.withUnsafeBytes { bytes in
            RTCPCompound.walk(bytes, senderReport: { ntp.append($0) }, block: { blocks.append($0) })
        }
        return (ok, ntp, blocks)
    }

    static let block: [UInt8] = [
        0, 0, 0, 0xA,  // SSRC
        64, 0xFF, 0xFF, 0xFE,  // 64/256 lost, cumulative -2 (duplicates)
        0, 1, 0, 5,  // extended highest sequence 65,541
        0, 0, 1, 0,  // jitter 256
        0xAB, 0xCD, 0x12, 0x34,  // LSR
        0, 1, 0, 0,  // DLSR: one second
    ]

    @Test func senderReportThenSDESThenReceiverReport() {
        let sr: [UInt8] =
            [0x81, 200, 0, 12, 0, 0, 0, 0xB, 0xDE, 0xAD, 0xAB, 0xCD, 0x12, 0x34, 0xBE, 0xEF]
            + [0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3] + Self.block
        let sdes: [UInt8] = [0x81, 202, 0, 2, 0, 0, 0, 0xB, 1, 0, 0, 0]
        let rr: [UInt8] = [0x81, 201, 0, 7, 0, 0, 0, 0xB] + Self.block
        let (ok, ntp, blocks) = Self.walk(sr + sdes + rr)
        #expect(ok)
        #expect(ntp == [0xABCD_1234])
        #expect(blocks.count == 2)
        let block = blocks[0]
        #expect(block.ssrc == 0xA && block.fractionLost == 64 && block.cumulativeLost == -2)
        #expect(block.extendedHighestSequence == 65_541 && block.jitter == 256)
        #expect(block.lastSenderReport == 0xABCD_1234 && block.delaySinceLastSenderReport == 65_536)
        #expect(blocks[1] == block)
    }

    @Test func malformedCompoundsStopWithoutReadingPastTheEnd() {
        let rr: [UInt8] = [0x81, 201, 0, 7, 0, 0, 0, 0xB] + Self.block
        #expect(!Self.walk(Array(rr.dropLast(4))).ok, "length field longer than the packet")
        #expect(!Self.walk([0x85, 201, 0, 7, 0, 0, 0, 0xB] + Self.block).ok, "five blocks announced, one there")
        #expect(!Self.walk([0x41] + rr.dropFirst()).ok, "version 1")
        #expect(!Self.walk(rr + [0x80]).ok, "trailing octet")
        #expect(Self.walk([]).blocks.isEmpty)
    }
}

import LuukkuRelay
import Testing

@Suite struct RTPHeaderTests {
    static func with(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) -> Void) { bytes.withUnsafeBytes(body) }

    @Test func parsesTheFixedHeader() {
        // V=2, one CSRC, marker, PT 96, sequence 0x1234, timestamp 0x01020304, SSRC 0xcafebabe, CSRC, payload.
        let packet: [UInt8] = [0x81, 0xE0, 0x12, 0x34, 1, 2, 3, 4, 0xca, 0xfe, 0xba, 0xbe, 9, 9, 9, 9, 0xAA]
        Self.with(packet) { buffer in
            #expect(RTPHeader.kind(of: buffer) == .rtp)
            let header = RTPHeader(buffer)
            #expect(header?.payloadType == 96 && header?.marker == true && header?.sequenceNumber == 0x1234)
            #expect(header?.timestamp == 0x0102_0304 && header?.ssrc == 0xcafe_babe)
        }
    }

    /// RFC 5761 section 4: RTCP packet types 192-223 (here SR 200, RR 201, SDES 202, BYE 203) go to RTCP.
    @Test(arguments: [200, 201, 202, 203] as [UInt8])
    func rtcpIsToldApartOnAMultiplexedPort(packetType: UInt8) {
        Self.with([0x80, packetType, 0x00, 0x01, 0xca, 0xfe, 0xba, 0xbe]) { buffer in
            #expect(RTPHeader.kind(of: buffer) == .rtcp)
        }
    }

    @Test func malformedPacketsAreNeitherRTPNorRTCP() {
        let cases: [[UInt8]] = [
            [],
            [0x80, 96, 0, 1],  // too short
            [0x40, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],  // version 1
            [0x8F, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],  // 15 CSRCs announced, none there
        ]
        for packet in cases {
            Self.with(packet) { buffer in #expect(RTPHeader(buffer) == nil) }
        }
        Self.with([0x80, 96, 0, 1, 0, 0, 0, 0]) { #expect(RTPHeader.kind(of: $0) == nil, "8 octets of RTP") }
        Self.with([0x40, 200, 0, 1, 0, 0, 0, 0]) { #expect(RTPHeader.kind(of: $0) == nil, "version 1") }
    }
}

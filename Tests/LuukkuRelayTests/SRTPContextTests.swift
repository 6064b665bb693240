import LuukkuCore
import LuukkuRelay
import Testing

/// SRTP contexts over libsrtp2: known answers, round trips of every suite for RTP and RTCP, and the
/// failures the relay counts (forged, replayed, malformed, wrong key).
@Suite struct SRTPContextTests {
    /// A known answer: keying material, an RTP and an RTCP packet, and exactly what protecting them gives.
    struct KnownAnswer: Sendable, CustomTestStringConvertible {
        let suite: SRTPSuite
        let key: [UInt8]
        let rtp: [UInt8]
        let srtp: [UInt8]
        let rtcp: [UInt8]
        let srtcp: [UInt8]
        var testDescription: String { suite.rawValue }
    }

    /// libsrtp's own known-answer tests (test/srtp_driver.c, `srtp_validate` and `srtp_validate_gcm`),
    /// SSRC 0xcafebabe, sequence 0x1234, first SRTCP index 1. The AES-CM master key and salt are RFC 3711
    /// Appendix B.3's, so the first also checks RFC 3711's key derivation end to end.
    static let knownAnswers: [KnownAnswer] = {
        let rtp: [UInt8] =
            [0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe]
            + [UInt8](repeating: 0xab, count: 16)
        let rtcp: [UInt8] = [0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe] + [UInt8](repeating: 0xab, count: 16)
        return [
            KnownAnswer(
                suite: .aesCM128HMACSHA1_80,
                key: [
                    0xe1, 0xf9, 0x7a, 0x0d, 0x3e, 0x01, 0x8b, 0xe0, 0xd6, 0x4f, 0xa3, 0x2c, 0x06, 0xde, 0x41, 0x39,
                    0x0e, 0xc6, 0x75, 0xad, 0x49, 0x8a, 0xfe, 0xeb, 0xb6, 0x96, 0x0b, 0x3a, 0xab, 0xe6,
                ],
                rtp: rtp,
                srtp: Array(rtp.prefix(12)) + [
                    0x4e, 0x55, 0xdc, 0x4c, 0xe7, 0x99, 0x78, 0xd8, 0x8c, 0xa4, 0xd2, 0x15, 0x94, 0x9d, 0x24, 0x02,
                    0xb7, 0x8d, 0x6a, 0xcc, 0x99, 0xea, 0x17, 0x9b, 0x8d, 0xbb,
                ],
                rtcp: rtcp,
                srtcp: Array(rtcp.prefix(8)) + [
                    0x71, 0x28, 0x03, 0x5b, 0xe4, 0x87, 0xb9, 0xbd, 0xbe, 0xf8, 0x90, 0x41, 0xf9, 0x77, 0xa5, 0xa8,
                    0x80, 0x00, 0x00, 0x01, 0x99, 0x3e, 0x08, 0xcd, 0x54, 0xd6, 0xc1, 0x23, 0x07, 0x98,
                ]
            ),
            KnownAnswer(
                suite: .aeadAES128GCM,
                key: Array(0x00...0x0f) + Array(0xa0...0xab),
                rtp: rtp,
                srtp: Array(rtp.prefix(12)) + [
                    0xc5, 0x00, 0x2e, 0xde, 0x04, 0xcf, 0xdd, 0x2e, 0xb9, 0x11, 0x59, 0xe0, 0x88, 0x0a, 0xa0, 0x6e,
                    0xd2, 0x97, 0x68, 0x26, 0xf7, 0x96, 0xb2, 0x01, 0xdf, 0x31, 0x31, 0xa1, 0x27, 0xe8, 0xa3, 0x92,
                ],
                rtcp: rtcp,
                srtcp: Array(rtcp.prefix(8)) + [
                    0xc9, 0x8b, 0x8b, 0x5d, 0xf0, 0x39, 0x2a, 0x55, 0x85, 0x2b, 0x6c, 0x21, 0xac, 0x8e, 0x70, 0x25,
                    0xc5, 0x2c, 0x6f, 0xbe, 0xa2, 0xb3, 0xb4, 0x46, 0xea, 0x31, 0x12, 0x3b, 0xa8, 0x8c, 0xe6, 0x1e,
                    0x80, 0x00, 0x00, 0x01,
                ]
            ),
        ]
    }()

    /// A VP8-like RTP packet (PT 96) of `payload` octets, or an RTCP receiver report (PT 201).
    static func packet(sequence: UInt16, payload: Int = 160, rtcp: Bool = false) -> [UInt8] {
        if rtcp {  // RR with one report block: 8 + 24 octets, length field 7
            return [0x81, 201, 0x00, 0x07, 0xca, 0xfe, 0xba, 0xbe] + (0..<24).map { UInt8($0) }
        }
        return [0x80, 96, UInt8(sequence >> 8), UInt8(sequence & 0xff), 0, 0, 0x10, 0, 0x11, 0x22, 0x33, 0x44]
            + (0..<payload).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(sequence)) }
    }

    static func protect(_ plain: [UInt8], _ context: SRTPContext, _ kind: SRTPContext.PacketKind = .rtp) throws
        -> [UInt8]
    {
        var buffer = plain + [UInt8](repeating: 0, count: SRTPContext.trailerSpace)
        let length = try buffer.withUnsafeMutableBytes { try context.protect($0, length: plain.count, kind: kind) }
        return Array(buffer.prefix(length))
    }

    static func unprotect(_ packet: [UInt8], _ context: SRTPContext, _ kind: SRTPContext.PacketKind = .rtp) throws
        -> [UInt8]
    {
        var buffer = packet
        let length = try buffer.withUnsafeMutableBytes { try context.unprotect($0, length: packet.count, kind: kind) }
        return Array(buffer.prefix(length))
    }

    static func pair(_ suite: SRTPSuite) throws -> (sender: SRTPContext, receiver: SRTPContext) {
        let key = SRTPKeyingMaterial.random(for: suite)
        return (
            try SRTPContext(keyingMaterial: key, direction: .outbound),
            try SRTPContext(keyingMaterial: key, direction: .inbound)
        )
    }

    @Test(arguments: knownAnswers)
    func protectsToTheKnownAnswer(_ known: KnownAnswer) throws {
        let key = try SRTPKeyingMaterial(suite: known.suite, bytes: known.key)
        let sender = try SRTPContext(keyingMaterial: key, direction: .outbound)
        #expect(try Self.protect(known.rtp, sender) == known.srtp)
        #expect(try Self.protect(known.rtcp, sender, .rtcp) == known.srtcp)
        let receiver = try SRTPContext(keyingMaterial: key, direction: .inbound)
        #expect(try Self.unprotect(known.srtp, receiver) == known.rtp)
        #expect(try Self.unprotect(known.srtcp, receiver, .rtcp) == known.rtcp)
    }

    @Test(arguments: SRTPSuite.allCases)
    func everySuiteRoundTripsRTPAndRTCP(suite: SRTPSuite) throws {
        let (sender, receiver) = try Self.pair(suite)
        for sequence in UInt16(1)...20 {
            let plain = Self.packet(sequence: sequence)
            let protected = try Self.protect(plain, sender)
            #expect(protected.count == plain.count + suite.rtpOverhead)
            #expect(protected.prefix(12) == plain.prefix(12), "the RTP header stays in the clear")
            #expect(protected[12..<plain.count] != plain[12...], "the payload is encrypted")
            #expect(try Self.unprotect(protected, receiver) == plain)
        }
        let report = Self.packet(sequence: 0, rtcp: true)
        let protected = try Self.protect(report, sender, .rtcp)
        #expect(protected.count == report.count + suite.rtcpOverhead)
        #expect(try Self.unprotect(protected, receiver, .rtcp) == report)
    }

    @Test(arguments: SRTPSuite.allCases)
    func forgedReplayedAndForeignPacketsAreRefused(suite: SRTPSuite) throws {
        let (sender, receiver) = try Self.pair(suite)
        let protected = try Self.protect(Self.packet(sequence: 7), sender)
        var forged = protected
        forged[20] ^= 0x01
        #expect(throws: SRTPError(.authenticationFailed)) { try Self.unprotect(forged, receiver) }
        // The genuine packet still passes after a forgery was refused, then is a replay.
        _ = try Self.unprotect(protected, receiver)
        #expect(throws: SRTPError(.replayed)) { try Self.unprotect(protected, receiver) }
        // Another leg's key: authentication fails, nothing is decrypted.
        let (_, stranger) = try Self.pair(suite)
        #expect(throws: SRTPError(.authenticationFailed)) { try Self.unprotect(protected, stranger) }
        // Too short to be RTP at all.
        #expect(throws: SRTPError.self) { try Self.unprotect(Array(protected.prefix(6)), receiver) }
    }

    @Test func misuseIsAClearError() throws {
        let (sender, receiver) = try Self.pair(.aeadAES128GCM)
        var buffer = Self.packet(sequence: 1)
        let length = buffer.count
        #expect(throws: SRTPError(.noRoom)) {
            try buffer.withUnsafeMutableBytes { try sender.protect($0, length: length) }
        }
        #expect(throws: SRTPError(.wrongDirection)) {
            try buffer.withUnsafeMutableBytes { try receiver.protect($0, length: length) }
        }
        #expect(throws: SRTPError(.keyLength)) {
            try SRTPKeyingMaterial(suite: .aeadAES256GCM, bytes: [UInt8](repeating: 1, count: 30))
        }
    }

    @Test func keysAreFreshAndNeverPrinted() throws {
        for suite in SRTPSuite.allCases {
            let first = SRTPKeyingMaterial.random(for: suite)
            let second = SRTPKeyingMaterial.random(for: suite)
            #expect(first != second)
            #expect(first.inlineKey.count == (suite.masterKeyLength + suite.masterSaltLength + 2) / 3 * 4)
            #expect(!"\(first)".contains(first.inlineKey) && "\(first)".contains("redacted"))
        }
        let known = try SRTPKeyingMaterial(suite: .aesCM128HMACSHA1_80, bytes: Array(0..<30))
        #expect(known.inlineKey == "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd")  // ../shared/FACTS.md
    }
}

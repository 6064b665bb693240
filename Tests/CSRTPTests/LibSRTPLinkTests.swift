import CSRTP
import LuukkuRelay
import Testing

/// Proves that libsrtp2 (Debian's, through pkg-config) links and works from Swift: one RTP packet protected
/// by a sender context and unprotected by a receiver context with the same key (RFC 3711,
/// AES_CM_128_HMAC_SHA1_80), and the two failures the relay will count: a forged packet and a replay.
@Suite struct LibSRTPLinkTests {
    /// 16-byte master key + 14-byte master salt, 00 01 02 ... 1d (as in ../shared/FACTS.md).
    static let keyAndSalt: [UInt8] = Array(0..<30)

    static let rtpPacket: [UInt8] = {
        // V=2, PT=96, sequence 0x1234, timestamp 0x00010203, SSRC 0xDEADBEEF, then a 160-byte payload.
        var packet: [UInt8] = [0x80, 96, 0x12, 0x34, 0x00, 0x01, 0x02, 0x03, 0xDE, 0xAD, 0xBE, 0xEF]
        packet += (0..<160).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        return packet
    }()

    /// A context for one direction: outbound protects, inbound unprotects.
    static func makeContext(outbound: Bool) throws -> srtp_t {
        try LibSRTP.start(backend: .openssl)  // srtp_init once, for every test in the process
        var policy = srtp_policy_t()
        luukku_srtp_policy_aes_cm_128_hmac_sha1_80(&policy.rtp)
        luukku_srtp_policy_aes_cm_128_hmac_sha1_80(&policy.rtcp)
        policy.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound
        policy.window_size = 128
        var key = keyAndSalt
        var context: srtp_t?
        let status = key.withUnsafeMutableBufferPointer { keyBuffer in
            policy.key = keyBuffer.baseAddress
            return srtp_create(&context, &policy)
        }
        try #require(status == srtp_err_status_ok)
        return try #require(context)
    }

    /// Protects a copy of `plain` and returns the SRTP packet.
    static func protect(_ plain: [UInt8], with context: srtp_t) throws -> [UInt8] {
        var buffer = plain + [UInt8](repeating: 0, count: Int(LUUKKU_SRTP_MAX_TRAILER_LEN))
        var length = Int32(plain.count)
        let status = buffer.withUnsafeMutableBytes { srtp_protect(context, $0.baseAddress, &length) }
        try #require(status == srtp_err_status_ok)
        return Array(buffer.prefix(Int(length)))
    }

    static func unprotect(_ packet: [UInt8], with context: srtp_t) -> (srtp_err_status_t, [UInt8]) {
        var buffer = packet
        var length = Int32(packet.count)
        let status = buffer.withUnsafeMutableBytes { srtp_unprotect(context, $0.baseAddress, &length) }
        return (status, Array(buffer.prefix(Int(length))))
    }

    @Test func protectedPacketUnprotectsToTheOriginal() throws {
        let sender = try Self.makeContext(outbound: true)
        let receiver = try Self.makeContext(outbound: false)
        defer {
            srtp_dealloc(sender)
            srtp_dealloc(receiver)
        }
        let protected = try Self.protect(Self.rtpPacket, with: sender)
        // 80-bit authentication tag appended; payload encrypted; header in the clear.
        #expect(protected.count == Self.rtpPacket.count + 10)
        #expect(protected.prefix(12) == Self.rtpPacket.prefix(12))
        #expect(protected[12..<172] != Self.rtpPacket[12...])

        let (status, plain) = Self.unprotect(protected, with: receiver)
        #expect(status == srtp_err_status_ok)
        #expect(plain == Self.rtpPacket)

        // The same packet a second time is a replay (RFC 3711 section 3.3.2).
        let (replayStatus, _) = Self.unprotect(protected, with: receiver)
        #expect(replayStatus == srtp_err_status_replay_fail)
    }

    @Test func forgedPacketFailsAuthentication() throws {
        let sender = try Self.makeContext(outbound: true)
        let receiver = try Self.makeContext(outbound: false)
        defer {
            srtp_dealloc(sender)
            srtp_dealloc(receiver)
        }
        var forged = try Self.protect(Self.rtpPacket, with: sender)
        forged[40] ^= 0x01
        let (status, _) = Self.unprotect(forged, with: receiver)
        #expect(status == srtp_err_status_auth_fail)
    }
}

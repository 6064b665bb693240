import CSRTP
import LuukkuCore

/// One direction of one relay leg: an outbound context protects what the relay sends to a peer, an inbound
/// context unprotects (authenticates, checks for replay, decrypts) what the peer sends. Owns its libsrtp
/// session and frees it in `deinit`.
///
/// Works in place on buffers the caller passes in, so the relay's hot path allocates nothing per packet.
/// A context is used by one thread at a time (its leg's relay worker); it is not `Sendable`.
///
/// RTP and RTCP share the context: libsrtp keeps separate SRTP and SRTCP indexes and replay windows
/// (RFC 3711 section 3.4), and the relay tells them apart by payload type (RFC 5761 section 4).
public final class SRTPContext {
    public enum Direction: Hashable, Sendable { case outbound, inbound }
    public enum PacketKind: Hashable, Sendable { case rtp, rtcp }

    /// Spare octets a buffer needs after the packet for `protect` (libsrtp's `SRTP_MAX_TRAILER_LEN`).
    /// libsrtp's `SRTP_MAX_TRAILER_LEN` plus the 4 octets of E flag and SRTCP index `srtp_protect_rtcp` adds.
    public static let trailerSpace = Int(LUUKKU_SRTP_MAX_TRAILER_LEN) + 4

    public let suite: SRTPSuite
    public let direction: Direction
    private let session: srtp_t

    /// - Parameters:
    ///   - replayWindow: packets the inbound replay window covers (RFC 3711 section 3.3.2: at least 64);
    ///     1,024 leaves room for video bursts arriving out of order.
    /// - Throws: ``SRTPError`` when libsrtp refuses the policy or could not start.
    public init(keyingMaterial: SRTPKeyingMaterial, direction: Direction, replayWindow: Int = 1_024) throws(SRTPError) {
        try LibSRTP.ensureStarted()
        precondition((64...0x7FFF).contains(replayWindow), "replay window out of libsrtp's range")
        suite = keyingMaterial.suite
        self.direction = direction
        var policy = srtp_policy_t()
        keyingMaterial.suite.apply(rtp: &policy.rtp, rtcp: &policy.rtcp)
        policy.ssrc.type = direction == .outbound ? ssrc_any_outbound : ssrc_any_inbound
        policy.window_size = UInt(replayWindow)
        policy.allow_repeat_tx = 0
        var key = keyingMaterial.bytes
        var created: srtp_t?
        let status = key.withUnsafeMutableBufferPointer { buffer in
            policy.key = buffer.baseAddress
            return srtp_create(&created, &policy)
        }
        guard status == srtp_err_status_ok, let created else { throw SRTPError(status: status) }
        session = created
    }

    deinit { srtp_dealloc(session) }

    /// Protects the packet in `buffer[0 ..< length]` in place and returns its new length.
    /// - Throws: ``SRTPError``: `.noRoom` unless the buffer has ``trailerSpace`` octets after the packet.
    public func protect(_ buffer: UnsafeMutableRawBufferPointer, length: Int, kind: PacketKind = .rtp)
        throws(SRTPError) -> Int
    {
        guard direction == .outbound else { throw SRTPError(.wrongDirection) }
        guard length >= 0, buffer.count - length >= Self.trailerSpace, let base = buffer.baseAddress else {
            throw SRTPError(.noRoom)
        }
        var newLength = Int32(length)
        let status =
            kind == .rtp ? srtp_protect(session, base, &newLength) : srtp_protect_rtcp(session, base, &newLength)
        guard status == srtp_err_status_ok else { throw SRTPError(status: status) }
        return Int(newLength)
    }

    /// Verifies and decrypts the packet in `buffer[0 ..< length]` in place and returns the plain length.
    /// - Throws: ``SRTPError``: `.authenticationFailed`, `.replayed`, `.malformed`; the buffer's contents are
    ///   then unspecified and must not be forwarded.
    public func unprotect(_ buffer: UnsafeMutableRawBufferPointer, length: Int, kind: PacketKind = .rtp)
        throws(SRTPError) -> Int
    {
        guard direction == .inbound else { throw SRTPError(.wrongDirection) }
        guard length >= 0, length <= buffer.count, let base = buffer.baseAddress else { throw SRTPError(.malformed) }
        var newLength = Int32(length)
        let status =
            kind == .rtp
            ? srtp_unprotect(session, base, &newLength) : srtp_unprotect_rtcp(session, base, &newLength)
        guard status == srtp_err_status_ok else { throw SRTPError(status: status) }
        return Int(newLength)
    }
}

/// An SRTP crypto suite as named in SDES (RFC 4568 section 6.2, RFC 7714 section 12): what a relay leg
/// offers and accepts, what a client says it speaks (`Hello.media`) and what the configuration prefers
/// (`media.srtpSuites`). The names and lengths live here, in the domain; LuukkuRelay maps them onto libsrtp2.
public enum SRTPSuite: String, CaseIterable, Hashable, Sendable {
    /// RFC 3711 AES-CM with an 80-bit HMAC-SHA1 tag: the default every peer speaks.
    case aesCM128HMACSHA1_80 = "AES_CM_128_HMAC_SHA1_80"
    /// The same with a 32-bit tag on SRTP (RFC 4568 section 6.2.2); SRTCP keeps the 80-bit tag.
    case aesCM128HMACSHA1_32 = "AES_CM_128_HMAC_SHA1_32"
    /// AES-128 in GCM with a 16-octet tag (RFC 7714).
    case aeadAES128GCM = "AEAD_AES_128_GCM"
    /// AES-256 in GCM with a 16-octet tag (RFC 7714).
    case aeadAES256GCM = "AEAD_AES_256_GCM"

    /// Master key length in octets.
    public var masterKeyLength: Int {
        switch self {
        case .aesCM128HMACSHA1_80, .aesCM128HMACSHA1_32, .aeadAES128GCM: 16
        case .aeadAES256GCM: 32
        }
    }

    /// Master salt length in octets: 112 bits for AES-CM (RFC 3711 section 8.2), 96 for GCM (RFC 7714
    /// section 12).
    public var masterSaltLength: Int {
        switch self {
        case .aesCM128HMACSHA1_80, .aesCM128HMACSHA1_32: 14
        case .aeadAES128GCM, .aeadAES256GCM: 12
        }
    }

    /// Octets `protect` adds to an RTP packet (authentication tag).
    public var rtpOverhead: Int {
        switch self {
        case .aesCM128HMACSHA1_80: 10
        case .aesCM128HMACSHA1_32: 4
        case .aeadAES128GCM, .aeadAES256GCM: 16
        }
    }

    /// Octets `protect` adds to an RTCP packet: the E flag and SRTCP index (4) and the tag.
    public var rtcpOverhead: Int {
        switch self {
        case .aesCM128HMACSHA1_80, .aesCM128HMACSHA1_32: 4 + 10
        case .aeadAES128GCM, .aeadAES256GCM: 4 + 16
        }
    }
}

import CSRTP
import LuukkuCore

extension SRTPSuite {
    /// Fills libsrtp's policies for SRTP and SRTCP.
    func apply(rtp: inout srtp_crypto_policy_t, rtcp: inout srtp_crypto_policy_t) {
        switch self {
        case .aesCM128HMACSHA1_80:
            luukku_srtp_policy_aes_cm_128_hmac_sha1_80(&rtp)
            luukku_srtp_policy_aes_cm_128_hmac_sha1_80(&rtcp)
        case .aesCM128HMACSHA1_32:
            luukku_srtp_policy_aes_cm_128_hmac_sha1_32(&rtp)
            luukku_srtp_policy_aes_cm_128_hmac_sha1_80(&rtcp)  // RFC 4568 section 6.2.2
        case .aeadAES128GCM:
            srtp_crypto_policy_set_aes_gcm_128_16_auth(&rtp)
            srtp_crypto_policy_set_aes_gcm_128_16_auth(&rtcp)
        case .aeadAES256GCM:
            srtp_crypto_policy_set_aes_gcm_256_16_auth(&rtp)
            srtp_crypto_policy_set_aes_gcm_256_16_auth(&rtcp)
        }
    }
}

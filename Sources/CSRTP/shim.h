// libsrtp2 (Debian libsrtp2-dev) for Swift. cipher.h and auth.h are included
// so that LuukkuRelay can register OpenSSL-backed types through
// srtp_replace_cipher_type / srtp_replace_auth_type (issue 4).
#ifndef LUUKKU_CSRTP_SHIM_H
#define LUUKKU_CSRTP_SHIM_H

#include <srtp2/srtp.h>
#include <srtp2/cipher.h>
#include <srtp2/auth.h>

// srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80 and friends are macros in
// srtp.h that Swift cannot import; these wrappers make them callable.
static inline void luukku_srtp_policy_aes_cm_128_hmac_sha1_80(srtp_crypto_policy_t *p) {
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(p);
}

static inline void luukku_srtp_policy_aes_cm_128_hmac_sha1_32(srtp_crypto_policy_t *p) {
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(p);
}

// Spare bytes srtp_protect / srtp_protect_rtcp may write after a packet.
// The header's macro is an expression of other macros, so it is restated
// here as an enum constant Swift can import.
enum { LUUKKU_SRTP_MAX_TRAILER_LEN = SRTP_MAX_TRAILER_LEN };

#endif

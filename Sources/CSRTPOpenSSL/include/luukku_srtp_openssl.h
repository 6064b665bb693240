// OpenSSL (libcrypto EVP) cipher and auth types for libsrtp2.
//
// Debian builds libsrtp2 on NSS, whose AES-CM and HMAC-SHA1 cost several
// times what OpenSSL's do (../shared/FACTS.md). These types follow the
// interface of libsrtp2's own OpenSSL backend (crypto/cipher/aes_icm_ossl.c,
// aes_gcm_ossl.c, crypto/hash/hmac_ossl.c) and are put in place of the NSS
// ones with srtp_replace_cipher_type / srtp_replace_auth_type, which first
// runs each type's own test cases and then libsrtp2's test cases for that id.
#ifndef LUUKKU_SRTP_OPENSSL_H
#define LUUKKU_SRTP_OPENSSL_H

#include <srtp2/srtp.h>
#include <srtp2/cipher.h>
#include <srtp2/auth.h>

// Our types.
extern const srtp_cipher_type_t luukku_ossl_aes_icm_128;
extern const srtp_cipher_type_t luukku_ossl_aes_icm_192;
extern const srtp_cipher_type_t luukku_ossl_aes_icm_256;
extern const srtp_cipher_type_t luukku_ossl_aes_gcm_128;
extern const srtp_cipher_type_t luukku_ossl_aes_gcm_256;
extern const srtp_auth_type_t luukku_ossl_hmac_sha1;

// libsrtp2's built-in (NSS) types. libsrtp2 exports them but does not
// declare them in its installed headers; the tests compare against them.
extern const srtp_cipher_type_t srtp_aes_icm_128;
extern const srtp_cipher_type_t srtp_aes_icm_256;
extern const srtp_cipher_type_t srtp_aes_gcm_128;
extern const srtp_cipher_type_t srtp_aes_gcm_256;
extern const srtp_auth_type_t srtp_hmac;

// libsrtp2's crypto kernel lookups (exported, not in the installed headers):
// the types srtp_create will use for an id; the tests check the replacement.
const srtp_cipher_type_t *srtp_crypto_kernel_get_cipher_type(srtp_cipher_type_id_t id);
const srtp_auth_type_t *srtp_crypto_kernel_get_auth_type(srtp_auth_type_id_t id);

// Our own known answers, beyond libsrtp2's: RFC 3711 Appendix B.2 with the
// counter crossing 0xFEFF -> 0xFF00 -> 0xFF01 (AES-ICM-128), RFC 2202 test
// cases 2 and 3 (HMAC-SHA1). The types above carry them as test data.
extern const srtp_cipher_test_case_t luukku_rfc3711_b2_wrap_test_case;
extern const srtp_auth_test_case_t luukku_rfc2202_test_case_2;

// The types by libsrtp2 id, for code (Swift) that cannot take the address
// of a C global: ours, and libsrtp2's built-in ones; NULL for another id.
const srtp_cipher_type_t *luukku_ossl_cipher_type(srtp_cipher_type_id_t id);
const srtp_cipher_type_t *luukku_builtin_cipher_type(srtp_cipher_type_id_t id);

// Replaces the AES-ICM (128, 192, 256), AES-GCM (128, 256) and HMAC-SHA1
// types of the running libsrtp2 with ours. Call after srtp_init, before any
// srtp_create, from one thread. Returns the first failing status; on failure
// some types may already be replaced (each replaced type passed its tests).
srtp_err_status_t luukku_srtp_install_openssl(void);

#endif

// OpenSSL-backed cipher and auth types for libsrtp2: see include/luukku_srtp_openssl.h.
// The structure follows libsrtp2's own OpenSSL backend (BSD-licensed, Cisco);
// OpenSSL 3's EVP_MAC replaces the deprecated HMAC_CTX.
#include "luukku_srtp_openssl.h"

#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <stdlib.h>
#include <string.h>

// Lengths from RFC 3711 and RFC 7714 (libsrtp2's srtp.h names them too).
enum {
    SALT_LEN = 14,     // AES-ICM master/session salt
    GCM_IV_LEN = 12,
    GCM_TAG_LEN = 16,
    GCM_TAG_LEN_8 = 8,
    SHA1_LEN = 20,
};

// ---------------------------------------------------------------- AES-ICM

// Both cipher states start with their EVP context, so allocation and release are shared.
typedef struct {
    EVP_CIPHER_CTX *ctx;
} evp_state;

// A cipher with a zeroed state of state_size octets whose EVP context is made; NULL when out of memory.
static srtp_cipher_t *new_cipher(const srtp_cipher_type_t *type, int algorithm, int key_len, size_t state_size) {
    srtp_cipher_t *cipher = calloc(1, sizeof *cipher);
    evp_state *state = calloc(1, state_size);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (cipher == NULL || state == NULL || ctx == NULL) {
        EVP_CIPHER_CTX_free(ctx);
        free(state);
        free(cipher);
        return NULL;
    }
    state->ctx = ctx;
    cipher->type = type;
    cipher->state = state;
    cipher->key_len = key_len;
    cipher->algorithm = algorithm;
    return cipher;
}

static srtp_err_status_t free_cipher(srtp_cipher_t *c, size_t state_size) {
    if (c == NULL) return srtp_err_status_bad_param;
    evp_state *state = c->state;
    if (state != NULL) {
        EVP_CIPHER_CTX_free(state->ctx);
        OPENSSL_cleanse(state, state_size);
        free(state);
    }
    free(c);
    return srtp_err_status_ok;
}

typedef struct {
    EVP_CIPHER_CTX *ctx;  // first, as in evp_state
    uint8_t counter[16];  // salt XOR IV: the next counter block
    uint8_t offset[16];   // the session salt, zero-padded
    int key_size;         // AES key octets (16, 24, 32)
} icm_state;

static srtp_err_status_t icm_alloc(srtp_cipher_t **c, int key_len, int tag_len) {
    (void)tag_len;
    const srtp_cipher_type_t *type;
    int algorithm, key_size;
    switch (key_len) {
    case 16 + SALT_LEN: type = &luukku_ossl_aes_icm_128; algorithm = SRTP_AES_ICM_128; key_size = 16; break;
    case 24 + SALT_LEN: type = &luukku_ossl_aes_icm_192; algorithm = SRTP_AES_ICM_192; key_size = 24; break;
    case 32 + SALT_LEN: type = &luukku_ossl_aes_icm_256; algorithm = SRTP_AES_ICM_256; key_size = 32; break;
    default: return srtp_err_status_bad_param;
    }
    srtp_cipher_t *cipher = new_cipher(type, algorithm, key_len, sizeof(icm_state));
    if (cipher == NULL) return srtp_err_status_alloc_fail;
    ((icm_state *)cipher->state)->key_size = key_size;
    *c = cipher;
    return srtp_err_status_ok;
}

static srtp_err_status_t icm_dealloc(srtp_cipher_t *c) { return free_cipher(c, sizeof(icm_state)); }

// key = AES key followed by the 14-octet salt.
static srtp_err_status_t icm_init(void *sv, const uint8_t *key) {
    icm_state *state = sv;
    memset(state->counter, 0, sizeof state->counter);
    memset(state->offset, 0, sizeof state->offset);
    memcpy(state->counter, key + state->key_size, SALT_LEN);
    memcpy(state->offset, key + state->key_size, SALT_LEN);
    const EVP_CIPHER *evp;
    switch (state->key_size) {
    case 16: evp = EVP_aes_128_ctr(); break;
    case 24: evp = EVP_aes_192_ctr(); break;
    case 32: evp = EVP_aes_256_ctr(); break;
    default: return srtp_err_status_bad_param;
    }
    if (!EVP_CIPHER_CTX_reset(state->ctx) || !EVP_EncryptInit_ex(state->ctx, evp, NULL, key, NULL)) {
        return srtp_err_status_fail;
    }
    return srtp_err_status_ok;
}

// iv: 16 octets, XORed into the offset to give the first counter block (RFC 3711 section 4.1.1).
static srtp_err_status_t icm_set_iv(void *sv, uint8_t *iv, srtp_cipher_direction_t direction) {
    (void)direction;
    icm_state *state = sv;
    for (int i = 0; i < 16; i++) state->counter[i] = state->offset[i] ^ iv[i];
    if (!EVP_EncryptInit_ex(state->ctx, NULL, NULL, NULL, state->counter)) return srtp_err_status_fail;
    return srtp_err_status_ok;
}

// Encryption and decryption are the same keystream XOR, in place.
static srtp_err_status_t icm_encrypt(void *sv, uint8_t *buffer, unsigned int *length) {
    icm_state *state = sv;
    int out = 0;
    if (!EVP_EncryptUpdate(state->ctx, buffer, &out, buffer, (int)*length)) return srtp_err_status_cipher_fail;
    *length = (unsigned int)out;
    int tail = 0;
    if (!EVP_EncryptFinal_ex(state->ctx, buffer + out, &tail)) return srtp_err_status_cipher_fail;
    *length += (unsigned int)tail;
    return srtp_err_status_ok;
}

// RFC 3711 Appendix B.2 from counter 0xFEFF: the keystream blocks the RFC
// lists at 0xFEFF, 0xFF00, 0xFF01 (plaintext all zero, so ciphertext = keystream).
static const uint8_t b2_key[16 + SALT_LEN] = {
    0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c,
    0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd,
};
static uint8_t b2_wrap_iv[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe, 0xff};
static const uint8_t b2_zero[48] = {0};
static const uint8_t b2_wrap_keystream[48] = {
    0xec, 0x8c, 0xdf, 0x73, 0x98, 0x60, 0x7c, 0xb0, 0xf2, 0xd2, 0x16, 0x75, 0xea, 0x9e, 0xa1, 0xe4,
    0x36, 0x2b, 0x7c, 0x3c, 0x67, 0x73, 0x51, 0x63, 0x18, 0xa0, 0x77, 0xd7, 0xfc, 0x50, 0x73, 0xae,
    0x6a, 0x2c, 0xc3, 0x78, 0x78, 0x89, 0x37, 0x4f, 0xbe, 0xb4, 0xc8, 0x1b, 0x17, 0xba, 0x6c, 0x44,
};
extern const srtp_cipher_test_case_t srtp_aes_icm_128_test_case_0;
extern const srtp_cipher_test_case_t srtp_aes_icm_192_test_case_0;
extern const srtp_cipher_test_case_t srtp_aes_icm_256_test_case_0;
extern const srtp_cipher_test_case_t srtp_aes_gcm_128_test_case_0;
extern const srtp_cipher_test_case_t srtp_aes_gcm_256_test_case_0;
extern const srtp_auth_test_case_t srtp_hmac_test_case_0;

const srtp_cipher_test_case_t luukku_rfc3711_b2_wrap_test_case = {
    .key_length_octets = 16 + SALT_LEN,
    .key = b2_key,
    .idx = b2_wrap_iv,
    .plaintext_length_octets = sizeof b2_zero,
    .plaintext = b2_zero,
    .ciphertext_length_octets = sizeof b2_wrap_keystream,
    .ciphertext = b2_wrap_keystream,
    .aad_length_octets = 0,
    .aad = NULL,
    .tag_length_octets = 0,
    .next_test_case = &srtp_aes_icm_128_test_case_0,
};

#define ICM_TYPE(name, text, tests, ident)                                                                   \
    const srtp_cipher_type_t name = {                                                                      \
        .alloc = icm_alloc, .dealloc = icm_dealloc, .init = icm_init, .set_aad = NULL,                      \
        .encrypt = icm_encrypt, .decrypt = icm_encrypt, .set_iv = icm_set_iv, .get_tag = NULL,              \
        .description = text, .test_data = tests, .id = ident,                                              \
    }
ICM_TYPE(luukku_ossl_aes_icm_128, "AES-128 counter mode (OpenSSL, Luukku)", &luukku_rfc3711_b2_wrap_test_case,
         SRTP_AES_ICM_128);
ICM_TYPE(luukku_ossl_aes_icm_192, "AES-192 counter mode (OpenSSL, Luukku)", &srtp_aes_icm_192_test_case_0,
         SRTP_AES_ICM_192);
ICM_TYPE(luukku_ossl_aes_icm_256, "AES-256 counter mode (OpenSSL, Luukku)", &srtp_aes_icm_256_test_case_0,
         SRTP_AES_ICM_256);

// ---------------------------------------------------------------- AES-GCM

typedef struct {
    EVP_CIPHER_CTX *ctx;  // first, as in evp_state
    int key_size;
    int tag_len;
    srtp_cipher_direction_t direction;
} gcm_state;

static srtp_err_status_t gcm_alloc(srtp_cipher_t **c, int key_len, int tag_len) {
    const srtp_cipher_type_t *type;
    int algorithm, key_size;
    switch (key_len) {
    case 16 + GCM_IV_LEN: type = &luukku_ossl_aes_gcm_128; algorithm = SRTP_AES_GCM_128; key_size = 16; break;
    case 32 + GCM_IV_LEN: type = &luukku_ossl_aes_gcm_256; algorithm = SRTP_AES_GCM_256; key_size = 32; break;
    default: return srtp_err_status_bad_param;
    }
    if (tag_len != GCM_TAG_LEN && tag_len != GCM_TAG_LEN_8) return srtp_err_status_bad_param;
    srtp_cipher_t *cipher = new_cipher(type, algorithm, key_len, sizeof(gcm_state));
    if (cipher == NULL) return srtp_err_status_alloc_fail;
    gcm_state *state = cipher->state;
    state->key_size = key_size;
    state->tag_len = tag_len;
    state->direction = srtp_direction_any;
    *c = cipher;
    return srtp_err_status_ok;
}

static srtp_err_status_t gcm_dealloc(srtp_cipher_t *c) { return free_cipher(c, sizeof(gcm_state)); }

static srtp_err_status_t gcm_init(void *sv, const uint8_t *key) {
    gcm_state *state = sv;
    state->direction = srtp_direction_any;
    const EVP_CIPHER *evp = state->key_size == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
    // The IV length is set once here: as an OpenSSL 3 parameter, setting it per packet cost a string search
    // (OSSL_PARAM_locate, strcmp) on every packet (perf, docs/benchmarks.md).
    if (!EVP_CIPHER_CTX_reset(state->ctx) || !EVP_CipherInit_ex(state->ctx, evp, NULL, key, NULL, 0)
        || !EVP_CIPHER_CTX_ctrl(state->ctx, EVP_CTRL_GCM_SET_IVLEN, GCM_IV_LEN, NULL)) {
        return srtp_err_status_init_fail;
    }
    return srtp_err_status_ok;
}

static srtp_err_status_t gcm_set_iv(void *sv, uint8_t *iv, srtp_cipher_direction_t direction) {
    gcm_state *state = sv;
    if (direction != srtp_direction_encrypt && direction != srtp_direction_decrypt) {
        return srtp_err_status_bad_param;
    }
    state->direction = direction;
    if (!EVP_CipherInit_ex(state->ctx, NULL, NULL, NULL, iv, direction == srtp_direction_encrypt ? 1 : 0)) {
        return srtp_err_status_init_fail;
    }
    return srtp_err_status_ok;
}

static srtp_err_status_t gcm_set_aad(void *sv, const uint8_t *aad, uint32_t aad_len) {
    gcm_state *state = sv;
    // OpenSSL wants a tag set before AAD when decrypting; the real one is set in gcm_decrypt. It copies it.
    uint8_t dummy_tag[GCM_TAG_LEN] = {0};
    if (state->direction == srtp_direction_decrypt
        && !EVP_CIPHER_CTX_ctrl(state->ctx, EVP_CTRL_GCM_SET_TAG, state->tag_len, dummy_tag)) {
        return srtp_err_status_algo_fail;
    }
    int processed = EVP_Cipher(state->ctx, NULL, aad, aad_len);
    if (processed < 0 || (uint32_t)processed != aad_len) return srtp_err_status_algo_fail;
    return srtp_err_status_ok;
}

static srtp_err_status_t gcm_encrypt(void *sv, uint8_t *buffer, unsigned int *length) {
    gcm_state *state = sv;
    if (state->direction != srtp_direction_encrypt && state->direction != srtp_direction_decrypt) {
        return srtp_err_status_bad_param;
    }
    if (EVP_Cipher(state->ctx, buffer, buffer, *length) < 0) return srtp_err_status_cipher_fail;
    return srtp_err_status_ok;
}

static srtp_err_status_t gcm_get_tag(void *sv, uint8_t *tag, uint32_t *length) {
    gcm_state *state = sv;
    if (EVP_Cipher(state->ctx, NULL, NULL, 0) < 0) return srtp_err_status_algo_fail;  // finish
    if (!EVP_CIPHER_CTX_ctrl(state->ctx, EVP_CTRL_GCM_GET_TAG, state->tag_len, tag)) {
        return srtp_err_status_algo_fail;
    }
    *length = (uint32_t)state->tag_len;
    return srtp_err_status_ok;
}

// buffer[0 ..< *length] is ciphertext followed by the tag; on success *length drops the tag.
static srtp_err_status_t gcm_decrypt(void *sv, uint8_t *buffer, unsigned int *length) {
    gcm_state *state = sv;
    if (state->direction != srtp_direction_encrypt && state->direction != srtp_direction_decrypt) {
        return srtp_err_status_bad_param;
    }
    if (*length < (unsigned int)state->tag_len) return srtp_err_status_auth_fail;
    unsigned int text = *length - (unsigned int)state->tag_len;
    if (!EVP_CIPHER_CTX_ctrl(state->ctx, EVP_CTRL_GCM_SET_TAG, state->tag_len, buffer + text)) {
        return srtp_err_status_auth_fail;
    }
    if (EVP_Cipher(state->ctx, buffer, buffer, text) < 0) return srtp_err_status_auth_fail;
    // GCM is a custom cipher in EVP: the final call returns 0 when the tag verifies, -1 when not.
    if (EVP_Cipher(state->ctx, NULL, NULL, 0) != 0) return srtp_err_status_auth_fail;
    *length = text;
    return srtp_err_status_ok;
}

#define GCM_TYPE(name, text, tests, ident)                                                                   \
    const srtp_cipher_type_t name = {                                                                      \
        .alloc = gcm_alloc, .dealloc = gcm_dealloc, .init = gcm_init, .set_aad = gcm_set_aad,               \
        .encrypt = gcm_encrypt, .decrypt = gcm_decrypt, .set_iv = gcm_set_iv, .get_tag = gcm_get_tag,       \
        .description = text, .test_data = tests, .id = ident,                                              \
    }
GCM_TYPE(luukku_ossl_aes_gcm_128, "AES-128 GCM (OpenSSL, Luukku)", &srtp_aes_gcm_128_test_case_0, SRTP_AES_GCM_128);
GCM_TYPE(luukku_ossl_aes_gcm_256, "AES-256 GCM (OpenSSL, Luukku)", &srtp_aes_gcm_256_test_case_0, SRTP_AES_GCM_256);

// ---------------------------------------------------------------- HMAC-SHA1

typedef struct {
    EVP_MAC *mac;
    EVP_MAC_CTX *ctx;
} hmac_state;

static srtp_err_status_t hmac_alloc(srtp_auth_t **a, int key_len, int out_len) {
    if (key_len < 0 || key_len > SHA1_LEN || out_len < 0 || out_len > SHA1_LEN) return srtp_err_status_bad_param;
    srtp_auth_t *auth = calloc(1, sizeof *auth);
    hmac_state *state = calloc(1, sizeof *state);
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    char digest[] = "SHA1";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    if (auth == NULL || state == NULL || ctx == NULL || !EVP_MAC_CTX_set_params(ctx, params)) {
        EVP_MAC_CTX_free(ctx);
        EVP_MAC_free(mac);
        free(state);
        free(auth);
        return srtp_err_status_alloc_fail;
    }
    state->mac = mac;
    state->ctx = ctx;
    auth->type = &luukku_ossl_hmac_sha1;
    auth->state = state;
    auth->out_len = out_len;
    auth->key_len = key_len;
    auth->prefix_len = 0;
    *a = auth;
    return srtp_err_status_ok;
}

static srtp_err_status_t hmac_dealloc(srtp_auth_t *a) {
    if (a == NULL) return srtp_err_status_bad_param;
    hmac_state *state = a->state;
    if (state != NULL) {
        EVP_MAC_CTX_free(state->ctx);
        EVP_MAC_free(state->mac);
        free(state);
    }
    free(a);
    return srtp_err_status_ok;
}

static srtp_err_status_t hmac_init(void *sv, const uint8_t *key, int key_len) {
    hmac_state *state = sv;
    if (!EVP_MAC_init(state->ctx, key, (size_t)key_len, NULL)) return srtp_err_status_auth_fail;
    return srtp_err_status_ok;
}

// Starts a new tag with the key given to init (EVP_MAC_init with no key keeps it).
static srtp_err_status_t hmac_start(void *sv) {
    hmac_state *state = sv;
    if (!EVP_MAC_init(state->ctx, NULL, 0, NULL)) return srtp_err_status_auth_fail;
    return srtp_err_status_ok;
}

static srtp_err_status_t hmac_update(void *sv, const uint8_t *message, int length) {
    hmac_state *state = sv;
    if (length < 0 || !EVP_MAC_update(state->ctx, message, (size_t)length)) return srtp_err_status_auth_fail;
    return srtp_err_status_ok;
}

static srtp_err_status_t hmac_compute(void *sv, const uint8_t *message, int length, int tag_len, uint8_t *result) {
    hmac_state *state = sv;
    if (tag_len < 0 || tag_len > SHA1_LEN) return srtp_err_status_bad_param;
    uint8_t hash[SHA1_LEN];
    size_t produced = 0;
    if (length < 0 || !EVP_MAC_update(state->ctx, message, (size_t)length)
        || !EVP_MAC_final(state->ctx, hash, &produced, sizeof hash) || produced < (size_t)tag_len) {
        return srtp_err_status_auth_fail;
    }
    memcpy(result, hash, (size_t)tag_len);
    return srtp_err_status_ok;
}

// RFC 2202 section 3, test cases 2 and 3 (then libsrtp2's own case).
static const uint8_t rfc2202_3_key[20] = {
    0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
};
static const uint8_t rfc2202_3_data[50] = {
    0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd,
    0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd,
    0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd,
};
static const uint8_t rfc2202_3_tag[20] = {
    0x12, 0x5d, 0x73, 0x42, 0xb9, 0xac, 0x11, 0xcd, 0x91, 0xa3, 0x9a, 0xf4, 0x8a, 0xa1, 0x7b, 0x4f, 0x63, 0xf1, 0x75, 0xd3,
};
static const srtp_auth_test_case_t rfc2202_test_case_3 = {
    .key_length_octets = sizeof rfc2202_3_key,
    .key = rfc2202_3_key,
    .data_length_octets = sizeof rfc2202_3_data,
    .data = rfc2202_3_data,
    .tag_length_octets = sizeof rfc2202_3_tag,
    .tag = rfc2202_3_tag,
    .next_test_case = &srtp_hmac_test_case_0,
};
static const uint8_t rfc2202_2_key[4] = {'J', 'e', 'f', 'e'};
static const char rfc2202_2_data[] = "what do ya want for nothing?";  // 28 octets, no NUL
static const uint8_t rfc2202_2_tag[20] = {
    0xef, 0xfc, 0xdf, 0x6a, 0xe5, 0xeb, 0x2f, 0xa2, 0xd2, 0x74, 0x16, 0xd5, 0xf1, 0x84, 0xdf, 0x9c, 0x25, 0x9a, 0x7c, 0x79,
};
const srtp_auth_test_case_t luukku_rfc2202_test_case_2 = {
    .key_length_octets = sizeof rfc2202_2_key,
    .key = rfc2202_2_key,
    .data_length_octets = sizeof rfc2202_2_data - 1,
    .data = (const uint8_t *)rfc2202_2_data,
    .tag_length_octets = sizeof rfc2202_2_tag,
    .tag = rfc2202_2_tag,
    .next_test_case = &rfc2202_test_case_3,
};

const srtp_auth_type_t luukku_ossl_hmac_sha1 = {
    .alloc = hmac_alloc,
    .dealloc = hmac_dealloc,
    .init = hmac_init,
    .compute = hmac_compute,
    .update = hmac_update,
    .start = hmac_start,
    .description = "HMAC-SHA1 (OpenSSL, Luukku)",
    .test_data = &luukku_rfc2202_test_case_2,
    .id = SRTP_HMAC_SHA1,
};

// ---------------------------------------------------------------- lookup and installation

const srtp_cipher_type_t *luukku_ossl_cipher_type(srtp_cipher_type_id_t id) {
    switch (id) {
    case SRTP_AES_ICM_128: return &luukku_ossl_aes_icm_128;
    case SRTP_AES_ICM_192: return &luukku_ossl_aes_icm_192;
    case SRTP_AES_ICM_256: return &luukku_ossl_aes_icm_256;
    case SRTP_AES_GCM_128: return &luukku_ossl_aes_gcm_128;
    case SRTP_AES_GCM_256: return &luukku_ossl_aes_gcm_256;
    default: return NULL;
    }
}

const srtp_cipher_type_t *luukku_builtin_cipher_type(srtp_cipher_type_id_t id) {
    switch (id) {
    case SRTP_AES_ICM_128: return &srtp_aes_icm_128;
    case SRTP_AES_ICM_256: return &srtp_aes_icm_256;
    case SRTP_AES_GCM_128: return &srtp_aes_gcm_128;
    case SRTP_AES_GCM_256: return &srtp_aes_gcm_256;
    default: return NULL;
    }
}

srtp_err_status_t luukku_srtp_install_openssl(void) {
    static const struct {
        const srtp_cipher_type_t *type;
        srtp_cipher_type_id_t id;
    } ciphers[] = {
        {&luukku_ossl_aes_icm_128, SRTP_AES_ICM_128}, {&luukku_ossl_aes_icm_192, SRTP_AES_ICM_192},
        {&luukku_ossl_aes_icm_256, SRTP_AES_ICM_256}, {&luukku_ossl_aes_gcm_128, SRTP_AES_GCM_128},
        {&luukku_ossl_aes_gcm_256, SRTP_AES_GCM_256},
    };
    for (size_t i = 0; i < sizeof ciphers / sizeof ciphers[0]; i++) {
        srtp_err_status_t status = srtp_replace_cipher_type(ciphers[i].type, ciphers[i].id);
        if (status != srtp_err_status_ok) return status;
    }
    return srtp_replace_auth_type(&luukku_ossl_hmac_sha1, SRTP_HMAC_SHA1);
}

/* libsrtp2's NSS types (Debian's build) open an NSS context (NSS_InitContext) for every cipher they allocate
 * and close it when the cipher is freed; the last close shuts NSS down, and the next allocation starts it
 * again. With ciphers made and freed on several threads, a start-up on one thread can meet a shut-down on
 * another (seen once in CI: a fault in pthread_mutex_lock while another thread was in the dynamic loader).
 * One cipher allocated here, at load time while the process is single-threaded, and never freed keeps one
 * context open for the life of the process, so NSS starts once and never shuts down under anyone. */
static srtp_cipher_t *luukku_nss_keepalive;

__attribute__((constructor)) static void luukku_start_nss_once(void) {
    if (srtp_aes_icm_128.alloc(&luukku_nss_keepalive, 30, 0) != srtp_err_status_ok) {
        luukku_nss_keepalive = NULL;
    }
}

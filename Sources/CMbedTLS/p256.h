#ifndef MOOSYNC_CMBEDTLS_P256_H
#define MOOSYNC_CMBEDTLS_P256_H
// The P-256 scalar and point operations SPAKE2+ (RFC 9383) needs, and its KDF, MAC and password
// hash, each one mbedTLS call over byte strings: scalars are 32 bytes big-endian, points 65
// bytes uncompressed (SEC1). Every point taken in is checked to be on the curve and not the
// identity. Version differences (2.28 and 3.6) are decided here.
#include <mbedtls/version.h>
#include <mbedtls/ecp.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/md.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/pkcs5.h>

typedef struct {
    mbedtls_ecp_group group;
    mbedtls_mpi a, b;
    mbedtls_ecp_point p, q, r;
} cmbedtls_p256_scratch;

static inline int cmbedtls_p256_begin(cmbedtls_p256_scratch *s) {
    mbedtls_ecp_group_init(&s->group);
    mbedtls_mpi_init(&s->a);
    mbedtls_mpi_init(&s->b);
    mbedtls_ecp_point_init(&s->p);
    mbedtls_ecp_point_init(&s->q);
    mbedtls_ecp_point_init(&s->r);
    return mbedtls_ecp_group_load(&s->group, MBEDTLS_ECP_DP_SECP256R1);
}

static inline void cmbedtls_p256_end(cmbedtls_p256_scratch *s) {
    mbedtls_ecp_point_free(&s->r);
    mbedtls_ecp_point_free(&s->q);
    mbedtls_ecp_point_free(&s->p);
    mbedtls_mpi_free(&s->b);
    mbedtls_mpi_free(&s->a);
    mbedtls_ecp_group_free(&s->group);
}

/// Reads a scalar of exactly 32 bytes: lengths are checked here, whatever the caller passed.
static inline int cmbedtls_p256_read_scalar(mbedtls_mpi *x, const unsigned char *bytes, size_t length) {
    return length == 32 ? mbedtls_mpi_read_binary(x, bytes, 32) : MBEDTLS_ERR_ECP_BAD_INPUT_DATA;
}

/// Reads a point of exactly 65 bytes (a peer's share could be any length), on the curve and not
/// the identity.
static inline int cmbedtls_p256_read_point(cmbedtls_p256_scratch *s, mbedtls_ecp_point *point, const unsigned char *bytes, size_t length) {
    if (length != 65) return MBEDTLS_ERR_ECP_BAD_INPUT_DATA;
    int rc = mbedtls_ecp_point_read_binary(&s->group, point, bytes, 65);
    if (rc == 0) rc = mbedtls_ecp_check_pubkey(&s->group, point);
    return rc;
}

static inline int cmbedtls_p256_write_point(cmbedtls_p256_scratch *s, const mbedtls_ecp_point *point, unsigned char out[65]) {
    if (mbedtls_ecp_is_zero((mbedtls_ecp_point *)point)) return MBEDTLS_ERR_ECP_INVALID_KEY;
    size_t length = 0;
    int rc = mbedtls_ecp_point_write_binary(&s->group, point, MBEDTLS_ECP_PF_UNCOMPRESSED, &length, out, 65);
    return rc == 0 && length != 65 ? MBEDTLS_ERR_ECP_BAD_INPUT_DATA : rc;
}

/// out = a·P + b·Q, P the generator when null. The scalars are secrets (w0, x, y): each product
/// is a blinded `mbedtls_ecp_mul`, and only their sum, with scalars 1, goes through
/// `mbedtls_ecp_muladd`, which its header says is not constant-time.
static inline int cmbedtls_p256_combine(unsigned char out[65], const unsigned char *a, size_t a_length,
                                        const unsigned char *p, size_t p_length, const unsigned char *b, size_t b_length,
                                        const unsigned char *q, size_t q_length, mbedtls_ctr_drbg_context *drbg) {
    cmbedtls_p256_scratch s;
    int rc = cmbedtls_p256_begin(&s);
    if (rc == 0) rc = cmbedtls_p256_read_scalar(&s.a, a, a_length);
    if (rc == 0) rc = cmbedtls_p256_read_scalar(&s.b, b, b_length);
    if (rc == 0) rc = p ? cmbedtls_p256_read_point(&s, &s.p, p, p_length) : mbedtls_ecp_copy(&s.p, &s.group.G);
    if (rc == 0) rc = cmbedtls_p256_read_point(&s, &s.q, q, q_length);
    if (rc == 0) rc = mbedtls_ecp_mul(&s.group, &s.r, &s.a, &s.p, mbedtls_ctr_drbg_random, drbg);
    if (rc == 0) rc = mbedtls_ecp_copy(&s.p, &s.r);
    if (rc == 0) rc = mbedtls_ecp_mul(&s.group, &s.r, &s.b, &s.q, mbedtls_ctr_drbg_random, drbg);
    if (rc == 0) rc = mbedtls_ecp_copy(&s.q, &s.r);
    if (rc == 0) rc = mbedtls_mpi_lset(&s.a, 1);
    if (rc == 0) rc = mbedtls_ecp_muladd(&s.group, &s.r, &s.a, &s.p, &s.a, &s.q);
    if (rc == 0) rc = cmbedtls_p256_write_point(&s, &s.r, out);
    cmbedtls_p256_end(&s);
    return rc;
}

/// out = k·P, P the generator when null; blinded.
static inline int cmbedtls_p256_multiply(unsigned char out[65], const unsigned char *k, size_t k_length, const unsigned char *p, size_t p_length,
                                         mbedtls_ctr_drbg_context *drbg) {
    cmbedtls_p256_scratch s;
    int rc = cmbedtls_p256_begin(&s);
    if (rc == 0) rc = cmbedtls_p256_read_scalar(&s.a, k, k_length);
    if (rc == 0) rc = p ? cmbedtls_p256_read_point(&s, &s.p, p, p_length) : mbedtls_ecp_copy(&s.p, &s.group.G);
    if (rc == 0) rc = mbedtls_ecp_mul(&s.group, &s.r, &s.a, &s.p, mbedtls_ctr_drbg_random, drbg);
    if (rc == 0) rc = cmbedtls_p256_write_point(&s, &s.r, out);
    cmbedtls_p256_end(&s);
    return rc;
}

/// out = value mod n (the group order); `negate`: n − that, mod n.
static inline int cmbedtls_p256_reduce(unsigned char out[32], const unsigned char *value, size_t length, int negate) {
    cmbedtls_p256_scratch s;
    int rc = cmbedtls_p256_begin(&s);
    if (rc == 0) rc = mbedtls_mpi_read_binary(&s.a, value, length);
    if (rc == 0) rc = mbedtls_mpi_mod_mpi(&s.b, &s.a, &s.group.N);
    if (rc == 0 && negate && mbedtls_mpi_cmp_int(&s.b, 0) != 0) rc = mbedtls_mpi_sub_mpi(&s.b, &s.group.N, &s.b);
    if (rc == 0) rc = mbedtls_mpi_write_binary(&s.b, out, 32);
    cmbedtls_p256_end(&s);
    return rc;
}

/// A uniformly random scalar in [1, n − 1].
static inline int cmbedtls_p256_random_scalar(unsigned char out[32], mbedtls_ctr_drbg_context *drbg) {
    cmbedtls_p256_scratch s;
    int rc = cmbedtls_p256_begin(&s);
    if (rc == 0) rc = mbedtls_ecp_gen_privkey(&s.group, &s.a, mbedtls_ctr_drbg_random, drbg);
    if (rc == 0) rc = mbedtls_mpi_write_binary(&s.a, out, 32);
    cmbedtls_p256_end(&s);
    return rc;
}

static inline int cmbedtls_hkdf_sha256(const unsigned char *key, size_t key_length, const unsigned char *info, size_t info_length,
                                       unsigned char *out, size_t out_length) {
    return mbedtls_hkdf(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), NULL, 0, key, key_length, info, info_length, out, out_length);
}

static inline int cmbedtls_hmac_sha256(const unsigned char *key, size_t key_length, const unsigned char *message, size_t message_length,
                                       unsigned char out[32]) {
    return mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, key_length, message, message_length, out);
}

static inline int cmbedtls_pbkdf2_sha256(const unsigned char *password, size_t password_length, const unsigned char *salt,
                                         size_t salt_length, unsigned int iterations, unsigned char *out, size_t out_length) {
#if MBEDTLS_VERSION_MAJOR >= 3
    return mbedtls_pkcs5_pbkdf2_hmac_ext(MBEDTLS_MD_SHA256, password, password_length, salt, salt_length, iterations,
                                         (uint32_t)out_length, out);
#else
    mbedtls_md_context_t md;
    mbedtls_md_init(&md);
    int rc = mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
    if (rc == 0) rc = mbedtls_pkcs5_pbkdf2_hmac(&md, password, password_length, salt, salt_length, iterations, (uint32_t)out_length, out);
    mbedtls_md_free(&md);
    return rc;
#endif
}

#endif

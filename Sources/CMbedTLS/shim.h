#ifndef MOOSYNC_CMBEDTLS_SHIM_H
#define MOOSYNC_CMBEDTLS_SHIM_H
// One Swift API over mbedTLS 2.28 (bookworm, TLS 1.2) and 3.6 (trixie, TLS 1.3): every version
// difference is decided here, on the library's own version macro (DESIGN §2).
#include <mbedtls/version.h>
#include <mbedtls/ssl.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/ecp.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/sha256.h>
#include <mbedtls/bignum.h>
#include <mbedtls/net_sockets.h>
#include <string.h>
#if MBEDTLS_VERSION_MAJOR >= 3
#include <psa/crypto.h>
#endif

// mbedTLS 3 runs TLS 1.3 key exchange through PSA, which must be initialised once before any
// handshake; 2.28 has no such step.
static inline int cmbedtls_crypto_init(void) {
#if MBEDTLS_VERSION_MAJOR >= 3
    return (int)psa_crypto_init();
#else
    return 0;
#endif
}

static inline int cmbedtls_has_tls13(void) {
#if defined(MBEDTLS_SSL_PROTO_TLS1_3)
    return 1;
#else
    return 0;
#endif
}

static inline unsigned int cmbedtls_version_number(void) { return mbedtls_version_get_number(); }

// TLS 1.2 with ECDHE and AEAD only, and TLS 1.3 where the library has it: no RSA key exchange,
// no CBC, nothing older. ECDSA suites only: every identity here is a P-256 key.
static const int cmbedtls_ciphersuites[] = {
#if defined(MBEDTLS_SSL_PROTO_TLS1_3)
    MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
    MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
    MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
#endif
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    0
};

/// TLS 1.2 up to the newest the library speaks, and the suites above.
static inline void cmbedtls_conf_protocols(mbedtls_ssl_config *conf) {
#if MBEDTLS_VERSION_MAJOR >= 3
    mbedtls_ssl_conf_min_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
#if defined(MBEDTLS_SSL_PROTO_TLS1_3)
    mbedtls_ssl_conf_max_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_3);
#else
    mbedtls_ssl_conf_max_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
#endif
#else
    mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_max_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
#endif
    mbedtls_ssl_conf_ciphersuites(conf, cmbedtls_ciphersuites);
}

/// A fresh P-256 key in `pk` (initialised, empty).
static inline int cmbedtls_pk_generate_p256(mbedtls_pk_context *pk, mbedtls_ctr_drbg_context *drbg) {
    int rc = mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
    if (rc != 0) return rc;
    return mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*pk), mbedtls_ctr_drbg_random, drbg);
}

static inline int cmbedtls_pk_parse_keyfile(mbedtls_pk_context *pk, const char *path, mbedtls_ctr_drbg_context *drbg) {
#if MBEDTLS_VERSION_MAJOR >= 3
    return mbedtls_pk_parse_keyfile(pk, path, NULL, mbedtls_ctr_drbg_random, drbg);
#else
    (void)drbg;
    return mbedtls_pk_parse_keyfile(pk, path, NULL);
#endif
}

static inline int cmbedtls_pk_check_pair(const mbedtls_pk_context *pub, const mbedtls_pk_context *prv, mbedtls_ctr_drbg_context *drbg) {
#if MBEDTLS_VERSION_MAJOR >= 3
    return mbedtls_pk_check_pair(pub, prv, mbedtls_ctr_drbg_random, drbg);
#else
    (void)drbg;
    return mbedtls_pk_check_pair(pub, prv);
#endif
}

/// Whether `pk` is a P-256 key (the only kind of identity here).
static inline int cmbedtls_pk_is_p256(const mbedtls_pk_context *pk) {
    if (!mbedtls_pk_can_do(pk, MBEDTLS_PK_ECKEY)) return 0;
#if MBEDTLS_VERSION_NUMBER >= 0x03050000
    return mbedtls_ecp_keypair_get_group_id(mbedtls_pk_ec(*pk)) == MBEDTLS_ECP_DP_SECP256R1;
#else
    return mbedtls_pk_ec(*pk)->grp.id == MBEDTLS_ECP_DP_SECP256R1;
#endif
}

/// A self-signed certificate for `pk`, PEM into `out`: serial from 16 random bytes.
static inline int cmbedtls_write_self_signed(mbedtls_pk_context *pk, const char *subject, const char *not_before,
                                             const char *not_after, mbedtls_ctr_drbg_context *drbg,
                                             unsigned char *out, size_t size) {
    unsigned char serial[16];
    int rc = mbedtls_ctr_drbg_random(drbg, serial, sizeof serial);
    if (rc != 0) return rc;
    serial[0] &= 0x7f;  // a positive INTEGER
    mbedtls_x509write_cert crt;
    mbedtls_x509write_crt_init(&crt);
    mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&crt, pk);
    mbedtls_x509write_crt_set_issuer_key(&crt, pk);
#if MBEDTLS_VERSION_MAJOR >= 3
    rc = mbedtls_x509write_crt_set_serial_raw(&crt, serial, sizeof serial);
#else
    mbedtls_mpi mpi;
    mbedtls_mpi_init(&mpi);
    rc = mbedtls_mpi_read_binary(&mpi, serial, sizeof serial);
    if (rc == 0) rc = mbedtls_x509write_crt_set_serial(&crt, &mpi);
    mbedtls_mpi_free(&mpi);
#endif
    if (rc == 0) rc = mbedtls_x509write_crt_set_subject_name(&crt, subject);
    if (rc == 0) rc = mbedtls_x509write_crt_set_issuer_name(&crt, subject);
    if (rc == 0) rc = mbedtls_x509write_crt_set_validity(&crt, not_before, not_after);
    if (rc == 0) rc = mbedtls_x509write_crt_set_basic_constraints(&crt, 0, -1);
    if (rc == 0) rc = mbedtls_x509write_crt_pem(&crt, out, size, mbedtls_ctr_drbg_random, drbg);
    mbedtls_x509write_crt_free(&crt);
    return rc;
}

/// The DER bytes of a parsed certificate.
static inline const unsigned char *cmbedtls_crt_der(const mbedtls_x509_crt *crt, size_t *length) {
    *length = crt->raw.len;
    return crt->raw.p;
}

static inline int cmbedtls_sha256(const unsigned char *input, size_t length, unsigned char output[32]) {
#if MBEDTLS_VERSION_MAJOR >= 3
    return mbedtls_sha256(input, length, output, 0);
#else
    return mbedtls_sha256_ret(input, length, output, 0);
#endif
}

/// What RFC 5705's exporter needs of a TLS 1.2 session, caught when the session derives its
/// keys: mbedTLS 2.28 has no exporter of its own, only a callback with the secrets.
typedef struct {
    int filled;
    int prf;
    unsigned char master[48];
    unsigned char randoms[64];  // client random, then server random
} cmbedtls_export_secrets;

#if MBEDTLS_VERSION_MAJOR < 3
static inline int cmbedtls_catch_secrets(void *slot, const unsigned char *master, const unsigned char *key_block, size_t mac_length,
                                         size_t key_length, size_t iv_length, const unsigned char client_random[32],
                                         const unsigned char server_random[32], mbedtls_tls_prf_types prf) {
    (void)key_block; (void)mac_length; (void)key_length; (void)iv_length;
    cmbedtls_export_secrets *secrets = (cmbedtls_export_secrets *)slot;
    memcpy(secrets->master, master, sizeof secrets->master);
    memcpy(secrets->randoms, client_random, 32);
    memcpy(secrets->randoms + 32, server_random, 32);
    secrets->prf = (int)prf;
    secrets->filled = 1;
    return 0;
}
#endif

/// Where a configuration's sessions leave their secrets (2.28; 3.6 exports by itself).
static inline void cmbedtls_conf_catch_secrets(mbedtls_ssl_config *conf, cmbedtls_export_secrets *slot) {
#if MBEDTLS_VERSION_MAJOR < 3
    mbedtls_ssl_conf_export_keys_ext_cb(conf, cmbedtls_catch_secrets, slot);
#else
    (void)conf; (void)slot;
#endif
}

/// The TLS exporter (RFC 5705 for 1.2, RFC 8446 §7.5 for 1.3) with a context of at most 256
/// bytes, or none (`use_context` 0: TLS 1.2 tells an empty context from none).
static inline int cmbedtls_export_keying_material(mbedtls_ssl_context *ssl, const cmbedtls_export_secrets *secrets,
                                                  const char *label, size_t label_length,
                                                  const unsigned char *context, size_t context_length, int use_context,
                                                  unsigned char *out, size_t out_length) {
    if (context_length > 256 || label_length > 200) return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
#if MBEDTLS_VERSION_MAJOR >= 3
    (void)secrets;
    return mbedtls_ssl_export_keying_material(ssl, out, out_length, label, label_length, context, context_length, use_context);
#else
    (void)ssl;
    if (!secrets->filled) return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
    unsigned char seed[64 + 2 + 256];
    size_t seed_length = 64;
    memcpy(seed, secrets->randoms, 64);
    if (use_context) {
        seed[64] = (unsigned char)(context_length >> 8);
        seed[65] = (unsigned char)context_length;
        if (context_length > 0) memcpy(seed + 66, context, context_length);
        seed_length = 66 + context_length;
    }
    char label_string[201];
    memcpy(label_string, label, label_length);
    label_string[label_length] = 0;
    return mbedtls_ssl_tls_prf((mbedtls_tls_prf_types)secrets->prf, secrets->master, sizeof secrets->master, label_string,
                               seed, seed_length, out, out_length);
#endif
}

/// What a handshake meets when the other end sends something other than TLS records (our
/// protocol's frames in plaintext): 2.28 takes them for an old-style ClientHello, 3.6 for a
/// record it cannot decode.
static inline int cmbedtls_is_not_tls(int rc) {
    if (rc == MBEDTLS_ERR_SSL_INVALID_RECORD) return 1;
#if defined(MBEDTLS_ERR_SSL_BAD_HS_CLIENT_HELLO)
    if (rc == MBEDTLS_ERR_SSL_BAD_HS_CLIENT_HELLO) return 1;
#endif
#if defined(MBEDTLS_ERR_SSL_DECODE_ERROR)
    if (rc == MBEDTLS_ERR_SSL_DECODE_ERROR) return 1;
#endif
#if defined(MBEDTLS_ERR_SSL_UNSUPPORTED_PROTOCOL_VERSION)
    if (rc == MBEDTLS_ERR_SSL_UNSUPPORTED_PROTOCOL_VERSION) return 1;
#endif
    return 0;
}

/// The codes a non-blocking transport returns to the library.
static inline int cmbedtls_want_read(void) { return MBEDTLS_ERR_SSL_WANT_READ; }
static inline int cmbedtls_want_write(void) { return MBEDTLS_ERR_SSL_WANT_WRITE; }
static inline int cmbedtls_peer_closed(void) { return MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY; }
static inline int cmbedtls_send_failed(void) { return MBEDTLS_ERR_NET_SEND_FAILED; }
static inline int cmbedtls_recv_failed(void) { return MBEDTLS_ERR_NET_RECV_FAILED; }
static inline int cmbedtls_connection_reset(void) { return MBEDTLS_ERR_NET_CONN_RESET; }
static inline int cmbedtls_server(void) { return MBEDTLS_SSL_IS_SERVER; }
static inline int cmbedtls_client(void) { return MBEDTLS_SSL_IS_CLIENT; }
/// A TLS 1.3 server's ticket arriving after the handshake: not an error, read again.
static inline int cmbedtls_is_new_session_ticket(int rc) {
#if defined(MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
    return rc == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET;
#else
    (void)rc;
    return 0;
#endif
}

#endif

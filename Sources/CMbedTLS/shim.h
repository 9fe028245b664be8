#ifndef MOOSYNC_CMBEDTLS_SHIM_H
#define MOOSYNC_CMBEDTLS_SHIM_H
// One Swift API over mbedTLS 2.28 (bookworm, TLS 1.2) and 3.6 (trixie, TLS 1.3): every version
// difference is decided here, on the library's own version macro (DESIGN §2).
#include <mbedtls/version.h>
#include <mbedtls/ssl.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/error.h>
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

#endif

// Linked into the fuzz binaries in front of Debian's libmbedcrypto, which is not built with ASan:
// a read or write past a buffer the shim hands it (a peer's 1-byte share read as a 65-byte point)
// would happen inside that library, where ASan sees nothing. Each wrapper asks ASan whether the
// whole range it is about to pass on is addressable, and aborts with ASan's account of the address
// if not, so the fuzzer reports it as a crash; then it calls the library's own function.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sanitizer/asan_interface.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ecp.h>
#include <mbedtls/md.h>

static void require_addressable(const void *start, size_t length, const char *function) {
    if (length == 0 || start == NULL) return;
    void *bad = __asan_region_is_poisoned((void *)start, length);
    if (bad == NULL) return;
    fprintf(stderr, "mbedtls_bounds: %s given %zu bytes at %p, of which %p is not addressable\n", function, length, start, bad);
    __asan_describe_address(bad);
    abort();
}

static void *next(const char *name) {
    void *real = dlsym(RTLD_NEXT, name);
    if (real == NULL) {
        fprintf(stderr, "mbedtls_bounds: %s not found behind the wrapper\n", name);
        abort();
    }
    return real;
}

int mbedtls_mpi_read_binary(mbedtls_mpi *x, const unsigned char *bytes, size_t length) {
    static int (*real)(mbedtls_mpi *, const unsigned char *, size_t);
    if (real == NULL) real = next("mbedtls_mpi_read_binary");
    require_addressable(bytes, length, "mbedtls_mpi_read_binary");
    return real(x, bytes, length);
}

int mbedtls_mpi_write_binary(const mbedtls_mpi *x, unsigned char *bytes, size_t length) {
    static int (*real)(const mbedtls_mpi *, unsigned char *, size_t);
    if (real == NULL) real = next("mbedtls_mpi_write_binary");
    require_addressable(bytes, length, "mbedtls_mpi_write_binary");
    return real(x, bytes, length);
}

int mbedtls_ecp_point_read_binary(const mbedtls_ecp_group *group, mbedtls_ecp_point *point, const unsigned char *bytes, size_t length) {
    static int (*real)(const mbedtls_ecp_group *, mbedtls_ecp_point *, const unsigned char *, size_t);
    if (real == NULL) real = next("mbedtls_ecp_point_read_binary");
    require_addressable(bytes, length, "mbedtls_ecp_point_read_binary");
    return real(group, point, bytes, length);
}

int mbedtls_ecp_point_write_binary(const mbedtls_ecp_group *group, const mbedtls_ecp_point *point, int format, size_t *written,
                                   unsigned char *bytes, size_t length) {
    static int (*real)(const mbedtls_ecp_group *, const mbedtls_ecp_point *, int, size_t *, unsigned char *, size_t);
    if (real == NULL) real = next("mbedtls_ecp_point_write_binary");
    require_addressable(bytes, length, "mbedtls_ecp_point_write_binary");
    return real(group, point, format, written, bytes, length);
}

int mbedtls_md_hmac(const mbedtls_md_info_t *md, const unsigned char *key, size_t key_length, const unsigned char *message, size_t message_length,
                    unsigned char *out) {
    static int (*real)(const mbedtls_md_info_t *, const unsigned char *, size_t, const unsigned char *, size_t, unsigned char *);
    if (real == NULL) real = next("mbedtls_md_hmac");
    require_addressable(key, key_length, "mbedtls_md_hmac");
    require_addressable(message, message_length, "mbedtls_md_hmac");
    require_addressable(out, mbedtls_md_get_size(md), "mbedtls_md_hmac");
    return real(md, key, key_length, message, message_length, out);
}

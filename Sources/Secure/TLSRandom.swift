import CMbedTLS

/// The random generator keys, nonces and handshakes draw on: CTR_DRBG seeded from the system's
/// entropy. Owns both contexts at fixed addresses (the library keeps pointers to them).
final class TLSRandom {
    let entropy = UnsafeMutablePointer<mbedtls_entropy_context>.allocate(capacity: 1)
    let drbg = UnsafeMutablePointer<mbedtls_ctr_drbg_context>.allocate(capacity: 1)

    init(personalisation: String) throws(TLSError) {
        mbedtls_entropy_init(entropy)
        mbedtls_ctr_drbg_init(drbg)
        let bytes = Array(personalisation.utf8)
        // A throw from here on still runs deinit, which frees both.
        try TLSError.check(mbedtls_ctr_drbg_seed(drbg, mbedtls_entropy_func, entropy, bytes, bytes.count), "cannot seed the random generator")
    }

    deinit {
        mbedtls_ctr_drbg_free(drbg)
        mbedtls_entropy_free(entropy)
        drbg.deallocate()
        entropy.deallocate()
    }

    func bytes(_ count: Int) throws(TLSError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        try TLSError.check(mbedtls_ctr_drbg_random(drbg, &out, count), "cannot draw random bytes")
        return out
    }
}

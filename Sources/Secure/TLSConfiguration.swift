import CMbedTLS

/// One end's TLS settings, shared by all its connections (DESIGN §5): TLS 1.2 with ECDHE and
/// AEAD suites, or 1.3 where the library has it; this device's identity; and a peer
/// certificate asked for but not checked against a CA (there is none: devices pin each other's
/// fingerprints, checked when the handshake ends).
public final class TLSConfiguration {
    public enum Role: Sendable { case server, client }

    let config = UnsafeMutablePointer<mbedtls_ssl_config>.allocate(capacity: 1)
    /// Where the session whose handshake is being advanced leaves its secrets for the exporter
    /// (mbedTLS 2.28): one thread advances one handshake at a time, and takes them at once.
    let caughtSecrets = UnsafeMutablePointer<cmbedtls_export_secrets>.allocate(capacity: 1)
    let role: Role
    /// Kept alive for the library, which holds pointers into both.
    private let random: TLSRandom
    public let identity: TLSIdentity

    public init(role: Role, identity: TLSIdentity) throws(TLSError) {
        self.role = role
        self.identity = identity
        random = try TLSRandom(personalisation: role == .server ? "moosync host" : "moosync receiver")
        // From here a throw runs deinit.
        mbedtls_ssl_config_init(config)
        try TLSError.check(cmbedtls_crypto_init(), "cannot initialise the crypto library")
        try TLSError.check(
            mbedtls_ssl_config_defaults(
                config, role == .server ? cmbedtls_server() : cmbedtls_client(),
                MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT), "cannot set up TLS")
        cmbedtls_conf_protocols(config)
        mbedtls_ssl_conf_rng(config, mbedtls_ctr_drbg_random, random.drbg)
        try TLSError.check(mbedtls_ssl_conf_own_cert(config, identity.certificate, identity.key), "cannot use this device's certificate")
        mbedtls_ssl_conf_authmode(config, MBEDTLS_SSL_VERIFY_OPTIONAL)
        caughtSecrets.initialize(to: cmbedtls_export_secrets())
        cmbedtls_conf_catch_secrets(config, caughtSecrets)
    }

    deinit {
        mbedtls_ssl_config_free(config)
        config.deallocate()
        caughtSecrets.deallocate()
    }
}

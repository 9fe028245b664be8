import CMbedTLS
import Core

/// mbedTLS as this build has it. The TLS channel (a `ByteChannel`) arrives with the security
/// issue; until then the daemons report which generation they would speak (DESIGN §5).
public enum TLSLibrary {
    public static var version: String {
        let n = cmbedtls_version_number()
        return "\(n >> 24).\((n >> 16) & 0xFF).\((n >> 8) & 0xFF)"
    }

    /// "1.3" where the library has it (trixie), else "1.2" (bookworm).
    public static var bestProtocol: String { cmbedtls_has_tls13() != 0 ? "1.3" : "1.2" }
}

import CMbedTLS
import Core
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// This device's own key and self-signed certificate (DESIGN §5): an ECDSA P-256 key made on
/// first run and kept in the state directory (`NAME.key`, mode 0600, and `NAME.crt`), so the
/// fingerprint peers pin stays the same across restarts.
public final class TLSIdentity {
    let key = UnsafeMutablePointer<mbedtls_pk_context>.allocate(capacity: 1)
    let certificate = UnsafeMutablePointer<mbedtls_x509_crt>.allocate(capacity: 1)
    /// SHA-256 of the certificate: what a peer pins.
    public private(set) var fingerprint = Fingerprint(bytes: [UInt8](repeating: 0, count: 32))!

    /// Loads `directory/NAME.key` and `NAME.crt`, or makes both when neither is there.
    public convenience init(directory: String, name: String, commonName: String) throws(IdentityError) {
        let keyPath = directory + "/" + name + ".key"
        let certificatePath = directory + "/" + name + ".crt"
        let random: TLSRandom
        do { random = try TLSRandom(personalisation: "moosync identity") } catch { throw .library(error) }
        switch (access(keyPath, F_OK) == 0, access(certificatePath, F_OK) == 0) {
        case (true, true):
            break
        case (false, false):
            try Self.create(directory: directory, keyPath: keyPath, certificatePath: certificatePath, commonName: commonName, random: random)
        case (true, false):
            throw .incomplete(present: keyPath, missing: certificatePath)
        case (false, true):
            throw .incomplete(present: certificatePath, missing: keyPath)
        }
        self.init()
        // From here a throw runs deinit, which frees both contexts.
        let rc = cmbedtls_pk_parse_keyfile(key, keyPath, random.drbg)
        guard rc == 0 else { throw .unreadable(keyPath, TLSError(code: rc, "key")) }
        let crc = mbedtls_x509_crt_parse_file(certificate, certificatePath)
        guard crc == 0 else { throw .unreadable(certificatePath, TLSError(code: crc, "certificate")) }
        guard cmbedtls_pk_is_p256(key) != 0 else { throw .notP256(keyPath) }
        guard cmbedtls_pk_check_pair(&certificate.pointee.pk, key, random.drbg) == 0 else {
            throw .mismatched(key: keyPath, certificate: certificatePath)
        }
        fingerprint = Fingerprint(certificate: certificate)
    }

    private init() {
        mbedtls_pk_init(key)
        mbedtls_x509_crt_init(certificate)
    }

    deinit {
        mbedtls_x509_crt_free(certificate)
        mbedtls_pk_free(key)
        certificate.deallocate()
        key.deallocate()
    }

    private static func create(directory: String, keyPath: String, certificatePath: String, commonName: String, random: TLSRandom) throws(IdentityError) {
        do throws(Errno) { try makeDirectory(directory, mode: 0o755) } catch { throw .cannotWrite(directory, error) }
        let pk = UnsafeMutablePointer<mbedtls_pk_context>.allocate(capacity: 1)
        mbedtls_pk_init(pk)
        defer {
            mbedtls_pk_free(pk)
            pk.deallocate()
        }
        var rc = cmbedtls_pk_generate_p256(pk, random.drbg)
        guard rc == 0 else { throw .library(TLSError(code: rc, "cannot make a P-256 key")) }
        var pem = [UInt8](repeating: 0, count: 4096)
        rc = mbedtls_pk_write_key_pem(pk, &pem, pem.count)
        guard rc == 0 else { throw .library(TLSError(code: rc, "cannot encode the key")) }
        let keyPEM = Array(pem.prefix { $0 != 0 })
        pem = [UInt8](repeating: 0, count: 4096)
        // A distinguished name is a comma-separated list: a comma in the name would split it.
        let name = "CN=" + commonName.replacingCommas
        rc = cmbedtls_write_self_signed(pk, name, "20250101000000", "20991231235959", random.drbg, &pem, pem.count)
        guard rc == 0 else { throw .library(TLSError(code: rc, "cannot make a certificate")) }
        // The key first, created exclusively and private: a half-made identity is found by
        // its missing certificate and named, never silently replaced.
        try write(keyPEM, to: keyPath, mode: 0o600)
        try write(Array(pem.prefix { $0 != 0 }), to: certificatePath, mode: 0o644)
    }

    private static func write(_ bytes: [UInt8], to path: String, mode: mode_t) throws(IdentityError) {
        do throws(Errno) { try writeNewFile(path, bytes, mode: mode) } catch { throw .cannotWrite(path, error) }
    }
}

extension String {
    fileprivate var replacingCommas: String { String(map { $0 == "," || $0 == "=" ? " " : $0 }) }
}

/// SHA-256 of a certificate's DER encoding.
public struct Fingerprint: Equatable, Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    init(certificate: UnsafePointer<mbedtls_x509_crt>) {
        var length = 0
        let der = cmbedtls_crt_der(certificate, &length)
        var digest = [UInt8](repeating: 0, count: 32)
        _ = cmbedtls_sha256(der, length, &digest)
        bytes = digest
    }

    /// 64 hex digits, optionally in pairs separated by colons (as `openssl x509 -fingerprint` prints).
    public init?(hex text: String) {
        guard let bytes = unhex(text.filter { $0 != ":" }), bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    /// Lowercase hex, pairs separated by colons.
    public var description: String { hex(bytes, separator: ":") }
}

/// Why this device's identity could not be loaded or made.
public enum IdentityError: Error, Equatable, CustomStringConvertible {
    case cannotWrite(String, Errno)
    case incomplete(present: String, missing: String)
    case unreadable(String, TLSError)
    case notP256(String)
    case mismatched(key: String, certificate: String)
    case library(TLSError)

    public var description: String {
        switch self {
        case .cannotWrite(let path, let e): "cannot write \(path): \(e)"
        case .incomplete(let present, let missing):
            "\(present) is there but \(missing) is not; restore it, or remove both to make a new identity (peers that pinned the old one will refuse the new)"
        case .unreadable(let path, let e): "cannot read \(path): \(e)"
        case .notP256(let path): "\(path) is not an ECDSA P-256 key"
        case .mismatched(let key, let certificate): "\(key) does not match \(certificate); remove both to make a new identity"
        case .library(let e): e.description
        }
    }
}

import CMbedTLS
import Core
import Transport

/// SPAKE2+ (RFC 9383) over P-256 with SHA-256, HKDF-SHA256 and HMAC-SHA256: the password proof
/// Matter commissions devices with (DESIGN §5). The receiver (prover) knows the password; the
/// host (verifier) keeps only (w0, L), from which the password cannot be recovered without an
/// offline guess per candidate at the cost of PBKDF2. Both bind the exchange to `context` (our
/// protocol's name and the TLS session's exporter value), so it cannot be replayed or relayed.
/// The arithmetic is mbedTLS's (`CMbedTLS/p256.h`); this is the protocol around it.
public enum SPAKE2Plus {
    /// RFC 9382's M and N for P-256, uncompressed.
    static let M = unhex("04886e2f97ace46e55ba9dd7242579f2993b64e16ef3dcab95afd497333d8fa12f5ff355163e43ce224e0b0e65ff02ac8e5c7be09419c785e0ca547d55a12e2d20")!
    static let one = [UInt8](repeating: 0, count: 31) + [1]
    static let N = unhex("04d8bbd6c639c62937b04d997f38c3770719c629d7014d49a24b4f98baa1292b4907d60aa6bfade45008a636337f5168c64d9bd36034808cd564490b1e656edbe7")!

    public enum Failure: Error, Equatable, CustomStringConvertible {
        /// The other side's share is not a point of the group (or the identity).
        case invalidShare
        /// Its confirmation does not match: the other side used another password (or context).
        case confirmationMismatch
        case library(TLSError)
        /// Over TLS, the session's keying material (the binding) could not be had.
        case unboundSession

        public var description: String {
            switch self {
            case .unboundSession: "the TLS session's keying material could not be exported to bind the password proof to it"
            case .invalidShare: "the peer's SPAKE2+ share is not a valid P-256 point"
            case .confirmationMismatch: "the SPAKE2+ confirmation does not match (wrong password)"
            case .library(let e): e.description
            }
        }
    }

    /// w0 and w1 from `password` (RFC 9383 §3.2): PBKDF2-HMAC-SHA256 over the length-prefixed
    /// password and (empty) identities, 40 bytes each reduced mod n.
    public static func derive(password: String, salt: [UInt8], iterations: Int) throws(Failure) -> (w0: [UInt8], w1: [UInt8]) {
        let input = lengthPrefixed([Array(password.utf8), [], []])
        var out = [UInt8](repeating: 0, count: 80)
        try check(cmbedtls_pbkdf2_sha256(input, input.count, salt, salt.count, UInt32(iterations), &out, out.count), "PBKDF2")
        return (try reduce(Array(out[0..<40])), try reduce(Array(out[40..<80])))
    }

    /// L = w1·G: what the verifier keeps in place of w1.
    public static func registration(w1: [UInt8]) throws(Failure) -> [UInt8] {
        var point = [UInt8](repeating: 0, count: 65)
        let random = try randomGenerator()
        try check(cmbedtls_p256_multiply(&point, w1, w1.count, nil, 0, random.drbg), "L = w1·G")
        return point
    }

    /// The keys both sides derive once each knows Z and V (RFC 9383 §3.4).
    struct Keys {
        var confirmP: [UInt8]
        var confirmV: [UInt8]
        var shared: [UInt8]
    }

    static func keys(
        context: [UInt8], idProver: [UInt8], idVerifier: [UInt8], shareP: [UInt8], shareV: [UInt8],
        z: [UInt8], v: [UInt8], w0: [UInt8]
    ) throws(Failure) -> Keys {
        let transcript = lengthPrefixed([context, idProver, idVerifier, M, N, shareP, shareV, z, v, w0])
        var main = [UInt8](repeating: 0, count: 32)
        try check(cmbedtls_sha256(transcript, transcript.count, &main), "SHA-256")
        var confirmation = [UInt8](repeating: 0, count: 64)
        let confirmationInfo = Array("ConfirmationKeys".utf8)
        try check(cmbedtls_hkdf_sha256(main, main.count, confirmationInfo, confirmationInfo.count, &confirmation, confirmation.count), "HKDF")
        var shared = [UInt8](repeating: 0, count: 32)
        let sharedInfo = Array("SharedKey".utf8)
        try check(cmbedtls_hkdf_sha256(main, main.count, sharedInfo, sharedInfo.count, &shared, shared.count), "HKDF")
        let kConfirmP = Array(confirmation[0..<32])
        let kConfirmV = Array(confirmation[32..<64])
        return Keys(confirmP: try mac(kConfirmP, shareV), confirmV: try mac(kConfirmV, shareP), shared: shared)
    }

    static func mac(_ key: [UInt8], _ message: [UInt8]) throws(Failure) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        try check(cmbedtls_hmac_sha256(key, key.count, message, message.count, &out), "HMAC")
        return out
    }

    /// a·P + b·Q (P the generator when nil); a P or Q that is not a point is the peer's fault.
    static func combine(_ a: [UInt8], _ p: [UInt8]?, _ b: [UInt8], _ q: [UInt8]) throws(Failure) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 65)
        let random = try randomGenerator()
        let rc =
            p.map { cmbedtls_p256_combine(&out, a, a.count, $0, $0.count, b, b.count, q, q.count, random.drbg) }
            ?? cmbedtls_p256_combine(&out, a, a.count, nil, 0, b, b.count, q, q.count, random.drbg)
        guard rc == 0 else { throw pointFailure(rc) }
        return out
    }

    /// A point that cannot be read or is not on the curve came from the peer.
    private static func pointFailure(_ rc: Int32) -> Failure {
        [MBEDTLS_ERR_ECP_INVALID_KEY, MBEDTLS_ERR_ECP_BAD_INPUT_DATA, MBEDTLS_ERR_ECP_FEATURE_UNAVAILABLE].contains(rc)
            ? .invalidShare : .library(TLSError(code: rc, "P-256"))
    }

    static func multiply(_ k: [UInt8], _ p: [UInt8], _ random: TLSRandom) throws(Failure) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 65)
        let rc = cmbedtls_p256_multiply(&out, k, k.count, p, p.count, random.drbg)
        guard rc == 0 else { throw pointFailure(rc) }
        return out
    }

    static func reduce(_ value: [UInt8], negate: Bool = false) throws(Failure) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        try check(cmbedtls_p256_reduce(&out, value, value.count, negate ? 1 : 0), "mod n")
        return out
    }

    static func randomScalar(_ random: TLSRandom) throws(Failure) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        try check(cmbedtls_p256_random_scalar(&out, random.drbg), "random scalar")
        return out
    }

    static func randomGenerator() throws(Failure) -> TLSRandom {
        do { return try TLSRandom(personalisation: "moosync spake2+") } catch { throw .library(error) }
    }

    /// Each part preceded by its length, 8 bytes little-endian.
    static func lengthPrefixed(_ parts: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        for part in parts {
            withUnsafeBytes(of: UInt64(part.count).littleEndian) { out += $0 }
            out += part
        }
        return out
    }

    static func check(_ rc: Int32, _ what: String) throws(Failure) {
        if rc != 0 { throw .library(TLSError(code: rc, what)) }
    }

    /// Equal, in time that does not depend on where they differ.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }

}

/// The receiver's side: it knows the password (w0, w1), speaks first, and checks the host's
/// confirmation before sending its own.
public struct SPAKE2PlusProver {
    public let shareP: [UInt8]
    private let x: [UInt8]
    private let w0: [UInt8]
    private let w1: [UInt8]
    private let context: [UInt8]
    private let idProver: [UInt8]
    private let idVerifier: [UInt8]

    /// `x` only for test vectors: otherwise a fresh random scalar.
    public init(w0: [UInt8], w1: [UInt8], context: [UInt8], idProver: [UInt8] = [], idVerifier: [UInt8] = [], x: [UInt8]? = nil) throws(SPAKE2Plus.Failure) {
        if let x { self.x = x } else { self.x = try SPAKE2Plus.randomScalar(try SPAKE2Plus.randomGenerator()) }
        self.w0 = w0
        self.w1 = w1
        self.context = context
        self.idProver = idProver
        self.idVerifier = idVerifier
        shareP = try SPAKE2Plus.combine(self.x, nil, w0, SPAKE2Plus.M)
    }

    /// The host's share and confirmation: this side's confirmation and the shared key, or why not.
    public func finish(shareV: [UInt8], confirmV: [UInt8]) throws(SPAKE2Plus.Failure) -> (confirmP: [UInt8], sharedKey: [UInt8]) {
        let keys = try keys(shareV: shareV)
        guard SPAKE2Plus.constantTimeEqual(keys.confirmV, confirmV) else { throw .confirmationMismatch }
        return (keys.confirmP, keys.shared)
    }

    func keys(shareV: [UInt8]) throws(SPAKE2Plus.Failure) -> SPAKE2Plus.Keys {
        // Y − w0·N, then Z = x·(Y − w0·N) and V = w1·(Y − w0·N) (cofactor 1).
        let unblinded = try SPAKE2Plus.combine(
            SPAKE2Plus.one,
            shareV, try SPAKE2Plus.reduce(w0, negate: true), SPAKE2Plus.N)
        let random = try SPAKE2Plus.randomGenerator()
        let z = try SPAKE2Plus.multiply(x, unblinded, random)
        let v = try SPAKE2Plus.multiply(w1, unblinded, random)
        return try SPAKE2Plus.keys(context: context, idProver: idProver, idVerifier: idVerifier, shareP: shareP, shareV: shareV, z: z, v: v, w0: w0)
    }
}

/// The host's side: it keeps (w0, L), answers the receiver's share with its own and a
/// confirmation, and then checks the receiver's.
public struct SPAKE2PlusVerifier: Sendable {
    public let shareV: [UInt8]
    public let confirmV: [UInt8]
    public let sharedKey: [UInt8]
    private let expectedConfirmP: [UInt8]

    /// `y` only for test vectors: otherwise a fresh random scalar.
    public init(
        w0: [UInt8], L: [UInt8], context: [UInt8], shareP: [UInt8], idProver: [UInt8] = [], idVerifier: [UInt8] = [],
        y: [UInt8]? = nil
    ) throws(SPAKE2Plus.Failure) {
        let random = try SPAKE2Plus.randomGenerator()
        let y = if let y { y } else { try SPAKE2Plus.randomScalar(random) }
        shareV = try SPAKE2Plus.combine(y, nil, w0, SPAKE2Plus.N)
        // X − w0·M, then Z = y·(X − w0·M) and V = y·L.
        let unblinded = try SPAKE2Plus.combine(
            SPAKE2Plus.one,
            shareP, try SPAKE2Plus.reduce(w0, negate: true), SPAKE2Plus.M)
        let z = try SPAKE2Plus.multiply(y, unblinded, random)
        let v = try SPAKE2Plus.multiply(y, L, random)
        let keys = try SPAKE2Plus.keys(context: context, idProver: idProver, idVerifier: idVerifier, shareP: shareP, shareV: shareV, z: z, v: v, w0: w0)
        confirmV = keys.confirmV
        sharedKey = keys.shared
        expectedConfirmP = keys.confirmP
    }

    /// Whether the receiver's confirmation proves it knows the password.
    public func accepts(confirmP: [UInt8]) -> Bool { SPAKE2Plus.constantTimeEqual(confirmP, expectedConfirmP) }
}

/// What the host keeps of a password (RFC 9383 §3.2): the PBKDF2 salt and iterations receivers
/// derive their keys with, w0, and L = w1·G. Written to the config as
/// `spake2+p256:ITERATIONS:SALT:W0:L` (hex), by `mshost passwd`.
public struct PasswordVerifier: Equatable, Sendable, CustomStringConvertible {
    public let salt: [UInt8]
    public let iterations: Int
    public let w0: [UInt8]
    public let L: [UInt8]

    /// PBKDF2 work per guess: tens of milliseconds on a Raspberry Pi, once per connection.
    public static let defaultIterations = 20_000

    /// From a password, with a fresh random salt.
    public init(password: String, iterations: Int = PasswordVerifier.defaultIterations) throws(SPAKE2Plus.Failure) {
        let random = try SPAKE2Plus.randomGenerator()
        let salt: [UInt8]
        do { salt = try random.bytes(16) } catch { throw .library(error) }
        let keys = try SPAKE2Plus.derive(password: password, salt: salt, iterations: iterations)
        self.salt = salt
        self.iterations = iterations
        w0 = keys.w0
        L = try SPAKE2Plus.registration(w1: keys.w1)
    }

    /// From the config's text; nil when it is not one (or L is not a point of the curve).
    public init?(encoded text: String) {
        let fields = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 5, fields[0] == "spake2+p256", let iterations = Int(fields[1]),
            let salt = unhex(fields[2]), let w0 = unhex(fields[3]), let L = unhex(fields[4]),
            (16...64).contains(salt.count), (1_000...100_000).contains(iterations), w0.count == 32, L.count == 65,
            // w0 is a scalar below the group's order n (what derive makes): a larger one is not one mshost passwd wrote.
            (try? SPAKE2Plus.reduce(w0)) == w0,
            (try? SPAKE2Plus.combine(SPAKE2Plus.one, nil, SPAKE2Plus.one, L)) != nil
        else { return nil }
        self.salt = salt
        self.iterations = iterations
        self.w0 = w0
        self.L = L
    }

    public var description: String {
        ["spake2+p256", String(iterations), hex(salt), hex(w0), hex(L)].joined(separator: ":")
    }
}

extension SPAKE2Plus {
    /// What both ends bind the exchange to: this protocol, and the TLS session it runs in (the
    /// exporter's value differs for every session, so a proof relayed or replayed into another
    /// does not verify). Without TLS (`encryption: none`) only the protocol's name. Over TLS an
    /// exporter that fails is a failure, not a proof without the binding.
    public static func context(of channel: any ByteChannel) throws(Failure) -> [UInt8] {
        let name = Array("moosync-audio-share/1 SPAKE2+".utf8)
        guard let exported = channel.exportKeyingMaterial(label: "EXPORTER-moosync-spake2plus", context: nil, length: 32) else {
            guard !(channel is TLSChannel) else { throw .unboundSession }
            return name
        }
        return name + exported
    }
}

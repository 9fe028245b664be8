import Config
import Secure

/// Who the host admits (DESIGN §5): with neither a password nor a list, anyone who completes
/// TLS; a receiver whose certificate is on the list, at once; else one that proves the
/// password; else none. With both, either one admits.
public struct Admission: Sendable {
    public var password: PasswordVerifier?
    public var allowedClients: Set<Fingerprint>

    public init(password: PasswordVerifier? = nil, allowedClients: Set<Fingerprint> = []) {
        self.password = password
        self.allowedClients = allowedClients
    }
}

/// Why the configured password cannot admit anyone; the host does not start.
public enum AdmissionError: Error, Equatable, CustomStringConvertible {
    /// `sharing.password_verifier` is not what `mshost passwd` writes.
    case notAVerifier
    /// `sharing.password` could not be turned into a verifier.
    case underivable(SPAKE2Plus.Failure)

    public var description: String {
        switch self {
        case .notAVerifier:
            "sharing.password_verifier: not a verifier `mshost passwd` wrote (its point L is not on the curve, or a field is out of range); "
                + "run mshost passwd again"
        case .underivable(let failure): "sharing.password: \(failure)"
        }
    }
}

extension Admission {
    /// Who `sharing` admits: receivers that prove its password (the verifier read, or derived
    /// from a plaintext `password`), and those whose certificates `allowed_clients` lists.
    public init(sharing: SharingSettings) throws(AdmissionError) {
        self.init(
            password: try Self.verifier(sharing.password, derivingPlaintext: true),
            allowedClients: Set(sharing.allowedClients.compactMap { Fingerprint(hex: $0) }))
    }

    /// What `mshost --check` asks: whether a configured verifier is one (a plaintext password
    /// is not derived: that takes the time of a start).
    public static func check(_ sharing: SharingSettings) throws(AdmissionError) {
        _ = try verifier(sharing.password, derivingPlaintext: false)
    }

    private static func verifier(_ setting: PasswordSetting?, derivingPlaintext: Bool) throws(AdmissionError) -> PasswordVerifier? {
        switch setting {
        case .verifier(let text)?:
            guard let verifier = PasswordVerifier(encoded: text) else { throw .notAVerifier }
            return verifier
        case .plaintext(let text)? where derivingPlaintext:
            do { return try PasswordVerifier(password: text) } catch { throw .underivable(error) }
        case .plaintext?, nil:
            return nil
        }
    }
}

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

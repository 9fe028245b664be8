import CAvahi
import Core

/// mDNS names and Avahi errors. Browsing and advertising arrive with the discovery issue.
public enum MDNSService {
    public static let type = "_moosync-audio._tcp"
}

/// An Avahi error code, typed.
public struct AvahiError: Error, Equatable, CustomStringConvertible {
    public var code: Int32
    public init(code: Int32) { self.code = code }
    public var description: String { "avahi: " + String(cString: avahi_strerror(code)) }
}

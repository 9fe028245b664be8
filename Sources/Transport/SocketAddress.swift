import Core

#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 address with a port, owned by value.
public struct SocketAddress: CustomStringConvertible, Sendable {
    private var storage: sockaddr_storage
    private var length: socklen_t

    public var family: CInt { CInt(storage.ss_family) }

    /// The port, in host order (0 for a family without one).
    public var port: UInt16 {
        withSockaddr { address, _ in
            switch CInt(address.pointee.sa_family) {
            case AF_INET6: address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            case AF_INET: address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
            default: 0
            }
        }
    }

    init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        withUnsafePointer(to: storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }

    /// Every address of `host`. A name may take seconds (a DNS server that does not answer):
    /// not for a reactor's thread, which can read a numeric address with `literal`.
    public static func resolve(host: String, port: UInt16) throws(TransportError) -> [SocketAddress] {
        try resolve(host: host, port: port, flags: 0)
    }

    /// `host` as a numeric IPv4 or IPv6 address, at once; nil for a name.
    public static func literal(host: String, port: UInt16) -> SocketAddress? {
        (try? resolve(host: host, port: port, flags: AI_NUMERICHOST))?.first
    }

    private static func resolve(host: String, port: UInt16, flags: CInt) throws(TransportError) -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_socktype = CInt(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        hints.ai_flags = flags
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw .resolve(host: host, String(cString: gai_strerror(rc)))
        }
        defer { freeaddrinfo(list) }
        var result: [SocketAddress] = []
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let n = node {
            var storage = sockaddr_storage()
            withUnsafeMutableBytes(of: &storage) { dst in
                dst.copyMemory(from: UnsafeRawBufferPointer(start: n.pointee.ai_addr, count: Int(n.pointee.ai_addrlen)))
            }
            result.append(SocketAddress(storage: storage, length: n.pointee.ai_addrlen))
            node = n.pointee.ai_next
        }
        return result
    }

    public var description: String {
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let rc = withSockaddr { getnameinfo($0, $1, &host, socklen_t(host.count), &service, socklen_t(service.count), NI_NUMERICHOST | NI_NUMERICSERV) }
        guard rc == 0 else { return "?" }
        func text(_ chars: [CChar]) -> String {
            String(decoding: chars.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        let h = text(host)
        // An IPv4 peer on the dual-stack listener is written as people know it.
        if family == AF_INET6, h.hasPrefix("::ffff:"), h.contains(".") { return "\(h.dropFirst(7)):\(text(service))" }
        return family == AF_INET6 ? "[\(h)]:\(text(service))" : "\(h):\(text(service))"
    }
}

/// `HOST:PORT`, `[V6]:PORT`; nil when it is not of that form.
public func parseHostPort(_ text: String) -> (host: String, port: UInt16)? {
    let host: Substring
    let portText: Substring
    if text.hasPrefix("[") {
        guard let close = text.firstIndex(of: "]") else { return nil }
        host = text[text.index(after: text.startIndex)..<close]
        let rest = text[text.index(after: close)...]
        guard rest.hasPrefix(":") else { return nil }
        portText = rest.dropFirst()
    } else {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        host = text[..<colon]
        portText = text[text.index(after: colon)...]
    }
    guard !host.isEmpty, let port = UInt16(portText), port > 0 else { return nil }
    return (String(host), port)
}

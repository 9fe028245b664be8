import CMbedTLS
import Core
import Platform
import Transport

#if canImport(Glibc)
import Glibc
#endif

/// TLS over another channel (TCP), non-blocking like it: each call says which readiness of the
/// socket it waits for, which for TLS can be a write during a read and the reverse (DESIGN §5).
/// The handshake ends with `verifyPeer` deciding on the peer (its fingerprint, the protocol agreed).
public final class TLSChannel: ByteChannel {
    private let inner: any ByteChannel
    private let configuration: TLSConfiguration
    private let ssl = UnsafeMutablePointer<mbedtls_ssl_context>.allocate(capacity: 1)
    private let verifyPeer: (TLSChannel) -> ChannelError?
    private var connected = false
    private var established = false
    /// What the socket said when the library's last transfer through it failed.
    private var transportError: Errno?
    private var transportClosed = false
    /// The length of a write the library took but could not send yet: the retry must offer the
    /// same bytes, and not more (mbedTLS would count them as sent).
    private var pendingWrite: Int?
    public private(set) var peerFingerprint: Fingerprint?
    private var secrets = cmbedtls_export_secrets()
    /// The protocol and suite agreed, once established: "TLSv1.3 TLS1-3-AES-128-GCM-SHA256".
    public private(set) var negotiated: String?

    init(over inner: any ByteChannel, configuration: TLSConfiguration, verifyPeer: @escaping (TLSChannel) -> ChannelError?) throws(TLSError) {
        self.inner = inner
        self.configuration = configuration
        self.verifyPeer = verifyPeer
        mbedtls_ssl_init(ssl)
        // From here a throw runs deinit.
        try TLSError.check(mbedtls_ssl_setup(ssl, configuration.config), "cannot set up a TLS session")
        if configuration.role == .client {
            // Devices are known by fingerprint, not by a name in a certificate: no host name check.
            try TLSError.check(mbedtls_ssl_set_hostname(ssl, nil), "cannot set up a TLS session")
        }
        mbedtls_ssl_set_bio(ssl, Unmanaged.passUnretained(self).toOpaque(), Self.send, Self.receive, nil)
    }

    deinit {
        inner.close()
        mbedtls_ssl_free(ssl)
        ssl.deallocate()
    }

    public var fileDescriptor: CInt { inner.fileDescriptor }
    public var peerDescription: String { inner.peerDescription }
    public var lastArrival: Microseconds? { inner.lastArrival }
    public var readsAhead: Bool {
        get { inner.readsAhead }
        set { inner.readsAhead = newValue }
    }
    public var peerCertificateFingerprint: [UInt8]? { peerFingerprint?.bytes }

    public func handshake() -> HandshakeProgress {
        if !connected {
            let progress = inner.handshake()
            guard progress == .done else { return progress }
            connected = true
        }
        guard !established else { return .done }
        configuration.caughtSecrets.pointee.filled = 0
        let rc = mbedtls_ssl_handshake(ssl)
        if configuration.caughtSecrets.pointee.filled != 0 { secrets = configuration.caughtSecrets.pointee }
        if let waiting = Self.waiting(rc) { return .wouldBlock(waiting) }
        guard rc == 0 else { return .failed(.handshake(peer: peerDescription, reason: failure(rc))) }
        established = true
        negotiated = String(cString: mbedtls_ssl_get_version(ssl)) + " " + String(cString: mbedtls_ssl_get_ciphersuite(ssl))
        peerFingerprint = mbedtls_ssl_get_peer_cert(ssl).map { Fingerprint(certificate: $0) }
        if let refused = verifyPeer(self) { return .failed(refused) }
        return .done
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        guard established else { return .wouldBlock(.read) }
        while true {
            let rc = mbedtls_ssl_read(ssl, buffer.baseAddress?.assumingMemoryBound(to: UInt8.self), buffer.count)
            if rc > 0 { return .bytes(Int(rc)) }
            if let waiting = Self.waiting(rc) { return .wouldBlock(waiting) }
            if cmbedtls_is_new_session_ticket(rc) != 0 { continue }
            if rc == 0 || rc == cmbedtls_peer_closed() || transportClosed { return .endOfStream }
            return .failed(transportError ?? Errno(EPROTO))
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) -> IOResult {
        guard established else { return .wouldBlock(.write) }
        let length = min(pendingWrite ?? bytes.count, bytes.count)
        let rc = mbedtls_ssl_write(ssl, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), length)
        if rc >= 0 {
            pendingWrite = nil
            return .bytes(Int(rc))
        }
        if let waiting = Self.waiting(rc) {
            pendingWrite = length
            return .wouldBlock(waiting)
        }
        return .failed(transportError ?? (transportClosed ? .brokenPipe : Errno(EPROTO)))
    }

    public func close() {
        // Best effort: the alert goes if the socket takes it now.
        if established { _ = mbedtls_ssl_close_notify(ssl) }
        established = false
        inner.close()
    }

    public func exportKeyingMaterial(label: String, context: [UInt8]?, length: Int) -> [UInt8]? {
        guard established else { return nil }
        var out = [UInt8](repeating: 0, count: length)
        let label = Array(label.utf8).map { CChar(bitPattern: $0) }
        let bytes = context ?? []
        let rc = cmbedtls_export_keying_material(ssl, &secrets, label, label.count, bytes, bytes.count, context != nil ? 1 : 0, &out, length)
        return rc == 0 ? out : nil
    }

    /// Why a handshake failed, in words that point at the likely cause.
    private func failure(_ rc: Int32) -> String {
        if let transportError { return transportError.description }
        if transportClosed { return "the peer closed the connection (does it speak TLS? both ends need the same encryption setting)" }
        if cmbedtls_is_not_tls(rc) != 0 {
            return "the peer does not speak TLS (both ends need the same encryption setting)"
        }
        return TLSError(code: rc, "").description
    }

    private static func waiting(_ rc: Int32) -> Interest? {
        rc == cmbedtls_want_read() ? .read : rc == cmbedtls_want_write() ? .write : nil
    }

    private static let send: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<UInt8>?, Int) -> Int32 = { context, bytes, count in
        let channel = Unmanaged<TLSChannel>.fromOpaque(context!).takeUnretainedValue()
        switch channel.inner.write(UnsafeRawBufferPointer(start: bytes, count: count)) {
        case .bytes(let n): return Int32(n)
        case .wouldBlock: return cmbedtls_want_write()
        case .endOfStream:
            channel.transportClosed = true
            return cmbedtls_connection_reset()
        case .failed(let e):
            channel.transportError = e
            return cmbedtls_send_failed()
        }
    }

    private static let receive: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutablePointer<UInt8>?, Int) -> Int32 = { context, bytes, count in
        let channel = Unmanaged<TLSChannel>.fromOpaque(context!).takeUnretainedValue()
        switch channel.inner.read(into: UnsafeMutableRawBufferPointer(start: bytes, count: count)) {
        case .bytes(let n): return Int32(n)
        case .wouldBlock: return cmbedtls_want_read()
        case .endOfStream:
            channel.transportClosed = true
            return 0
        case .failed(let e):
            channel.transportError = e
            return cmbedtls_recv_failed()
        }
    }
}

/// Connections over TLS: TCP underneath, this end's configuration, and the check of each peer
/// when its handshake ends (nil: accepted).
public struct TLSTransport: ChannelTransport {
    private let tcp = TCPTransport()
    public let configuration: TLSConfiguration
    private let verifyPeer: (TLSChannel) -> ChannelError?

    public init(configuration: TLSConfiguration, verifyPeer: @escaping (TLSChannel) -> ChannelError? = { _ in nil }) {
        self.configuration = configuration
        self.verifyPeer = verifyPeer
    }

    public func connect(to address: SocketAddress) throws(TransportError) -> any ByteChannel {
        try secure(try tcp.connect(to: address))
    }

    public func accept(from listener: borrowing TCPListener) -> (any ByteChannel)? {
        guard let inner = tcp.accept(from: listener) else { return nil }
        // A session that cannot even be set up (out of memory) drops this one connection.
        return try? secure(inner)
    }

    /// A TLS session of this end's over `inner`, a TCP connection made or accepted; closed when
    /// no session can be set up.
    public func secure(_ inner: any ByteChannel) throws(TransportError) -> any ByteChannel {
        do {
            return try TLSChannel(over: inner, configuration: configuration, verifyPeer: verifyPeer)
        } catch {
            inner.close()
            throw .session("\(error)")
        }
    }
}

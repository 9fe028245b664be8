// The host's side of a connection, played from fuzz input (shared by the fuzz targets).
import Core
import Transport

/// Serves `bytes` in chunks whose sizes come from the input itself; only what was `release`d
/// so far can be read (the rest has not "arrived"), and the end of the input is the host's close.
final class FuzzChannel: ByteChannel {
    let bytes: UnsafeRawBufferPointer
    private var offset = 0
    private var released: Int
    private var chunk: Int
    var readsAhead = false
    var fileDescriptor: CInt { -1 }
    var peerDescription: String { "fuzz" }
    /// What the peer presented over "TLS", if the input says it did.
    var peerCertificateFingerprint: [UInt8]?

    init(bytes: UnsafeRawBufferPointer, chunk: Int, releasedUpFront: Int = .max) {
        self.bytes = bytes
        self.chunk = chunk
        released = min(releasedUpFront, bytes.count)
    }

    /// Lets `count` more bytes arrive.
    func release(_ count: Int) { released = min(bytes.count, released + count) }

    var exhausted: Bool { offset >= bytes.count }

    func handshake() -> HandshakeProgress { .done }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        if offset >= bytes.count { return .endOfStream }
        let n = min(buffer.count, chunk, released - offset)
        if n <= 0 { return .wouldBlock(.read) }
        buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)]))
        offset += n
        chunk = chunk % 7 + 1
        return .bytes(n)
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> IOResult { .bytes(bytes.count) }
    func close() {}
}

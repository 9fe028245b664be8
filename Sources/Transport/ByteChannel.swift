#if canImport(Glibc)
import Glibc
#endif
import Core

/// The result of one non-blocking read or write.
public enum IOResult: Equatable {
    case bytes(Int)
    case wouldBlock
    /// The peer closed its side (reads only).
    case endOfStream
    case failed(Errno)
}

/// An ordered, reliable byte stream to one peer. TCP implements it now; the TLS channel
/// (DESIGN §5) implements it later, so nothing above it changes.
public protocol ByteChannel: ~Copyable {
    /// For `poll(2)`.
    var fileDescriptor: CInt { get }
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> IOResult
    mutating func write(_ bytes: UnsafeRawBufferPointer) -> IOResult
    mutating func close()
    /// When the bytes of the last read arrived, local monotonic µs: the kernel's receive time
    /// where the channel has one, so a clock-sync sample does not include how long the reader
    /// took to wake up. Nil: the caller takes its own time.
    var lastArrival: Microseconds? { get }
}

extension ByteChannel where Self: ~Copyable {
    public var lastArrival: Microseconds? { nil }
}

/// Writes all of `bytes`, waiting up to `timeout` µs in total for the peer to take them.
/// Control-plane frames only (HELLO, STATUS, BYE): the audio path never waits on a socket.
public func writeAll<C: ByteChannel & ~Copyable>(_ channel: inout C, _ bytes: [UInt8], timeout: Microseconds = 2_000_000) -> Result<Void, Errno> {
    let clock = SystemClock()
    let deadline = clock.now() + timeout
    var offset = 0
    while offset < bytes.count {
        let result = bytes.withUnsafeBytes { channel.write(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
        switch result {
        case .bytes(let n): offset += n
        case .failed(let e): return .failure(e)
        case .endOfStream: return .failure(.brokenPipe)
        case .wouldBlock:
            let left = deadline - clock.now()
            if left <= 0 { return .failure(.timedOut) }
            var pfd = pollfd(fd: channel.fileDescriptor, events: Int16(POLLOUT), revents: 0)
            _ = poll(&pfd, 1, CInt(max(left / 1000, 1)))
        }
    }
    return .success(())
}

import Core
import Platform
import Transport

#if canImport(Glibc)
import Glibc
#endif

/// Writes all of `bytes`, waiting up to `timeout` µs in total for the peer to take them. For
/// tests playing a peer: the daemons never wait on a socket (their reactors do).
public func writeAll(_ channel: any ByteChannel, _ bytes: [UInt8], timeout: Microseconds = 2_000_000) -> Result<Void, Errno> {
    let clock = SystemClock()
    let deadline = clock.now() + timeout
    var offset = 0
    while offset < bytes.count {
        let result = bytes.withUnsafeBytes { channel.write(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
        switch result {
        case .bytes(let n): offset += n
        case .failed(let e): return .failure(e)
        case .endOfStream: return .failure(.brokenPipe)
        case .wouldBlock(let interest):
            let left = deadline - clock.now()
            if left <= 0 { return .failure(.timedOut) }
            var pfd = pollfd(fd: channel.fileDescriptor, events: interest.contains(.read) ? Int16(POLLIN) : Int16(POLLOUT), revents: 0)
            _ = poll(&pfd, 1, CInt(max(left / 1000, 1)))
        }
    }
    return .success(())
}

/// Connects to `host:port` and waits up to `timeout` µs for the connection.
public func connectBlocking(host: String, port: UInt16, timeout: Microseconds = 2_000_000) throws(TransportError) -> any ByteChannel {
    var last = TransportError.connect(address: "\(host):\(port)", .connectionRefused)
    for address in try SocketAddress.resolve(host: host, port: port) {
        do throws(TransportError) {
            let channel = try TCPTransport().connect(to: address)
            if connected(channel, within: timeout) { return channel }
            channel.close()
            last = .connect(address: address.description, .connectionRefused)
        } catch {
            last = error
        }
    }
    throw last
}

private func connected(_ channel: any ByteChannel, within timeout: Microseconds) -> Bool {
    let deadline = SystemClock().now() + timeout
    while SystemClock().now() < deadline {
        switch channel.handshake() {
        case .done: return true
        case .failed: return false
        case .wouldBlock: usleep(1_000)
        }
    }
    return false
}

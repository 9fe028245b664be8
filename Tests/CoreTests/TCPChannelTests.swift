import Core
import Platform
import ProtocolMessages
import TestSupport
import Transport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

final class TCPChannelTests: XCTestCase {
    /// A connection over loopback: the connecting end, and the end the listener on `port` accepted.
    private func connectedPair(port: UInt16) throws -> (client: any ByteChannel, server: TCPChannel) {
        let listener = try TCPListener(port: port)
        let client = try connectBlocking(host: "127.0.0.1", port: listener.port)
        for _ in 0..<200 {
            if let server = listener.accept() { return (client, server) }
            usleep(5_000)
        }
        throw ExpectationError("no connection accepted on port \(port)")
    }

    /// A channel that reads ahead of the frame reader (16 KB per receive): frames that straddle
    /// those reads arrive whole and in order, and the peer's close comes after the last one.
    func testFramesStraddlingReadsArriveWholeThenTheClose() throws {
        let (client, sender) = try connectedPair(port: UInt16(20_000 + getpid() % 10_000))
        // 60 audio-sized frames (78 KB), each payload a distinct pattern, then a close.
        let payloads = (0..<60).map { i in (0..<1_300).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) } }
        try writeAll(sender, payloads.flatMap { FrameWriter.frame(.audio, payload: $0) }).get()
        sender.close()

        client.readsAhead = true
        var reader = FrameReader()
        let slot = UnsafeMutableRawBufferPointer.allocate(byteCount: 1_300, alignment: 8)
        defer { slot.deallocate() }
        var received: [[UInt8]] = []
        var closed = false
        let deadline = SystemClock().now() + 5_000_000
        while !closed && SystemClock().now() < deadline {
            switch reader.next(from: client) {
            case .header(let h):
                XCTAssertEqual(h.length, 1_300)
                reader.route(.into(slot))
            case .frame(_, let payload): received.append(Array(payload))
            case .wouldBlock:
                var pfd = pollfd(fd: client.fileDescriptor, events: Int16(POLLIN), revents: 0)
                _ = poll(&pfd, 1, 100)
            case .closed(let midFrame):
                XCTAssertFalse(midFrame)
                closed = true
            case .failed(let e): return XCTFail("read failed: \(e)")
            }
        }
        XCTAssertTrue(closed, "the close after the frames")
        XCTAssertEqual(received.count, payloads.count)
        XCTAssertTrue(received == payloads, "every payload whole and in order")
        XCTAssertNotNil(client.lastArrival)
    }

    /// A clock reply's receive time is when its bytes reached this machine, whatever the read
    /// did with them: read 30 ms after they came, the stamp is still the kernel's, within a
    /// few ms of the send (a stamp taken at the read would be 30 ms late).
    func testTheArrivalIsWhenTheBytesCameNotWhenTheyWereRead() throws {
        let (client, sender) = try connectedPair(port: UInt16(30_000 + getpid() % 10_000))
        let clock = SystemClock()
        let sent = clock.now()
        try writeAll(sender, FrameWriter.frame(.timeResponse, payload: [UInt8](repeating: 1, count: 24))).get()
        usleep(30_000)
        var buffer = [UInt8](repeating: 0, count: 64)
        let result = buffer.withUnsafeMutableBytes { client.read(into: $0) }
        let read = clock.now()
        guard case .bytes(let n) = result, n > 0 else { return XCTFail("nothing read: \(result)") }
        let arrival = try XCTUnwrap(client.lastArrival)
        XCTAssertGreaterThanOrEqual(arrival, sent)
        XCTAssertLessThan(arrival - sent, 5_000, "stamped on arrival, not at the read \(read - sent) µs after the send")
    }
}

import Core
import ProtocolMessages
import Transport
import XCTest

/// Delivers scripted bytes in chunks of a chosen size, then would-block or end of stream.
final class ScriptedChannel: ByteChannel {
    var bytes: [UInt8]
    var chunk: Int
    var closeAtEnd: Bool
    var offset = 0
    var fileDescriptor: CInt { -1 }
    var peerDescription: String { "script" }
    var readsAhead = false

    init(bytes: [UInt8], chunk: Int, closeAtEnd: Bool) {
        self.bytes = bytes
        self.chunk = chunk
        self.closeAtEnd = closeAtEnd
    }

    func handshake() -> HandshakeProgress { .done }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        if offset == bytes.count { return closeAtEnd ? .endOfStream : .wouldBlock(.read) }
        let n = min(buffer.count, chunk, bytes.count - offset)
        bytes.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + n)])) }
        offset += n
        return .bytes(n)
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> IOResult { .bytes(bytes.count) }
    func close() {}
}

final class FrameReaderTests: XCTestCase {
    func testReassemblesFramesDeliveredOneByteAtATime() {
        let stream = FrameWriter.frame(.status, json: "{\"a\":1}") + FrameWriter.frame(.bye, payload: [2])
        let channel = ScriptedChannel(bytes: stream, chunk: 1, closeAtEnd: false)
        var reader = FrameReader()
        var frames: [(FrameType?, [UInt8])] = []
        loop: while true {
            switch reader.next(from: channel) {
            case .header: reader.route(.scratch)
            case .frame(let h, let payload): frames.append((h.type, Array(payload)))
            case .wouldBlock: break loop
            case .closed, .failed:
                XCTFail("unexpected end")
                break loop
            }
        }
        XCTAssertEqual(frames.count, 2)
        XCTAssertEqual(frames[0].0, .status)
        XCTAssertEqual(String(decoding: frames[0].1, as: UTF8.self), "{\"a\":1}")
        XCTAssertEqual(frames[1].0, .bye)
        XCTAssertEqual(frames[1].1, [2])
    }

    func testDiscardSkipsAPayloadLargerThanScratch() {
        let big = [UInt8](repeating: 7, count: 40_000)
        var stream = [UInt8](repeating: 0, count: 4)
        stream.withUnsafeMutableBytes { FrameHeader(rawType: 99, flags: 0, length: big.count).encode(into: $0) }
        stream += big + FrameWriter.frame(.bye, payload: [1])
        let channel = ScriptedChannel(bytes: stream, chunk: 1500, closeAtEnd: false)
        var reader = FrameReader()
        var seen: [UInt8] = []
        loop: while true {
            switch reader.next(from: channel) {
            case .header(let h): reader.route(h.type == nil ? .discard : .scratch)
            case .frame(let h, _): seen.append(h.rawType)
            default: break loop
            }
        }
        XCTAssertEqual(seen, [99, FrameType.bye.rawValue])
    }

    func testEndOfStreamInsideAFrameIsReportedAsMidFrame() {
        let frame = FrameWriter.frame(.status, json: "{\"long\":\"payload\"}")
        let channel = ScriptedChannel(bytes: Array(frame[0..<10]), chunk: 100, closeAtEnd: true)
        var reader = FrameReader()
        guard case .header = reader.next(from: channel) else { return XCTFail("no header") }
        reader.route(.scratch)
        guard case .closed(let midFrame) = reader.next(from: channel) else { return XCTFail("not closed") }
        XCTAssertTrue(midFrame)

        let clean = ScriptedChannel(bytes: [], chunk: 1, closeAtEnd: true)
        var reader2 = FrameReader()
        guard case .closed(let mid2) = reader2.next(from: clean) else { return XCTFail("not closed") }
        XCTAssertFalse(mid2)
    }
}

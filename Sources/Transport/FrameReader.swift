import Core
import Platform
import ProtocolMessages

/// Reassembles wire frames from a non-blocking byte stream without copying: the caller decides,
/// once a header is in, where the payload goes (a packet-pool slot, the reader's scratch space,
/// or nowhere), so audio payloads land straight in the pool.
public struct FrameReader: ~Copyable {
    public enum Destination {
        /// Read the payload into this memory (at least `header.length` bytes).
        case into(UnsafeMutableRawBufferPointer)
        /// Read it into the reader's own scratch buffer (control frames).
        case scratch
        /// Read and forget it (unknown frame types).
        case discard
    }

    public enum Event {
        /// A header arrived; answer with `route(_:)` before reading on.
        case header(FrameHeader)
        /// A whole payload arrived, where `route` sent it (empty for `.discard`).
        case frame(FrameHeader, UnsafeRawBufferPointer)
        /// Nothing more now: read again on this readiness.
        case wouldBlock(Interest)
        /// The peer closed; `midFrame` when it left a frame unfinished.
        case closed(midFrame: Bool)
        case failed(Errno)
    }

    private enum State {
        case header(filled: Int)
        case routing(FrameHeader)
        case payload(FrameHeader, UnsafeMutableRawBufferPointer, filled: Int, discard: Bool)
    }

    private let headerBytes: UnsafeMutableRawBufferPointer
    public let scratch: UnsafeMutableRawBufferPointer
    private var state = State.header(filled: 0)

    public init(scratchCapacity: Int = WireProtocol.maxControlPayload) {
        headerBytes = .allocate(byteCount: WireProtocol.frameHeaderSize, alignment: 8)
        scratch = .allocate(byteCount: scratchCapacity, alignment: 16)
    }

    deinit {
        headerBytes.deallocate()
        scratch.deallocate()
    }

    /// Where the pending header's payload goes. Scratch requires the payload to fit in it.
    public mutating func route(_ destination: Destination) {
        guard case .routing(let header) = state else { preconditionFailure("route() without a pending header") }
        switch destination {
        case .into(let buffer):
            precondition(buffer.count >= header.length)
            state = .payload(header, UnsafeMutableRawBufferPointer(rebasing: buffer[0..<header.length]), filled: 0, discard: false)
        case .scratch:
            precondition(scratch.count >= header.length)
            state = .payload(header, UnsafeMutableRawBufferPointer(rebasing: scratch[0..<header.length]), filled: 0, discard: false)
        case .discard:
            state = .payload(header, scratch, filled: 0, discard: true)
        }
    }

    /// Reads until a header or a payload completes, or the channel has nothing more.
    public mutating func next(from channel: any ByteChannel) -> Event {
        while true {
            switch state {
            case .routing(let header):
                return .header(header)
            case .header(let filled):
                let want = UnsafeMutableRawBufferPointer(rebasing: headerBytes[filled...])
                switch channel.read(into: want) {
                case .bytes(let n):
                    if filled + n == WireProtocol.frameHeaderSize {
                        let header = FrameHeader.decode(UnsafeRawBufferPointer(headerBytes))
                        state = .routing(header)
                        return .header(header)
                    }
                    state = .header(filled: filled + n)
                case .wouldBlock(let interest): return .wouldBlock(interest)
                case .endOfStream: return .closed(midFrame: filled > 0)
                case .failed(let e): return .failed(e)
                }
            case .payload(let header, let buffer, let filled, let discard):
                let remaining = header.length - filled
                if remaining == 0 {
                    state = .header(filled: 0)
                    return .frame(header, discard ? UnsafeRawBufferPointer(start: buffer.baseAddress, count: 0) : UnsafeRawBufferPointer(buffer))
                }
                let want =
                    discard
                    ? UnsafeMutableRawBufferPointer(rebasing: buffer[0..<min(remaining, buffer.count)])
                    : UnsafeMutableRawBufferPointer(rebasing: buffer[filled...])
                switch channel.read(into: want) {
                case .bytes(let n): state = .payload(header, buffer, filled: filled + n, discard: discard)
                case .wouldBlock(let interest): return .wouldBlock(interest)
                case .endOfStream: return .closed(midFrame: true)
                case .failed(let e): return .failed(e)
                }
            }
        }
    }
}

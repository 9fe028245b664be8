import Core

// Wire protocol version 1 (DESIGN §5): `type u8 | flags u8 | length u16 BE | payload`.
// Everything here reads and writes caller-owned memory; nothing allocates, so the receive path
// can parse straight out of a packet-pool slot.

public enum WireProtocol {
    public static let version = "1.0"
    public static let frameHeaderSize = 4
    /// The largest payload a 16-bit length can describe.
    public static let maxPayload = Int(UInt16.max)
    /// Control frames (HELLO, WELCOME, ...) are small JSON documents; anything larger before the
    /// stream is negotiated is hostile or broken.
    public static let maxControlPayload = 16 * 1024
    /// The largest time a peer may send.
    public static let maxTime = largestTime
}

public enum FrameType: UInt8, Sendable, CaseIterable {
    case hello = 1
    case challenge = 2
    case auth = 3
    case welcome = 4
    case reject = 5
    case audio = 6
    case timeRequest = 7
    case timeResponse = 8
    case status = 9
    case control = 10
    case chat = 11
    case bye = 12
    /// R→H empty: asks for the host's advertisement; H→R: the seed's advertisement JSON, avatar included.
    case advertisement = 13
}

public struct FrameHeader: Equatable, Sendable {
    /// Raw type byte: unknown types are skipped by the reader, so they are kept as numbers.
    public var rawType: UInt8
    public var flags: UInt8
    public var length: Int

    public init(type: FrameType, flags: UInt8 = 0, length: Int) {
        self.init(rawType: type.rawValue, flags: flags, length: length)
    }

    public init(rawType: UInt8, flags: UInt8, length: Int) {
        self.rawType = rawType
        self.flags = flags
        self.length = length
    }

    public var type: FrameType? { FrameType(rawValue: rawType) }

    /// Decodes the 4 header bytes at the start of `bytes` (which must hold at least 4).
    public static func decode(_ bytes: UnsafeRawBufferPointer) -> FrameHeader {
        precondition(bytes.count >= WireProtocol.frameHeaderSize)
        let length = Int(bytes[2]) << 8 | Int(bytes[3])
        return FrameHeader(rawType: bytes[0], flags: bytes[1], length: length)
    }

    public func encode(into bytes: UnsafeMutableRawBufferPointer) {
        precondition(bytes.count >= WireProtocol.frameHeaderSize && length <= WireProtocol.maxPayload)
        bytes[0] = rawType
        bytes[1] = flags
        bytes[2] = UInt8(truncatingIfNeeded: length >> 8)
        bytes[3] = UInt8(truncatingIfNeeded: length)
    }
}

/// Codec ids on the wire, and their names in configs, HELLO and the advertisement.
public enum WireCodec: UInt8, Sendable, NamedCase {
    case pcm = 0
    case opus = 1
    case flac = 2

    public var name: String {
        switch self {
        case .pcm: return "pcm"
        case .opus: return "opus"
        case .flac: return "flac"
        }
    }

    /// Best first: what a receiver offers unless its config says otherwise.
    public static let preference: [WireCodec] = [.opus, .flac, .pcm]
}

/// The fixed part of an AUDIO payload (the seed's `AudioPacket` minus its data):
/// `seq u64 | timestamp_us u64 | sample_rate u32 | channels u8 | codec u8`, then the codec data.
/// Between the two, by the frame's flags and in this order: with `sentAtFlag`, `sent_us u64`;
/// with `metadataFlag`, `length u16 | metadata JSON` (the seed's `PacketMetadata`).
public struct AudioPacketHeader: Equatable, Sendable {
    public static let size = 22
    /// Where each field lies in those 22 bytes (big-endian): written once, for the encoder, the
    /// parser and the audio thread's reads alike.
    public enum Layout {
        @inlinable public static var sequence: Int { 0 }
        @inlinable public static var timestamp: Int { 8 }
        @inlinable public static var sampleRate: Int { 16 }
        @inlinable public static var channels: Int { 20 }
        @inlinable public static var codec: Int { 21 }
    }
    public static let metadataFlag: UInt8 = 0x01
    /// When the host handed the frame to this receiver's connection, on the host's clock: with
    /// the frame's arrival, a sample of the way down for clock sync (DESIGN §6), fifty a second
    /// and free. Stamped per connection as the frame is queued, so never later than it left.
    public static let sentAtFlag: UInt8 = 0x02
    public static let sentAtSize = 8
    /// The longest metadata an AUDIO packet may carry: pool slots have room for it.
    public static let maxMetadata = 320
    /// The most the optional parts add to a payload.
    public static let maxExtensions = sentAtSize + 2 + maxMetadata

    /// Where the optional parts of a payload lie.
    public struct Extensions: Equatable, Sendable {
        public var sentAt: UInt64?
        public var metadata: Range<Int>?
        /// Where the codec data starts.
        public var dataOffset: Int
    }

    /// The optional parts `flags` announce in a payload of at least `size` bytes, or nil when
    /// they run past it (or the metadata is longer than `maxMetadata`).
    public static func extensions(of payload: UnsafeRawBufferPointer, flags: UInt8) -> Extensions? {
        var offset = size
        var sentAt: UInt64?
        var metadata: Range<Int>?
        if flags & sentAtFlag != 0 {
            guard payload.count >= offset + sentAtSize else { return nil }
            sentAt = payload.loadBigEndian(UInt64.self, at: offset)
            offset += sentAtSize
        }
        if flags & metadataFlag != 0 {
            guard payload.count >= offset + 2 else { return nil }
            let count = Int(payload.loadBigEndian(UInt16.self, at: offset))
            guard count <= maxMetadata, offset + 2 + count <= payload.count else { return nil }
            metadata = (offset + 2)..<(offset + 2 + count)
            offset += 2 + count
        }
        return Extensions(sentAt: sentAt, metadata: metadata, dataOffset: offset)
    }

    /// Writes the send time into a whole AUDIO frame (frame header included) that has room for
    /// one; any other frame is left as it is.
    public static func stamp(sentAt: UInt64, frame: UnsafeMutableRawBufferPointer) {
        let at = WireProtocol.frameHeaderSize + size
        guard frame.count >= at + sentAtSize, frame[0] == FrameType.audio.rawValue, frame[1] & sentAtFlag != 0 else { return }
        frame.storeBigEndian(sentAt, at: at)
    }

    public var sequence: UInt64
    /// Microseconds since stream start on the host's clock.
    public var timestamp: UInt64
    public var sampleRate: UInt32
    public var channels: UInt8
    public var codec: WireCodec

    public init(sequence: UInt64, timestamp: UInt64, sampleRate: UInt32, channels: UInt8, codec: WireCodec) {
        self.sequence = sequence
        self.timestamp = timestamp
        self.sampleRate = sampleRate
        self.channels = channels
        self.codec = codec
    }

    public enum ParseError: Error, Equatable {
        case truncated
        case unknownCodec(UInt8)
        case badFormat
    }

    /// Parses an AUDIO payload; on success the codec data is `payload[size...]`.
    public static func parse(_ payload: UnsafeRawBufferPointer) throws(ParseError) -> AudioPacketHeader {
        guard payload.count >= size else { throw .truncated }
        guard let codec = WireCodec(rawValue: payload[Layout.codec]) else { throw .unknownCodec(payload[Layout.codec]) }
        let header = AudioPacketHeader(
            sequence: sequence(of: payload), timestamp: timestamp(of: payload),
            sampleRate: payload.loadBigEndian(UInt32.self, at: Layout.sampleRate), channels: payload[Layout.channels], codec: codec)
        guard header.channels >= 1, header.channels <= 8, header.sampleRate >= 8000, header.sampleRate <= 192_000 else {
            throw .badFormat
        }
        return header
    }

    /// The sequence number and timestamp of a payload that `parse` accepted (the audio thread
    /// reads them from pool slots the control thread checked).
    @inlinable @inline(__always)
    public static func sequence(of payload: UnsafeRawBufferPointer) -> UInt64 { payload.loadBigEndian(UInt64.self, at: Layout.sequence) }

    @inlinable @inline(__always)
    public static func timestamp(of payload: UnsafeRawBufferPointer) -> UInt64 { payload.loadBigEndian(UInt64.self, at: Layout.timestamp) }

    public func encode(into bytes: UnsafeMutableRawBufferPointer) {
        precondition(bytes.count >= Self.size)
        bytes.storeBigEndian(sequence, at: Layout.sequence)
        bytes.storeBigEndian(timestamp, at: Layout.timestamp)
        bytes.storeBigEndian(sampleRate, at: Layout.sampleRate)
        bytes[Layout.channels] = channels
        bytes[Layout.codec] = codec.rawValue
    }
}

/// BYE reason codes.
public enum ByeReason: UInt8, Sendable, CaseIterable {
    case shuttingDown = 1
    case endOfStream = 2
    case kicked = 3
    case clientLimit = 4
    case invalidPacket = 5
    case timeout = 6
    case leaving = 7

    public var name: String {
        switch self {
        case .shuttingDown: return "shutting_down"
        case .endOfStream: return "end_of_stream"
        case .kicked: return "kicked"
        case .clientLimit: return "client_limit"
        case .invalidPacket: return "invalid_packet"
        case .timeout: return "timeout"
        case .leaving: return "leaving"
        }
    }
}

/// Frames outgoing bytes into a caller-provided buffer.
public enum FrameWriter {
    /// Writes header + payload into `out`, returning the bytes used.
    public static func frame(_ type: FrameType, flags: UInt8 = 0, payload: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Int {
        let total = WireProtocol.frameHeaderSize + payload.count
        precondition(out.count >= total)
        FrameHeader(type: type, flags: flags, length: payload.count).encode(into: out)
        if payload.count > 0 {
            UnsafeMutableRawBufferPointer(rebasing: out[WireProtocol.frameHeaderSize...]).copyMemory(from: payload)
        }
        return total
    }

    /// A whole frame as bytes (control plane).
    public static func frame(_ type: FrameType, flags: UInt8 = 0, payload: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: WireProtocol.frameHeaderSize + payload.count)
        out.withUnsafeMutableBytes { o in
            payload.withUnsafeBytes { p in _ = frame(type, flags: flags, payload: p, into: o) }
        }
        return out
    }

    public static func frame(_ type: FrameType, json: String) -> [UInt8] {
        frame(type, payload: Array(json.utf8))
    }
}

// @inlinable: the receiver's audio thread reads packet headers with these; without the body,
// another module calls the unspecialized generic, which looks up type metadata on every call.
extension UnsafeRawBufferPointer {
    @inlinable @inline(__always)
    public func loadBigEndian<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= count)
        return T(bigEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

extension UnsafeMutableRawBufferPointer {
    @inlinable @inline(__always)
    public func storeBigEndian<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= count)
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: T.self)
    }
}

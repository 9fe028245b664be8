import Codec
import Core
import ProtocolMessages

/// What a WELCOME negotiated: the stream the audio thread will play.
public struct StreamFormat: Equatable, Sendable {
    public var codec: WireCodec
    public var sampleRate: Int
    public var channels: Int
    /// Frames per packet.
    public var frameSamples: Int
    public var bitrate: Int
    /// Samples the decoded signal lags the stream's timestamps (Opus look-ahead; 0 for PCM).
    public var codecDelay: Int

    public init(codec: WireCodec, sampleRate: Int, channels: Int, frameSamples: Int, bitrate: Int, codecDelay: Int = 0) {
        self.codec = codec
        self.sampleRate = sampleRate
        self.channels = channels
        self.frameSamples = frameSamples
        self.bitrate = bitrate
        self.codecDelay = codecDelay
    }

    public var frameDuration: Microseconds { Microseconds(frameSamples) * 1_000_000 / Microseconds(sampleRate) }

    /// The largest AUDIO payload this stream can carry, send time and metadata included;
    /// anything longer is an invalid packet.
    public var maxAudioPayload: Int { maxAudioPacket + AudioPacketHeader.maxExtensions }

    /// The largest AUDIO payload without its optional parts: the header and the codec's data.
    public var maxAudioPacket: Int {
        switch codec {
        case .opus:
            // RFC 6716: up to 1275 bytes per 20 ms frame, and a 40 or 60 ms packet carries 2 or
            // 3 of them, with up to 7 bytes of framing. Pool slots are this size, so a 20 ms
            // stream does not reserve room for three frames.
            let framesPerPacket = max(1, (frameSamples * 50 + sampleRate - 1) / sampleRate)
            return AudioPacketHeader.size + 1275 * framesPerPacket + 7
        case .pcm: return AudioPacketHeader.size + frameSamples * channels * 2
        case .flac: return AudioPacketHeader.size + FLACLibrary.maxFrameSize(frames: frameSamples, channels: channels)
        }
    }

    /// Interleaved samples in one decoded packet.
    public var samplesPerPacket: Int { frameSamples * channels }

    /// The shortest packet a stream may have (Opus's shortest frame): the pool holds a packet per
    /// slot, so shorter ones would let a host's WELCOME size the pool (1-frame packets made a
    /// 2 s buffer's pool 45 MB).
    public static let shortestPacket: Microseconds = 2_500

    /// Why the receiver cannot play it, or nil when it can.
    public var unplayable: String? {
        guard (1...2).contains(channels) else { return "\(channels) channels (1 or 2)" }
        guard (8_000...192_000).contains(sampleRate) else { return "\(sampleRate) Hz (8000 to 192000)" }
        guard frameSamples > 0, Int64(frameSamples) * 1_000_000 >= Int64(Self.shortestPacket) * Int64(sampleRate) else {
            return "packets of \(frameSamples) frames, shorter than \(Double(Self.shortestPacket) / 1000) ms"
        }
        guard frameSamples <= sampleRate / 10 else { return "packets of \(frameSamples) frames, longer than 100 ms" }
        guard maxAudioPayload <= WireProtocol.maxPayload else { return "packets of up to \(maxAudioPayload) bytes, more than a frame carries" }
        guard codec != .opus || [8_000, 12_000, 16_000, 24_000, 48_000].contains(sampleRate) else { return "Opus at \(sampleRate) Hz" }
        // FLAC's streamable subset: the rate in each frame's header, at most 4608 samples a frame.
        guard codec != .flac || (sampleRate % 10 == 0 && frameSamples >= 16 && frameSamples <= 4_608) else {
            return "FLAC at \(sampleRate) Hz in \(frameSamples)-frame packets (not FLAC's streamable subset)"
        }
        return nil
    }

    public var isPlayable: Bool { unplayable == nil }
}

/// Sizes the packet pool from the buffer length and the frame size (DESIGN §4): room for the
/// whole playout buffer, plus network jitter headroom, plus what sits in the rings; never more
/// than `maxPacketPoolSlots`.
public func packetPoolSlots(bufferSize: Microseconds, frameDuration: Microseconds) -> Int {
    min(slotsToHold(bufferSize: bufferSize, frameDuration: frameDuration), maxPacketPoolSlots)
}

/// The most slots a packet pool has, whatever a host's WELCOME says: the longest buffer a
/// receiver can be set to (10 s, and a card's latency offset of up to 1 s) in packets of the
/// shortest duration a stream may have (2.5 ms).
public let maxPacketPoolSlots = slotsToHold(bufferSize: 11_000_000, frameDuration: StreamFormat.shortestPacket)

private func slotsToHold(bufferSize: Microseconds, frameDuration: Microseconds) -> Int {
    let buffered = Int((bufferSize + frameDuration - 1) / frameDuration)
    let headroom = Int((250_000 + frameDuration - 1) / frameDuration)
    return buffered + headroom + 8
}

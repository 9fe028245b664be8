import COpus
import Core

/// An Opus library error code, typed.
public struct OpusError: Error, Equatable, CustomStringConvertible {
    public var code: Int32
    public var description: String { "opus: " + String(cString: opus_strerror(code)) }
}

/// Owns an `OpusEncoder*`. Set-up (init, ctl) throws; `encode` returns a status.
public final class OpusEncoderHandle {
    private let encoder: OpaquePointer
    public let sampleRate: Int
    public let channels: Int

    public init(sampleRate: Int, channels: Int, bitrate: Int, complexity: Int = 10) throws(OpusError) {
        var error: Int32 = 0
        guard let e = opus_encoder_create(opus_int32(sampleRate), Int32(channels), OPUS_APPLICATION_AUDIO, &error), error == OPUS_OK else {
            throw OpusError(code: error)
        }
        encoder = e
        self.sampleRate = sampleRate
        self.channels = channels
        for rc in [
            copus_set_bitrate(e, opus_int32(bitrate)), copus_set_complexity(e, opus_int32(complexity)),
            copus_set_signal_music(e),
            // In-band FEC only helps when the encoder expects loss.
            copus_set_inband_fec(e, 1), copus_set_packet_loss_perc(e, 5),
        ] where rc != OPUS_OK {
            opus_encoder_destroy(e)
            throw OpusError(code: rc)
        }
    }

    deinit { opus_encoder_destroy(encoder) }

    /// How many samples the decoded signal lags the encoded one (the encoder's look-ahead,
    /// 312 at 48 kHz): a receiver plays each packet's audio that much earlier to stay on time.
    public var lookahead: Int {
        var samples: opus_int32 = 0
        return copus_get_lookahead(encoder, &samples) == OPUS_OK ? Int(samples) : 0
    }

    /// Forgets the signal so far: an encoder that resumes after a pause starts clean.
    public func reset() { _ = copus_encoder_reset(encoder) }

    /// Encodes one frame of interleaved S16 into `out`; the byte count.
    public func encode(_ pcm: UnsafeBufferPointer<Int16>, frames: Int, into out: UnsafeMutableRawBufferPointer) throws(OpusError) -> Int {
        let n = opus_encode(encoder, pcm.baseAddress!, Int32(frames), out.baseAddress!.assumingMemoryBound(to: UInt8.self), opus_int32(out.count))
        guard n >= 0 else { throw OpusError(code: n) }
        return Int(n)
    }
}

/// Owns an `OpusDecoder*`. Decoding, FEC and concealment are statuses, never throws, and never
/// allocate (the audio thread calls them).
public final class OpusDecoderHandle: @unchecked Sendable {
    private let decoder: OpaquePointer
    public let sampleRate: Int
    public let channels: Int

    public init(sampleRate: Int, channels: Int) throws(OpusError) {
        var error: Int32 = 0
        guard let d = opus_decoder_create(opus_int32(sampleRate), Int32(channels), &error), error == OPUS_OK else {
            throw OpusError(code: error)
        }
        decoder = d
        self.sampleRate = sampleRate
        self.channels = channels
    }

    deinit { opus_decoder_destroy(decoder) }

    /// Decodes a packet into at most `maxFrames` frames of `out`, full scale ±1.0; the frame
    /// count or a status. Float is what the decoder computes: its S16 call adds a soft clipper
    /// and a conversion, both a pass over every sample, and 8 bits less.
    @inline(__always)
    public func decode(_ packet: UnsafeRawBufferPointer, into out: UnsafeMutableBufferPointer<Float>, maxFrames: Int) -> Int32 {
        opus_decode_float(decoder, packet.baseAddress?.assumingMemoryBound(to: UInt8.self), opus_int32(packet.count), out.baseAddress!, Int32(maxFrames), 0)
    }

    /// Packet-loss concealment for one missing packet of `frames` frames.
    @inline(__always)
    public func conceal(into out: UnsafeMutableBufferPointer<Float>, frames: Int) -> Int32 {
        opus_decode_float(decoder, nil, 0, out.baseAddress!, Int32(frames), 0)
    }

    public func reset() { _ = copus_decoder_reset(decoder) }
}

public enum OpusLibrary {
    public static var version: String { String(cString: opus_get_version_string()) }
    /// The largest packet Opus produces for one frame (RFC 6716: 1275 bytes per 20 ms frame, up to 3 frames per packet).
    public static let maxPacketSize = 1275 * 3 + 7
}

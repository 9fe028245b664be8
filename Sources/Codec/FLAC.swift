import CFLAC
import Core

/// Why libFLAC would not set up an encoder or decoder.
public enum FLACError: Error, Equatable, CustomStringConvertible {
    case cannotCreateEncoder
    /// The encoder refused the stream's format: `reason` is libFLAC's state, or "a setting".
    case encoderRefused(sampleRate: Int, channels: Int, frameSamples: Int, reason: String)
    case cannotCreateDecoder
    case decoderRefused(status: Int32)

    public var description: String {
        switch self {
        case .cannotCreateEncoder: "flac: cannot create an encoder"
        case .encoderRefused(let rate, let channels, let frames, let reason):
            "flac: the encoder refused \(rate) Hz, \(channels) ch, \(frames)-sample frames (\(reason))"
        case .cannotCreateDecoder: "flac: cannot create a decoder"
        case .decoderRefused(let status): "flac: cannot start a decoder (status \(status))"
        }
    }
}

/// FLAC as a codec on the wire: lossless, each AUDIO packet one FLAC frame of the stream's
/// frame size, 16-bit, with the sample rate and width in its own header (the streamable
/// subset), so a receiver decodes any packet without the stream's metadata.
public enum FLACLibrary {
    /// The largest frame for `frames` frames of `channels` 16-bit channels: a verbatim frame
    /// (a frame header of at most 16 bytes, each subframe's 1-byte header and its samples with a
    /// side channel's one extra bit, the CRC-16). The encoder never does worse than verbatim.
    public static func maxFrameSize(frames: Int, channels: Int) -> Int { 16 + channels * (1 + (frames * 17 + 7) / 8) + 2 }
}

/// Owns a `FLAC__StreamEncoder` fed one frame at a time. libFLAC holds a frame until the first
/// sample of the next arrives (it keeps one sample to know a frame is not the stream's last), so
/// `encode` returns the frame before the one it was given: the host sends each FLAC frame one
/// frame period after its PCM was read.
public final class FLACEncoderHandle {
    private let encoder: UnsafeMutablePointer<FLAC__StreamEncoder>
    private let sink: UnsafeMutablePointer<cflac_sink>
    private let input: UnsafeMutableBufferPointer<Int32>
    public let channels: Int
    public let frameSamples: Int

    public init(sampleRate: Int, channels: Int, frameSamples: Int, compressionLevel: Int = 5) throws(FLACError) {
        guard let e = FLAC__stream_encoder_new() else { throw .cannotCreateEncoder }
        encoder = e
        self.channels = channels
        self.frameSamples = frameSamples
        input = .allocate(capacity: frameSamples * channels)
        sink = .allocate(capacity: 1)
        // The stream's marker and metadata fit in a few hundred bytes; after them, one frame.
        let capacity = max(8_192, FLACLibrary.maxFrameSize(frames: frameSamples, channels: channels))
        sink.initialize(to: cflac_sink(out: .allocate(capacity: capacity), capacity: capacity, used: 0, overflow: 0))
        let rc = cflac_encoder_start(e, sink, UInt32(channels), UInt32(sampleRate), UInt32(frameSamples), UInt32(compressionLevel))
        guard rc == Int32(FLAC__STREAM_ENCODER_INIT_STATUS_OK.rawValue) else {
            let state = String(cString: FLAC__stream_encoder_get_resolved_state_string(e))
            Self.free(e, sink, input)
            throw .encoderRefused(sampleRate: sampleRate, channels: channels, frameSamples: frameSamples, reason: rc < 0 ? "a setting" : state)
        }
        sink.pointee.used = 0
    }

    deinit { Self.free(encoder, sink, input) }

    private static func free(
        _ encoder: UnsafeMutablePointer<FLAC__StreamEncoder>, _ sink: UnsafeMutablePointer<cflac_sink>, _ input: UnsafeMutableBufferPointer<Int32>
    ) {
        FLAC__stream_encoder_delete(encoder)
        sink.pointee.out.deallocate()
        sink.deallocate()
        input.deallocate()
    }

    /// Ends the stream: the frame held back is written into `out` (its byte count, or nil).
    /// The encoder takes no more frames after it.
    public func finish(into out: UnsafeMutableRawBufferPointer) -> Int? {
        sink.pointee.used = 0
        sink.pointee.overflow = 0
        guard FLAC__stream_encoder_finish(encoder) != 0, sink.pointee.overflow == 0, sink.pointee.used <= out.count else { return nil }
        out.baseAddress!.copyMemory(from: sink.pointee.out, byteCount: sink.pointee.used)
        return sink.pointee.used
    }

    /// Takes one frame of interleaved S16 and writes the previous frame's FLAC into `out`: its
    /// byte count, 0 when there is none yet (the first call), or nil if the encoder failed or
    /// the frame did not fit.
    public func encode(_ pcm: UnsafeBufferPointer<Int16>, into out: UnsafeMutableRawBufferPointer) -> Int? {
        for i in 0..<min(pcm.count, input.count) { input[i] = Int32(pcm[i]) }
        sink.pointee.used = 0
        sink.pointee.overflow = 0
        guard FLAC__stream_encoder_process_interleaved(encoder, input.baseAddress, UInt32(frameSamples)) != 0, sink.pointee.overflow == 0,
            sink.pointee.used <= out.count
        else { return nil }
        out.baseAddress!.copyMemory(from: sink.pointee.out, byteCount: sink.pointee.used)
        return sink.pointee.used
    }
}

/// Owns a `FLAC__StreamDecoder` that decodes one AUDIO packet (one FLAC frame) per call into
/// interleaved floats at full scale ±1.0, as Opus decodes. After its first frame it allocates
/// nothing (the audio thread calls it); a packet that does not decode is a status, and the next
/// one decodes on its own.
public final class FLACDecoderHandle: @unchecked Sendable {
    private let decoder: UnsafeMutablePointer<FLAC__StreamDecoder>
    private let source: UnsafeMutablePointer<cflac_source>
    public let channels: Int

    public init(channels: Int) throws(FLACError) {
        guard let d = FLAC__stream_decoder_new() else { throw .cannotCreateDecoder }
        decoder = d
        self.channels = channels
        source = .allocate(capacity: 1)
        source.initialize(to: cflac_source(in: nil, remaining: 0, out: nil, out_capacity: 0, channels: UInt32(channels), frames: 0, error: 0))
        let rc = cflac_decoder_start(d, source)
        guard rc == Int32(FLAC__STREAM_DECODER_INIT_STATUS_OK.rawValue) else {
            FLAC__stream_decoder_delete(d)
            source.deallocate()
            throw .decoderRefused(status: rc)
        }
    }

    deinit {
        FLAC__stream_decoder_delete(decoder)
        source.deallocate()
    }

    /// Decodes `packet` (one FLAC frame) into `out`; the frame count, or -1.
    @inline(__always)
    public func decode(_ packet: UnsafeRawBufferPointer, into out: UnsafeMutableBufferPointer<Float>) -> Int {
        guard let bytes = packet.baseAddress, packet.count > 0 else { return -1 }
        source.pointee.in = bytes.assumingMemoryBound(to: UInt8.self)
        source.pointee.remaining = packet.count
        source.pointee.out = out.baseAddress
        source.pointee.out_capacity = out.count
        return Int(cflac_decode_packet(decoder, source))
    }
}

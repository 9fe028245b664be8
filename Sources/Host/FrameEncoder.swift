import Codec
import Config
import Core
import Transport

/// A set of codecs, without allocating (the frame clock asks for one every frame).
struct CodecSet {
    private var bits: UInt8 = 0

    init(_ codecs: [WireCodec] = []) { for c in codecs { insert(c) } }

    func contains(_ codec: WireCodec) -> Bool { bits & (1 << codec.rawValue) != 0 }
    mutating func insert(_ codec: WireCodec) { bits |= 1 << codec.rawValue }
}

/// Turns one frame of PCM into AUDIO frames, once per codec in use, into buffers it owns.
struct FrameEncoder {
    struct Frames {
        var opus: UnsafeRawBufferPointer?
        var pcm: UnsafeRawBufferPointer?
        var flac: UnsafeRawBufferPointer?

        subscript(codec: WireCodec) -> UnsafeRawBufferPointer? {
            switch codec {
            case .opus: return opus
            case .pcm: return pcm
            case .flac: return flac
            }
        }
    }

    let frameSamples: Int
    let pcm: UnsafeMutableBufferPointer<Int16>
    private let opusEncoder: OpusEncoderHandle?
    private let flacEncoder: FLACEncoderHandle?
    private let opusOut: UnsafeMutableRawBufferPointer
    private let pcmOut: UnsafeMutableRawBufferPointer
    private let flacOut: UnsafeMutableRawBufferPointer
    private let sampleRate: UInt32
    private let channels: UInt8
    /// The sequence of the last frame the FLAC encoder was given: it runs only while FLAC is
    /// in use, and what it held from before a pause is not the frame before the next.
    private let flacFed = FLACFeed()

    private final class FLACFeed {
        var last: UInt64?
    }

    init(settings: SharingSettings) throws(CodecError) {
        frameSamples = settings.samplesPerFrame
        sampleRate = UInt32(settings.sampleRate)
        channels = UInt8(settings.channels)
        pcm = .allocate(capacity: frameSamples * settings.channels)
        pcm.initialize(repeating: 0)
        opusEncoder = settings.codec == .opus
            ? try CodecError.wrapping { try OpusEncoderHandle(sampleRate: settings.sampleRate, channels: settings.channels, bitrate: settings.bitrate) }
            : nil
        // FLAC is what a FLAC host streams, and an Opus host's lossless fallback (encoded only
        // while a receiver plays it).
        let frameSamples = frameSamples
        flacEncoder = settings.codec != .pcm
            ? try CodecError.wrapping { try FLACEncoderHandle(sampleRate: settings.sampleRate, channels: settings.channels, frameSamples: frameSamples) }
            : nil
        // Room for metadata between the header and the codec data.
        let headers = WireProtocol.frameHeaderSize + AudioPacketHeader.size + 2 + AudioPacketHeader.maxMetadata
        opusOut = .allocate(byteCount: headers + OpusLibrary.maxPacketSize, alignment: 8)
        pcmOut = .allocate(byteCount: headers + PCMCodec.payloadSize(frames: frameSamples, channels: settings.channels), alignment: 8)
        flacOut = .allocate(byteCount: headers + FLACLibrary.maxFrameSize(frames: frameSamples, channels: settings.channels), alignment: 8)
    }

    /// Samples the Opus decoder's output lags its input (0 for PCM).
    var opusDelay: Int { opusEncoder?.lookahead ?? 0 }

    /// Frames for the codecs asked for, carrying `metadata` (encoded `PacketMetadata`, at most
    /// `AudioPacketHeader.maxMetadata` bytes) if given; a buffer stays valid until the next call.
    /// The FLAC frame is the previous frame's (libFLAC holds one back), with its sequence and
    /// timestamp: none at the first frame FLAC is in use.
    func encode(sequence: UInt64, timestamp: UInt64, metadata: [UInt8]? = nil, for codecs: CodecSet, frameDuration: UInt64) -> Frames {
        var frames = Frames()
        let pcmBytes = PCMCodec.payloadSize(frames: frameSamples, channels: Int(channels))
        // PCM frames near the wire's 64 KB limit (long frames at high rates) have no room for it.
        let metadata = metadata.flatMap { !codecs.contains(.pcm) || AudioPacketHeader.size + 2 + $0.count + pcmBytes <= WireProtocol.maxPayload ? $0 : nil }
        let dataOffset = WireProtocol.frameHeaderSize + AudioPacketHeader.size + (metadata.map { 2 + $0.count } ?? 0)
        if codecs.contains(.opus), let opusEncoder {
            let data = UnsafeMutableRawBufferPointer(rebasing: opusOut[dataOffset...])
            if case .success(let n) = opusEncoder.encode(UnsafeBufferPointer(pcm), frames: frameSamples, into: data) {
                frames.opus = finish(opusOut, codec: .opus, sequence: sequence, timestamp: timestamp, metadata: metadata, dataBytes: n)
            }
        }
        if codecs.contains(.pcm) {
            let n = PCMCodec.encode(UnsafeBufferPointer(pcm), into: UnsafeMutableRawBufferPointer(rebasing: pcmOut[dataOffset...]))
            frames.pcm = finish(pcmOut, codec: .pcm, sequence: sequence, timestamp: timestamp, metadata: metadata, dataBytes: n)
        }
        if codecs.contains(.flac), let flacEncoder {
            let data = UnsafeMutableRawBufferPointer(rebasing: flacOut[dataOffset...])
            let continues = sequence > 0 && flacFed.last == sequence - 1
            flacFed.last = sequence
            if let n = flacEncoder.encode(UnsafeBufferPointer(pcm), into: data), n > 0, continues {
                frames.flac = finish(flacOut, codec: .flac, sequence: sequence - 1, timestamp: timestamp - frameDuration, metadata: metadata, dataBytes: n)
            }
        }
        return frames
    }

    /// At the end of a finite source: the FLAC frame libFLAC held back (the last one read, at
    /// `sequence` and `timestamp`), if FLAC is in use.
    func flush(sequence: UInt64, timestamp: UInt64, for codecs: CodecSet) -> Frames {
        var frames = Frames()
        guard codecs.contains(.flac), flacFed.last == sequence, let flacEncoder else { return frames }
        let dataOffset = WireProtocol.frameHeaderSize + AudioPacketHeader.size
        if let n = flacEncoder.finish(into: UnsafeMutableRawBufferPointer(rebasing: flacOut[dataOffset...])), n > 0 {
            frames.flac = finish(flacOut, codec: .flac, sequence: sequence, timestamp: timestamp, metadata: nil, dataBytes: n)
        }
        return frames
    }

    private func finish(_ buffer: UnsafeMutableRawBufferPointer, codec: WireCodec, sequence: UInt64, timestamp: UInt64, metadata: [UInt8]?,
                        dataBytes: Int) -> UnsafeRawBufferPointer {
        let carried = metadata.map { 2 + $0.count } ?? 0
        let payload = AudioPacketHeader.size + carried + dataBytes
        FrameHeader(type: .audio, flags: metadata == nil ? 0 : AudioPacketHeader.metadataFlag, length: payload).encode(into: buffer)
        let body = UnsafeMutableRawBufferPointer(rebasing: buffer[WireProtocol.frameHeaderSize...])
        AudioPacketHeader(sequence: sequence, timestamp: timestamp, sampleRate: sampleRate, channels: channels, codec: codec).encode(into: body)
        if let metadata {
            body.storeBigEndian(UInt16(metadata.count), at: AudioPacketHeader.size)
            metadata.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: body[(AudioPacketHeader.size + 2)...]).copyMemory(from: $0) }
        }
        return UnsafeRawBufferPointer(rebasing: buffer[0..<(WireProtocol.frameHeaderSize + payload)])
    }
}

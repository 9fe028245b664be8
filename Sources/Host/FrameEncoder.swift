import Codec
import Config
import Core
import ProtocolMessages
import Transport

/// A set of small indices (codecs by raw value, Opus tiers), without allocating: the frame
/// clock asks for one every frame.
struct SmallSet {
    private var bits: UInt8 = 0

    init() {}
    init(_ codecs: [WireCodec]) { for c in codecs { insert(c) } }

    func contains(_ index: Int) -> Bool { index < 8 && bits & (1 << index) != 0 }
    mutating func insert(_ index: Int) { bits |= 1 << index }
    func contains(_ codec: WireCodec) -> Bool { contains(Int(codec.rawValue)) }
    mutating func insert(_ codec: WireCodec) { insert(Int(codec.rawValue)) }
}

/// Turns one frame of PCM into AUDIO frames, once per codec (and Opus tier) in use, into
/// buffers it owns.
struct FrameEncoder {
    struct Frames {
        /// The stream time of the frame read; a FLAC frame is the one before (libFLAC holds one back).
        var timestamp: UInt64 = 0
        /// By tier, best first; nil where a tier was not encoded.
        var opus = UnsafeBufferPointer<UnsafeRawBufferPointer?>(start: nil, count: 0)
        var pcm: UnsafeRawBufferPointer?
        var flac: UnsafeRawBufferPointer?
        var flacTimestamp: UInt64 = 0

        subscript(codec: WireCodec, tier tier: Int = 0) -> UnsafeRawBufferPointer? {
            switch codec {
            case .opus: return tier < opus.count ? opus[tier] : nil
            case .pcm: return pcm
            case .flac: return flac
            }
        }

        func timestamp(of codec: WireCodec) -> UInt64 { codec == .flac ? flacTimestamp : timestamp }
    }

    /// One Opus tier's encoder and output, and the run of frames it has encoded without a gap.
    private final class OpusTier {
        let encoder: OpusEncoderHandle
        let out: UnsafeMutableRawBufferPointer
        /// The first sequence of the current run, and the last encoded.
        var run: (first: UInt64, last: UInt64)?

        init(encoder: OpusEncoderHandle, out: UnsafeMutableRawBufferPointer) {
            self.encoder = encoder
            self.out = out
        }
    }

    let frameSamples: Int
    let pcm: UnsafeMutableBufferPointer<Int16>
    /// The Opus bitrates, best first: one tier, or with `adaptive_bitrate` the ladder.
    let opusBitrates: [Int]
    private let opusTiers: [OpusTier]
    private let opusFrames: UnsafeMutableBufferPointer<UnsafeRawBufferPointer?>
    private let flacEncoder: FLACEncoderHandle?
    private let pcmOut: UnsafeMutableRawBufferPointer
    private let flacOut: UnsafeMutableRawBufferPointer
    private let sampleRate: UInt32
    private let channels: UInt8
    private let frameDuration: UInt64
    /// The sequence of the last frame the FLAC encoder was given: it runs only while FLAC is
    /// in use, and what it held from before a pause is not the frame before the next.
    private let flacFed = FLACFeed()

    private final class FLACFeed {
        var last: UInt64?
    }

    /// Frames a tier that starts (or resumes) encodes before a receiver is switched to it: its
    /// first frame from a clean state decodes as a click in a decoder that played another
    /// tier; from the second on, the tiers' outputs agree to within their own coding error.
    static func warmUpFrames(frameDuration: Microseconds) -> UInt64 { UInt64(max(2, (40_000 + frameDuration - 1) / frameDuration)) }
    private let warmUp: UInt64

    init(settings: SharingSettings) throws(CodecError) {
        frameSamples = settings.samplesPerFrame
        sampleRate = UInt32(settings.sampleRate)
        channels = UInt8(settings.channels)
        frameDuration = UInt64(settings.frameDuration)
        warmUp = Self.warmUpFrames(frameDuration: settings.frameDuration)
        pcm = .allocate(capacity: frameSamples * settings.channels)
        pcm.initialize(repeating: 0)
        // Room for the send time and metadata between the header and the codec data.
        let headers = WireProtocol.frameHeaderSize + AudioPacketHeader.size + AudioPacketHeader.maxExtensions
        opusBitrates = settings.codec != .opus ? [] : settings.adaptiveBitrate ? settings.opusTiers : [settings.bitrate]
        opusTiers = try opusBitrates.map { (bitrate) throws(CodecError) in
            let encoder: OpusEncoderHandle
            do throws(OpusError) {
                encoder = try OpusEncoderHandle(sampleRate: settings.sampleRate, channels: settings.channels, bitrate: bitrate)
            } catch {
                throw .opus(error)
            }
            return OpusTier(encoder: encoder, out: .allocate(byteCount: headers + OpusLibrary.maxPacketSize, alignment: 8))
        }
        opusFrames = .allocate(capacity: opusTiers.count)
        opusFrames.initialize(repeating: nil)
        // FLAC is what a FLAC host streams, and an Opus host's lossless fallback (encoded only
        // while a receiver plays it).
        let frameSamples = frameSamples
        do throws(FLACError) {
            flacEncoder =
                settings.codec != .pcm ? try FLACEncoderHandle(sampleRate: settings.sampleRate, channels: settings.channels, frameSamples: frameSamples) : nil
        } catch {
            throw .flac(error)
        }
        pcmOut = .allocate(byteCount: headers + PCMCodec.payloadSize(frames: frameSamples, channels: settings.channels), alignment: 8)
        flacOut = .allocate(byteCount: headers + FLACLibrary.maxFrameSize(frames: frameSamples, channels: settings.channels), alignment: 8)
    }

    /// Samples the Opus decoder's output lags its input (0 for PCM); the same at every tier.
    var opusDelay: Int { opusTiers.first?.encoder.lookahead ?? 0 }

    /// Whether Opus tier `tier` encoded frame `sequence` after enough frames before it for a
    /// receiver to be switched to it there without a click.
    func isWarm(_ tier: Int, at sequence: UInt64) -> Bool {
        guard tier < opusTiers.count, let run = opusTiers[tier].run, run.last == sequence else { return false }
        return sequence - run.first >= warmUp
    }

    /// Frames for the codecs and Opus tiers asked for, carrying `metadata` (encoded
    /// `PacketMetadata`, at most `AudioPacketHeader.maxMetadata` bytes) if given; a buffer stays
    /// valid until the next call. The FLAC frame is the previous frame's (libFLAC holds one
    /// back), with its sequence and timestamp: none at the first frame FLAC is in use.
    func encode(sequence: UInt64, metadata: [UInt8]? = nil, for codecs: SmallSet, tiers: SmallSet) -> Frames {
        let timestamp = sequence * frameDuration
        var frames = Frames(timestamp: timestamp, opus: UnsafeBufferPointer(opusFrames))
        let pcmBytes = PCMCodec.payloadSize(frames: frameSamples, channels: Int(channels))
        // PCM frames near the wire's 64 KB limit (long frames at high rates) have no room for it.
        let metadata = metadata.flatMap {
            !codecs.contains(.pcm) || AudioPacketHeader.size + AudioPacketHeader.sentAtSize + 2 + $0.count + pcmBytes <= WireProtocol.maxPayload ? $0 : nil
        }
        let dataOffset = Self.dataOffset(metadata: metadata)
        for (index, tier) in opusTiers.enumerated() {
            opusFrames[index] = nil
            guard codecs.contains(.opus) && tiers.contains(index) else { continue }
            if tier.run.map({ $0.last + 1 != sequence }) ?? true {
                // A tier that resumes starts from this frame's signal, not from before its pause.
                tier.encoder.reset()
                tier.run = (sequence, sequence)
            }
            tier.run?.last = sequence
            let data = UnsafeMutableRawBufferPointer(rebasing: tier.out[dataOffset...])
            // A frame the encoder refuses is not sent: receivers conceal it.
            if let n = try? tier.encoder.encode(UnsafeBufferPointer(pcm), frames: frameSamples, into: data) {
                opusFrames[index] = finish(tier.out, codec: .opus, sequence: sequence, timestamp: timestamp, metadata: metadata, dataBytes: n)
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
                frames.flacTimestamp = timestamp - frameDuration
                frames.flac = finish(flacOut, codec: .flac, sequence: sequence - 1, timestamp: frames.flacTimestamp, metadata: metadata, dataBytes: n)
            }
        }
        return frames
    }

    /// At the end of a finite source: the FLAC frame libFLAC held back (the last one read, at
    /// `sequence`), if FLAC is in use.
    func flush(sequence: UInt64, for codecs: SmallSet) -> Frames {
        var frames = Frames(timestamp: sequence * frameDuration, flacTimestamp: sequence * frameDuration)
        guard codecs.contains(.flac), flacFed.last == sequence, let flacEncoder else { return frames }
        if let n = flacEncoder.finish(into: UnsafeMutableRawBufferPointer(rebasing: flacOut[Self.dataOffset(metadata: nil)...])), n > 0 {
            frames.flac = finish(flacOut, codec: .flac, sequence: sequence, timestamp: frames.flacTimestamp, metadata: nil, dataBytes: n)
        }
        return frames
    }

    /// Where a frame's codec data starts: every frame has room for its send time, which each
    /// receiver's connection stamps as it queues the frame.
    private static func dataOffset(metadata: [UInt8]?) -> Int {
        WireProtocol.frameHeaderSize + AudioPacketHeader.size + AudioPacketHeader.sentAtSize + (metadata.map { 2 + $0.count } ?? 0)
    }

    private func finish(
        _ buffer: UnsafeMutableRawBufferPointer, codec: WireCodec, sequence: UInt64, timestamp: UInt64, metadata: [UInt8]?,
        dataBytes: Int
    ) -> UnsafeRawBufferPointer {
        let end = Self.dataOffset(metadata: metadata) + dataBytes
        let flags = AudioPacketHeader.sentAtFlag | (metadata == nil ? 0 : AudioPacketHeader.metadataFlag)
        FrameHeader(type: .audio, flags: flags, length: end - WireProtocol.frameHeaderSize).encode(into: buffer)
        let body = UnsafeMutableRawBufferPointer(rebasing: buffer[WireProtocol.frameHeaderSize...])
        AudioPacketHeader(sequence: sequence, timestamp: timestamp, sampleRate: sampleRate, channels: channels, codec: codec).encode(into: body)
        body.storeBigEndian(UInt64(0), at: AudioPacketHeader.size)
        if let metadata {
            let at = AudioPacketHeader.size + AudioPacketHeader.sentAtSize
            body.storeBigEndian(UInt16(metadata.count), at: at)
            metadata.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: body[(at + 2)...]).copyMemory(from: $0) }
        }
        return UnsafeRawBufferPointer(rebasing: buffer[0..<end])
    }
}

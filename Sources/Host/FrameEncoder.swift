import Codec
import Config
import Core
import Transport

/// Turns one frame of PCM into AUDIO frames, once per codec in use, into buffers it owns.
struct FrameEncoder {
    struct Frames {
        var opus: UnsafeRawBufferPointer?
        var pcm: UnsafeRawBufferPointer?
    }

    let frameSamples: Int
    let pcm: UnsafeMutableBufferPointer<Int16>
    private let opusEncoder: OpusEncoderHandle?
    private let opusOut: UnsafeMutableRawBufferPointer
    private let pcmOut: UnsafeMutableRawBufferPointer
    private let sampleRate: UInt32
    private let channels: UInt8

    init(settings: SharingSettings) throws(OpusError) {
        frameSamples = settings.samplesPerFrame
        sampleRate = UInt32(settings.sampleRate)
        channels = UInt8(settings.channels)
        pcm = .allocate(capacity: frameSamples * settings.channels)
        pcm.initialize(repeating: 0)
        opusEncoder = settings.codec == .opus
            ? try OpusEncoderHandle(sampleRate: settings.sampleRate, channels: settings.channels, bitrate: settings.bitrate)
            : nil
        // Room for metadata between the header and the codec data.
        let headers = WireProtocol.frameHeaderSize + AudioPacketHeader.size + 2 + AudioPacketHeader.maxMetadata
        opusOut = .allocate(byteCount: headers + OpusLibrary.maxPacketSize, alignment: 8)
        pcmOut = .allocate(byteCount: headers + PCMCodec.payloadSize(frames: frameSamples, channels: settings.channels), alignment: 8)
    }

    /// Samples the Opus decoder's output lags its input (0 for PCM).
    var opusDelay: Int { opusEncoder?.lookahead ?? 0 }

    /// Frames for the codecs asked for, carrying `metadata` (encoded `PacketMetadata`, at most
    /// `AudioPacketHeader.maxMetadata` bytes) if given; a buffer stays valid until the next call.
    func encode(sequence: UInt64, timestamp: UInt64, metadata: [UInt8]? = nil, for codecs: (opus: Bool, pcm: Bool)) -> Frames {
        var frames = Frames()
        let pcmBytes = PCMCodec.payloadSize(frames: frameSamples, channels: Int(channels))
        // PCM frames near the wire's 64 KB limit (long frames at high rates) have no room for it.
        let metadata = metadata.flatMap { !codecs.pcm || AudioPacketHeader.size + 2 + $0.count + pcmBytes <= WireProtocol.maxPayload ? $0 : nil }
        let dataOffset = WireProtocol.frameHeaderSize + AudioPacketHeader.size + (metadata.map { 2 + $0.count } ?? 0)
        if codecs.opus, let opusEncoder {
            let data = UnsafeMutableRawBufferPointer(rebasing: opusOut[dataOffset...])
            if case .success(let n) = opusEncoder.encode(UnsafeBufferPointer(pcm), frames: frameSamples, into: data) {
                frames.opus = finish(opusOut, codec: .opus, sequence: sequence, timestamp: timestamp, metadata: metadata, dataBytes: n)
            }
        }
        if codecs.pcm {
            let n = PCMCodec.encode(UnsafeBufferPointer(pcm), into: UnsafeMutableRawBufferPointer(rebasing: pcmOut[dataOffset...]))
            frames.pcm = finish(pcmOut, codec: .pcm, sequence: sequence, timestamp: timestamp, metadata: metadata, dataBytes: n)
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

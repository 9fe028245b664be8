/// RIFF/WAVE with 16-bit PCM (or WAVE_FORMAT_EXTENSIBLE around it): what the host streams from
/// `wav:PATH` and what tests compare recordings against.
public struct WAVAudio: Equatable, Sendable {
    public var sampleRate: Int
    public var channels: Int
    /// Interleaved S16.
    public var samples: [Int16]

    public init(sampleRate: Int, channels: Int, samples: [Int16]) {
        self.sampleRate = sampleRate
        self.channels = channels
        self.samples = samples
    }

    public var frameCount: Int { samples.count / channels }

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case notRIFFWave
        case missingChunk(String)
        case unsupportedFormat(String)
        case truncated

        public var description: String {
            switch self {
            case .notRIFFWave: return "not a RIFF/WAVE file"
            case .missingChunk(let c): return "no \(c) chunk"
            case .unsupportedFormat(let f): return "unsupported format: \(f) (16-bit PCM only)"
            case .truncated: return "file is truncated"
            }
        }
    }

    public static func parse(_ bytes: [UInt8]) throws(ParseError) -> WAVAudio {
        try bytes.withBytes { raw throws(ParseError) in try parse(raw) }
    }

    public static func parse(_ b: UnsafeRawBufferPointer) throws(ParseError) -> WAVAudio {
        func tag(_ at: Int) -> String { String(decoding: b[at..<(at + 4)], as: UTF8.self) }
        func u16(_ at: Int) -> Int { Int(b[at]) | Int(b[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        guard b.count >= 12, tag(0) == "RIFF", tag(8) == "WAVE" else { throw .notRIFFWave }
        var offset = 12
        var format: (rate: Int, channels: Int)?
        while offset + 8 <= b.count {
            let id = tag(offset)
            let size = u32(offset + 4)
            let body = offset + 8
            guard size <= b.count - body || id == "data" else { throw .truncated }
            switch id {
            case "fmt ":
                guard size >= 16 else { throw .truncated }
                var code = u16(body)
                if code == 0xFFFE && size >= 40 { code = u16(body + 24) }  // EXTENSIBLE: sub-format GUID
                let channels = u16(body + 2)
                let rate = u32(body + 4)
                let bits = u16(body + 14)
                guard code == 1, bits == 16 else { throw .unsupportedFormat("format \(code), \(bits) bits") }
                guard (1...8).contains(channels), (1_000...384_000).contains(rate) else {
                    throw .unsupportedFormat("\(channels) channels at \(rate) Hz")
                }
                format = (rate, channels)
            case "data":
                guard let format else { throw .missingChunk("fmt ") }
                // A streamed WAV may carry a placeholder size; take what is there.
                let available = min(size, b.count - body)
                let count = available / (2 * format.channels) * format.channels
                var samples = [Int16](repeating: 0, count: count)
                for i in 0..<count {
                    samples[i] = Int16(littleEndian: b.loadUnaligned(fromByteOffset: body + 2 * i, as: Int16.self))
                }
                return WAVAudio(sampleRate: format.rate, channels: format.channels, samples: samples)
            default:
                break
            }
            offset = body + size + (size & 1)
        }
        throw .missingChunk(format == nil ? "fmt " : "data")
    }

    /// The file's bytes (16-bit PCM).
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(44 + samples.count * 2)
        func u32(_ v: Int) { for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
        func u16(_ v: Int) { for i in 0..<2 { out.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
        out += Array("RIFF".utf8)
        u32(36 + samples.count * 2)
        out += Array("WAVE".utf8)
        out += Array("fmt ".utf8)
        u32(16)
        u16(1)
        u16(channels)
        u32(sampleRate)
        u32(sampleRate * channels * 2)
        u16(channels * 2)
        u16(16)
        out += Array("data".utf8)
        u32(samples.count * 2)
        for s in samples { u16(Int(UInt16(bitPattern: s))) }
        return out
    }
}

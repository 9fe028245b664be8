import Audio
import Config
import Core
import Platform
import SampleRateConversion

#if canImport(Glibc)
import Glibc
#endif

/// Where one frame of the host's PCM comes from.
enum SourceRead: Equatable {
    case frame
    /// Not enough input yet (a pipe slower than real time, a capture card mid-frame).
    case notReady
    case ended
    case failed(String)
}

/// The host's PCM source, chosen by `sharing.source`. An enum rather than an existential: the
/// host loop calls it 50 times a second.
enum PCMSource {
    case tone(ToneGenerator)
    case samples(SampleLoop)
    case stdin(PipeReader)
    case capture(AlsaCapture)

    /// Opens `spec` producing `channels` at `rate`.
    static func open(_ spec: SourceSpec, rate: Int, channels: Int, loop: Bool) throws(SourceError) -> PCMSource {
        switch spec {
        case .tone(let hz):
            return .tone(ToneGenerator(hz: hz, rate: rate, channels: channels))
        case .wav(let path):
            let bytes: [UInt8]
            do throws(Errno) { bytes = try readWholeFile(path) } catch { throw .unreadable(path: path, error) }
            let wav: WAVAudio
            do throws(WAVAudio.ParseError) { wav = try WAVAudio.parse(bytes) } catch { throw .notPlayable(path: path, error) }
            do throws(SamplerateError) {
                let mixed = remixChannels(wav.samples, from: wav.channels, to: channels)
                let converted = try SampleRateConverter.convert(mixed, channels: channels, from: wav.sampleRate, to: rate)
                return .samples(SampleLoop(samples: converted, channels: channels, loop: loop))
            } catch {
                throw .conversion(path: path, from: wav.sampleRate, to: rate, error)
            }
        case .stdin:
            return .stdin(PipeReader(fd: 0))
        case .alsa(let device):
            do throws(AlsaError) {
                return .capture(try AlsaCapture(device: device, sampleRate: rate, channels: channels))
            } catch {
                throw .capture(device: device, error)
            }
        }
    }

    /// Fills `frame` (frames × channels samples).
    mutating func read(into frame: UnsafeMutableBufferPointer<Int16>, frames: Int) -> SourceRead {
        switch self {
        case .tone(var t):
            t.render(into: frame)
            self = .tone(t)
            return .frame
        case .samples(var s):
            let r = s.read(into: frame)
            self = .samples(s)
            return r
        case .stdin(var p):
            let r = p.read(into: frame)
            self = .stdin(p)
            return r
        case .capture(let c):
            switch c.read(into: frame, frames: frames) {
            case .frame: return .frame
            case .notReady: return .notReady
            case .failed(let e): return .failed("capture: \(e)")
            }
        }
    }

    /// The descriptor to wait on when `read` said `.notReady` (a capture card is looked at
    /// again on a timer).
    var waitDescriptor: CInt? {
        if case .stdin(let p) = self { return p.fd }
        return nil
    }
}

/// What `mshost --check` can say about the source without side effects: a WAV file is read and
/// parsed (a capture device or stdin is left alone). The message names the key.
public func checkSource(_ settings: SharingSettings) -> String? {
    guard case .wav = settings.source else { return nil }
    do throws(SourceError) {
        _ = try PCMSource.open(settings.source, rate: settings.sampleRate, channels: settings.channels, loop: false)
        return nil
    } catch {
        return error.description
    }
}

/// Why `sharing.source` cannot be played.
enum SourceError: Error, CustomStringConvertible {
    case unreadable(path: String, Errno)
    case notPlayable(path: String, WAVAudio.ParseError)
    case conversion(path: String, from: Int, to: Int, SamplerateError)
    case capture(device: String, AlsaError)

    var description: String {
        switch self {
        case .unreadable(let path, let e): "cannot read \(path) (sharing.source): \(e)"
        case .notPlayable(let path, let e): "\(path) (sharing.source): \(e)"
        case .conversion(let path, let from, let to, let e): "converting \(path) from \(from) Hz to \(to) Hz: \(e)"
        case .capture(let device, let e): "cannot open capture device \"\(device)\" (sharing.source): \(e)"
        }
    }
}

/// A sine at `hz`, quarter scale, the same on every channel.
struct ToneGenerator {
    let step: Double
    let channels: Int
    var phase = 0.0

    init(hz: Double, rate: Int, channels: Int) {
        step = 2 * Double.pi * hz / Double(rate)
        self.channels = channels
    }

    mutating func render(into out: UnsafeMutableBufferPointer<Int16>) {
        for frame in 0..<(out.count / channels) {
            let v = Int16((sin(phase) * 8192).rounded())
            for c in 0..<channels { out[frame * channels + c] = v }
            phase += step
            if phase > 2 * Double.pi { phase -= 2 * Double.pi }
        }
    }
}

/// A decoded file in memory, played once or looped. The last frame is padded with silence.
struct SampleLoop {
    let samples: [Int16]
    let channels: Int
    let loop: Bool
    var position = 0

    init(samples: [Int16], channels: Int, loop: Bool) {
        self.samples = samples
        self.channels = channels
        self.loop = loop
    }

    mutating func read(into out: UnsafeMutableBufferPointer<Int16>) -> SourceRead {
        if position >= samples.count {
            guard loop, !samples.isEmpty else { return .ended }
            position = 0
        }
        var filled = 0
        while filled < out.count {
            if position >= samples.count {
                guard loop, !samples.isEmpty else { break }
                position = 0
            }
            let n = min(out.count - filled, samples.count - position)
            for i in 0..<n { out[filled + i] = samples[position + i] }
            filled += n
            position += n
        }
        for i in filled..<out.count { out[i] = 0 }
        return .frame
    }
}

/// Raw S16LE from a pipe, non-blocking: a frame is handed out only when whole.
struct PipeReader {
    let fd: CInt
    var pending: [UInt8] = []
    var ended = false

    init(fd: CInt) {
        self.fd = fd
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    mutating func read(into out: UnsafeMutableBufferPointer<Int16>) -> SourceRead {
        let need = out.count * 2
        var chunk = [UInt8](repeating: 0, count: max(need, 4096))
        while pending.count < need && !ended {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                pending.append(contentsOf: chunk[0..<n])
            } else if n == 0 {
                ended = true
            } else if Errno.current == .interrupted {
                continue
            } else if Errno.current == .wouldBlock {
                return .notReady
            } else {
                return .failed("reading stdin: \(Errno.current)")
            }
        }
        if pending.count < need {
            // The pipe closed: a last partial frame is padded, then the stream ends.
            if pending.isEmpty { return .ended }
            pending += [UInt8](repeating: 0, count: need - pending.count)
        }
        pending.withUnsafeBytes { b in
            for i in 0..<out.count { out[i] = Int16(littleEndian: b.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)) }
        }
        pending.removeFirst(need)
        return .frame
    }
}

/// Mono → stereo duplicates, stereo (or more) → mono averages, otherwise takes the first channels.
func remixChannels(_ samples: [Int16], from inChannels: Int, to outChannels: Int) -> [Int16] {
    if inChannels == outChannels { return samples }
    let frames = samples.count / inChannels
    var out = [Int16](repeating: 0, count: frames * outChannels)
    for f in 0..<frames {
        if outChannels == 1 {
            var sum = 0
            for c in 0..<inChannels { sum += Int(samples[f * inChannels + c]) }
            out[f] = Int16(sum / inChannels)
        } else {
            for c in 0..<outChannels { out[f * outChannels + c] = samples[f * inChannels + min(c, inChannels - 1)] }
        }
    }
    return out
}

import Codec
import Core
import Resample
import XCTest

/// Signal measures shared by codec tests.
enum Signal {
    static func sine(hz: Double, rate: Int, frames: Int, amplitude: Double = 8000, channels: Int = 1) -> [Int16] {
        var out = [Int16](repeating: 0, count: frames * channels)
        for f in 0..<frames {
            let v = Int16((amplitude * sin(2 * Double.pi * hz * Double(f) / Double(rate))).rounded())
            for c in 0..<channels { out[f * channels + c] = v }
        }
        return out
    }

    /// SNR in dB of `test` against `reference` (same length).
    static func snr(_ reference: ArraySlice<Int16>, _ test: ArraySlice<Int16>) -> Double {
        var signal = 0.0, noise = 0.0
        for (r, t) in zip(reference, test) {
            signal += Double(r) * Double(r)
            noise += (Double(r) - Double(t)) * (Double(r) - Double(t))
        }
        return 10 * log10(signal / max(noise, 1e-9))
    }

    /// Zero crossings per second of a mono signal: its dominant frequency for a sine.
    static func frequency(_ samples: [Int16], rate: Int) -> Double {
        var crossings = 0
        for i in 1..<samples.count where (samples[i - 1] < 0) != (samples[i] < 0) { crossings += 1 }
        return Double(crossings) / 2 / (Double(samples.count) / Double(rate))
    }
}

final class OpusTests: XCTestCase {
    func testOpusRoundTripKeepsAMusicLikeSignal() throws {
        let rate = 48_000, frame = 960
        let encoder = try OpusEncoderHandle(sampleRate: rate, channels: 2, bitrate: 128_000)
        let decoder = try OpusDecoderHandle(sampleRate: rate, channels: 2)
        let a = Signal.sine(hz: 440, rate: rate, frames: rate, amplitude: 6000, channels: 2)
        let b = Signal.sine(hz: 660, rate: rate, frames: rate, amplitude: 3000, channels: 2)
        let input = zip(a, b).map { $0 &+ $1 }
        var output: [Int16] = []
        var packet = [UInt8](repeating: 0, count: OpusLibrary.maxPacketSize)
        var decoded = [Int16](repeating: 0, count: frame * 2)
        for start in stride(from: 0, to: input.count, by: frame * 2) {
            let n = try input[start..<(start + frame * 2)].withUnsafeBufferPointer { pcm in
                try packet.withUnsafeMutableBytes { try encoder.encode(pcm, frames: frame, into: $0).get() }
            }
            XCTAssertGreaterThan(n, 0)
            let frames = packet[0..<n].withUnsafeBytes { p in decoded.withUnsafeMutableBufferPointer { decoder.decode(p, into: $0, maxFrames: frame) } }
            XCTAssertEqual(frames, Int32(frame))
            output += decoded
        }
        // Opus delays its output by the encoder's look-ahead (6.5 ms = 312 frames at 48 kHz).
        let delay = 312 * 2
        let snr = Signal.snr(input[0..<(input.count - delay)], output[delay...])
        XCTAssertGreaterThan(snr, 20, "SNR \(snr) dB")
    }

    func testConcealmentProducesAFrameWithoutInput() throws {
        let decoder = try OpusDecoderHandle(sampleRate: 48_000, channels: 2)
        var out = [Int16](repeating: 1, count: 960 * 2)
        XCTAssertEqual(out.withUnsafeMutableBufferPointer { decoder.conceal(into: $0, frames: 960) }, 960)
    }

    func testGarbageIsADecodeErrorNotACrash() throws {
        let decoder = try OpusDecoderHandle(sampleRate: 48_000, channels: 2)
        var out = [Int16](repeating: 0, count: 960 * 2)
        // A code-3 packet claiming 63 frames of 120 ms exceeds any buffer: the library refuses it.
        let garbage: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        let n = garbage.withUnsafeBytes { p in out.withUnsafeMutableBufferPointer { decoder.decode(p, into: $0, maxFrames: 960) } }
        XCTAssertLessThan(n, 0)
    }

    func testInvalidEncoderSettingsAreTypedErrors() {
        XCTAssertThrowsError(try OpusEncoderHandle(sampleRate: 44_100, channels: 2, bitrate: 128_000)) { error in
            XCTAssertEqual((error as? OpusError)?.description, "opus: invalid argument")
        }
    }
}

final class PCMAndWAVTests: XCTestCase {
    func testPCMWireBytesAreLittleEndianAndRoundTrip() {
        let samples: [Int16] = [1, -2, 0x1234, -32768]
        var wire = [UInt8](repeating: 0, count: 8)
        _ = samples.withUnsafeBufferPointer { s in wire.withUnsafeMutableBytes { PCMCodec.encode(s, into: $0) } }
        XCTAssertEqual(Array(wire[4..<6]), [0x34, 0x12])
        var back = [Int16](repeating: 0, count: 4)
        let frames = wire.withUnsafeBytes { w in back.withUnsafeMutableBufferPointer { PCMCodec.decode(w, channels: 2, into: $0) } }
        XCTAssertEqual(frames, 2)
        XCTAssertEqual(back, samples)
    }

    func testWAVRoundTripAndErrors() throws {
        let wav = WAVAudio(sampleRate: 44_100, channels: 2, samples: [1, 2, 3, -4])
        XCTAssertEqual(try WAVAudio.parse(wav.encoded()).get(), wav)
        XCTAssertEqual(WAVAudio.parse(Array("RIFX....WAVE".utf8)), .failure(.notRIFFWave))
        var eightBit = wav.encoded()
        eightBit[34] = 8
        XCTAssertEqual(WAVAudio.parse(eightBit), .failure(.unsupportedFormat("format 1, 8 bits")))
        XCTAssertEqual(WAVAudio.parse(Array(wav.encoded()[0..<20])), .failure(.truncated))
    }
}

final class ResampleTests: XCTestCase {
    func testConvertingKeepsPitchAndDuration() throws {
        let input = Signal.sine(hz: 1000, rate: 44_100, frames: 44_100)
        let output = try SampleRateConverter.convert(input, channels: 1, from: 44_100, to: 48_000)
        XCTAssertEqual(Double(output.count), 48_000, accuracy: 48)
        XCTAssertEqual(Signal.frequency(Array(output[1000..<47_000]), rate: 48_000), 1000, accuracy: 2)
    }

    func testSameRateIsUntouched() throws {
        let input: [Int16] = [1, 2, 3]
        XCTAssertEqual(try SampleRateConverter.convert(input, channels: 1, from: 48_000, to: 48_000), input)
    }
}

final class StreamResamplerTests: XCTestCase {
    func testRatioOneKeepsTheSignalInPlace() throws {
        let resampler = try StreamResampler(channels: 2, maxInputFrames: 960)
        let sine = Signal.sine(hz: 1000, rate: 48_000, frames: 48_000, channels: 2)
        var out: [Int16] = []
        var block = [Int16](repeating: 0, count: resampler.maxOutputFrames * 2)
        for start in stride(from: 0, to: sine.count, by: 960 * 2) {
            let n = sine[start..<(start + 960 * 2)].withUnsafeBufferPointer { i in
                block.withUnsafeMutableBufferPointer { resampler.process(i, frames: 960, ratio: 1, into: $0) }
            }
            out += block[0..<(n * 2)]
        }
        XCTAssertGreaterThan(out.count, 47_900 * 2)
        // Output frame k is input frame k: compared without any shift.
        let snr = Signal.snr(sine[4_800..<out.count], out[4_800...])
        XCTAssertGreaterThan(snr, 60, "SNR \(snr) dB")
    }

    func testARatioAboveOneMakesMoreFrames() throws {
        let resampler = try StreamResampler(channels: 1, maxInputFrames: 960)
        let input = [Int16](repeating: 1000, count: 960)
        var block = [Int16](repeating: 0, count: resampler.maxOutputFrames)
        var total = 0
        for _ in 0..<100 {
            total += input.withUnsafeBufferPointer { i in block.withUnsafeMutableBufferPointer { resampler.process(i, frames: 960, ratio: 1.001, into: $0) } }
        }
        // All but the few dozen frames the filter holds back.
        XCTAssertEqual(Double(total), 96_000 * 1.001, accuracy: 64)
        XCTAssertLessThan(Double(total), 96_000 * 1.001)
    }
}

import Audio
import Codec
import Core
import SampleRateConversion
import XCTest

@testable import Resample

/// Signal measures shared by codec tests.
enum Signal {
    /// Sampled at input positions `start + f × step` (a resampler's output positions), the same
    /// on every channel.
    static func sine(
        hz: Double, rate: Int, frames: Int, amplitude: Double = 8000, channels: Int = 1,
        start: Double = 0, step: Double = 1
    ) -> [Int16] {
        var out = [Int16](repeating: 0, count: frames * channels)
        for f in 0..<frames {
            let v = Int16((amplitude * sin(2 * Double.pi * hz * (start + Double(f) * step) / Double(rate))).rounded())
            for c in 0..<channels { out[f * channels + c] = v }
        }
        return out
    }

    /// SNR in dB of `test` against `reference` (same length).
    static func snr(_ reference: ArraySlice<Int16>, _ test: ArraySlice<Int16>) -> Double {
        var signal = 0.0
        var noise = 0.0
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
        let rate = 48_000
        let frame = 960
        let encoder = try OpusEncoderHandle(sampleRate: rate, channels: 2, bitrate: 128_000)
        let decoder = try OpusDecoderHandle(sampleRate: rate, channels: 2)
        let a = Signal.sine(hz: 440, rate: rate, frames: rate, amplitude: 6000, channels: 2)
        let b = Signal.sine(hz: 660, rate: rate, frames: rate, amplitude: 3000, channels: 2)
        let input = zip(a, b).map { $0 &+ $1 }
        var output: [Int16] = []
        var packet = [UInt8](repeating: 0, count: OpusLibrary.maxPacketSize)
        var decoded = [Float](repeating: 0, count: frame * 2)
        for start in stride(from: 0, to: input.count, by: frame * 2) {
            let n = try input[start..<(start + frame * 2)].withUnsafeBufferPointer { pcm in
                try packet.withUnsafeMutableBytes { try encoder.encode(pcm, frames: frame, into: $0) }
            }
            XCTAssertGreaterThan(n, 0)
            let frames = packet[0..<n].withUnsafeBytes { p in decoded.withUnsafeMutableBufferPointer { decoder.decode(p, into: $0, maxFrames: frame) } }
            XCTAssertEqual(frames, Int32(frame))
            output += decoded.map { Int16(clamping: Int(($0 * 32768).rounded())) }
        }
        // Opus delays its output by the encoder's look-ahead (6.5 ms = 312 frames at 48 kHz).
        let delay = 312 * 2
        let snr = Signal.snr(input[0..<(input.count - delay)], output[delay...])
        XCTAssertGreaterThan(snr, 20, "SNR \(snr) dB")
    }

    func testConcealmentProducesAFrameWithoutInput() throws {
        let decoder = try OpusDecoderHandle(sampleRate: 48_000, channels: 2)
        var out = [Float](repeating: 1, count: 960 * 2)
        XCTAssertEqual(out.withUnsafeMutableBufferPointer { decoder.conceal(into: $0, frames: 960) }, 960)
    }

    func testGarbageIsADecodeErrorNotACrash() throws {
        let decoder = try OpusDecoderHandle(sampleRate: 48_000, channels: 2)
        var out = [Float](repeating: 0, count: 960 * 2)
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
        var back = [Float](repeating: 0, count: 4)
        let frames = wire.withUnsafeBytes { w in back.withUnsafeMutableBufferPointer { PCMCodec.decode(w, channels: 2, into: $0) } }
        XCTAssertEqual(frames, 2)
        let expected: [Float] = [1 / 32768, -2 / 32768, 4660 / 32768, -1]
        XCTAssertEqual(back, expected)
        // And back exactly, as a recording of a PCM stream must be, in every format a card takes.
        var converted: [SampleFormat: [UInt8]] = [:]
        for format in SampleFormat.allCases {
            var converter = SampleConverter(format: format)
            var out = [UInt8](repeating: 0, count: 4 * format.bytesPerSample)
            back.withUnsafeBufferPointer { b in out.withUnsafeMutableBytes { converter.convert(b, into: $0) } }
            converted[format] = out
        }
        func little(_ value: Int32, bytes: Int) -> [UInt8] { (0..<bytes).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        XCTAssertEqual(converted[.s16], samples.flatMap { little(Int32($0), bytes: 2) })
        XCTAssertEqual(converted[.s24Packed], samples.flatMap { little(Int32($0) << 8, bytes: 3) })
        XCTAssertEqual(converted[.s24], samples.flatMap { little(Int32($0) << 8, bytes: 4) })
        XCTAssertEqual(converted[.s32], samples.flatMap { little(Int32($0) << 16, bytes: 4) })
    }

    /// Reducing to 16 bits adds TPDF dither: a level between two steps comes out as a mix of
    /// the steps around it that averages to it (rounding alone would give the nearer step every
    /// time, and the error would be the signal's). Wider formats keep it without dither.
    func testSixteenBitsAreDitheredAndWiderFormatsKeepWhatIsBelow() {
        let level: Float = 31.62  // 1000 at volume 50 (-30 dB), in S16 steps
        let input = [Float](repeating: level / 32768, count: 48_000)
        var converter = SampleConverter(format: .s16)
        var out = [Int16](repeating: 0, count: input.count)
        input.withUnsafeBufferPointer { i in out.withUnsafeMutableBytes { converter.convert(i, into: $0) } }
        let mean = Double(out.reduce(0) { $0 + Int($1) }) / Double(out.count)
        XCTAssertEqual(mean, Double(level), accuracy: 0.02, "dithered: the average is the level")
        XCTAssertTrue(Set(out).isSubset(of: [31, 32, 33]), "within one step either way: \(Set(out))")
        XCTAssertGreaterThan(Set(out).count, 1)
        var wide = SampleConverter(format: .s32)
        var out32 = [Int32](repeating: 0, count: 4)
        input.prefix(4).withUnsafeBufferPointer { i in out32.withUnsafeMutableBytes { wide.convert(i, into: $0) } }
        XCTAssertEqual(Double(out32[0]) / 65536, Double(level), accuracy: 0.001, "32 bits keep it")
    }

    /// The AVX2 loop and the portable one (a CPU without AVX2, arm64) write the same bytes, in
    /// whole vectors and in the tail, and both round half away from zero: exact on what came
    /// from S16, clamped beyond full scale, dithered by one step at most in S16.
    func testTheCPUSpecificConversionWritesWhatThePortableOneWrites() {
        // Levels between S16's steps up to beyond full scale; every third one on a step.
        var input: [Float] = (0..<1_001).map { i in Float(Int32(truncatingIfNeeded: i &* 2_654_435_761) % 4_000_000) / 100 / 32_768 }
        let edges: [Float] = [32_767.5 / 32_768, -32_768.5 / 32_768, 0.5 / 32_768, -0.5 / 32_768, 2.5 / 32_768, 1.2, -1.2]
        input += edges
        for (i, sample) in input.enumerated() where i % 3 == 0 { input[i] = (sample * 32_768).rounded() / 32_768 }
        for format in SampleFormat.allCases {
            var outputs: [[UInt8]] = []
            for kernel in [CPUKernel.fastest, .portable] {
                var converter = SampleConverter(format: format, kernel: kernel)
                var out = [UInt8](repeating: 0, count: input.count * format.bytesPerSample)
                // Two calls, the first ending mid-vector: the dither follows the samples, not the calls.
                input.withUnsafeBufferPointer { i in
                    out.withUnsafeMutableBytes { o in
                        converter.convert(UnsafeBufferPointer(rebasing: i[..<13]), into: o)
                        converter.convert(
                            UnsafeBufferPointer(rebasing: i[13...]), into: UnsafeMutableRawBufferPointer(rebasing: o[(13 * format.bytesPerSample)...]))
                    }
                }
                outputs.append(out)
            }
            XCTAssertEqual(outputs[0], outputs[1], "\(format)")
            let width = format.bytesPerSample
            let (multiplier, low, high): (Double, Double, Double) =
                switch format {
                case .s16: (1, -32_768, 32_767)
                case .s24, .s24Packed: (256, -8_388_608, 8_388_607)
                // S32's top is the largest float below 2^31.
                case .s32: (65_536, -2_147_483_648, 2_147_483_520)
                }
            for (i, sample) in input.enumerated() {
                // Little-endian, sign-extended from its width (S24 in 32 bits is already).
                let raw = outputs[0][(i * width)..<((i + 1) * width)].reversed().reduce(Int64(0)) { $0 << 8 | Int64($1) }
                let value = Double((raw << (64 - 8 * width)) >> (64 - 8 * width))
                let exact = min(max(Double(sample) * 32_768 * multiplier, low), high)
                let halfAwayFromZero = (exact.magnitude + 0.5).rounded(.down) * (exact < 0 ? -1 : 1)
                let dither: Double = format == .s16 && exact != exact.rounded() ? 1 : 0
                XCTAssertLessThanOrEqual(abs(value - halfAwayFromZero), dither, "\(format) sample \(i): \(exact)")
            }
        }
    }

    func testWAVRoundTripAndErrors() throws {
        let wav = WAVAudio(sampleRate: 44_100, channels: 2, samples: [1, 2, 3, -4])
        XCTAssertEqual(try WAVAudio.parse(wav.encoded()), wav)
        func failure(_ bytes: [UInt8]) -> WAVAudio.ParseError? {
            do throws(WAVAudio.ParseError) {
                _ = try WAVAudio.parse(bytes)
                return nil
            } catch {
                return error
            }
        }
        XCTAssertEqual(failure(Array("RIFX....WAVE".utf8)), .notRIFFWave)
        var eightBit = wav.encoded()
        eightBit[34] = 8
        XCTAssertEqual(failure(eightBit), .unsupportedFormat("format 1, 8 bits"))
        XCTAssertEqual(failure(Array(wav.encoded()[0..<20])), .truncated)
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

final class DriftResamplerTests: XCTestCase {
    /// S16 samples as the path carries them: full scale ±1.0.
    static func float(_ samples: ArraySlice<Int16>) -> [Float] { samples.map { Float($0) / 32768 } }

    /// The resampler's output (S16's scale) rounded to S16, undithered.
    static func s16(_ samples: ArraySlice<Float>) -> [Int16] { samples.map { Int16(clamping: Int($0.rounded())) } }

    /// Pushes `input` (interleaved, `channels`) through in 960-frame blocks at `ratio`.
    private func resample(_ input: [Int16], channels: Int, ratio: Double, resampler: DriftResampler? = nil) -> [Int16] {
        let resampler = resampler ?? DriftResampler(channels: channels, maxInputFrames: 960)
        var out: [Int16] = []
        var block = [Float](repeating: 0, count: resampler.maxOutputFrames * channels)
        for start in stride(from: 0, to: input.count, by: 960 * channels) {
            let end = min(start + 960 * channels, input.count)
            let n = Self.float(input[start..<end]).withUnsafeBufferPointer { i in
                block.withUnsafeMutableBufferPointer { resampler.process(i, frames: (end - start) / channels, ratio: ratio, into: $0) }
            }
            out += Self.s16(block[0..<(n * channels)])
        }
        return out
    }

    /// Two sines (left, right) sampled at input positions `start + k × step`, interleaved.
    private func stereoSines(left: Double, right: Double, frames: Int, start: Double = 0, step: Double = 1) -> [Int16] {
        let l = Signal.sine(hz: left, rate: 48_000, frames: frames, amplitude: 12_000, start: start, step: step)
        let r = Signal.sine(hz: right, rate: 48_000, frames: frames, amplitude: 12_000, start: start, step: step)
        return zip(l, r).flatMap { [$0, $1] }
    }

    private func channel(_ samples: ArraySlice<Int16>, _ c: Int) -> ArraySlice<Int16> {
        ArraySlice(samples.enumerated().filter { $0.offset % 2 == c }.map(\.element))
    }

    /// Feeds 100 blocks at `ratio` so that the glide towards it is over; the input position of
    /// the next output frame.
    private func settle(_ resampler: DriftResampler, _ input: [Int16], ratio: Double) -> Double {
        let warmUp = 100 * 960
        _ = resample(Array(input[0..<(warmUp * resampler.channels)]), channels: resampler.channels, ratio: ratio, resampler: resampler)
        return Double(warmUp) - resampler.pendingFrames
    }

    func testOutputFramesFallAtTheirFractionalInputPositions() {
        // 1 kHz left, 10 kHz right, at the controller's largest ratios and at 1: each output frame
        // must be the signal at its fractional input position, to within the filter's error.
        for ratio in [1.0, 1.001, 0.999, 1.000_050_3] {
            let input = stereoSines(left: 1000, right: 10_000, frames: 144_000)
            let resampler = DriftResampler(channels: 2, maxInputFrames: 960)
            let start = settle(resampler, input, ratio: ratio)
            let output = resample(Array(input[(96_000 * 2)...]), channels: 2, ratio: ratio, resampler: resampler)
            XCTAssertEqual(Double(output.count / 2), (144_000 - start) * ratio, accuracy: Double(DriftResampler.taps))
            let expected = stereoSines(left: 1000, right: 10_000, frames: output.count / 2, start: start, step: 1 / ratio)
            let left = Signal.snr(channel(expected[...], 0), channel(output[...], 0))
            let right = Signal.snr(channel(expected[...], 1), channel(output[...], 1))
            XCTAssertGreaterThan(left, 80, "ratio \(ratio): 1 kHz SNR \(left) dB")
            XCTAssertGreaterThan(right, 75, "ratio \(ratio): 10 kHz SNR \(right) dB")
        }
    }

    func testANewRatioIsReachedAsAGlide() {
        let resampler = DriftResampler(channels: 1, maxInputFrames: 960)
        let ones = [Float](repeating: 1000.0 / 32768, count: 960)
        var block = [Float](repeating: 0, count: resampler.maxOutputFrames)
        func frames(at ratio: Double) -> Int {
            ones.withUnsafeBufferPointer { i in block.withUnsafeMutableBufferPointer { resampler.process(i, frames: 960, ratio: ratio, into: $0) } }
        }
        for _ in 0..<10 { _ = frames(at: 1) }
        // The first 120 ms after a change to +1000 ppm make fewer extra frames than the new
        // ratio would (0.96 every 20 ms)...
        let first = (0..<6).reduce(0) { total, _ in total + frames(at: 1.001) } - 6 * 960
        XCTAssertLessThan(first, 4)
        XCTAssertGreaterThan(first, 0)
        // ...and once settled, a second of input makes a second and 48 frames.
        for _ in 0..<94 { _ = frames(at: 1.001) }
        let before = resampler.pendingFrames
        let settled = (0..<50).reduce(0) { total, _ in total + frames(at: 1.001) }
        XCTAssertEqual(Double(settled), (48_000 + before - resampler.pendingFrames) * 1.001, accuracy: 0.01)
        XCTAssertEqual(resampler.pendingFrames, Double(DriftResampler.taps / 2), accuracy: 1)
        XCTAssertEqual(block[0], 1000, accuracy: 0.01)
    }

    func testResumingContinuesTheSignalWithoutAGap() {
        // The first 4800 frames play as they are; the resampler then takes over after them.
        let input = stereoSines(left: 440, right: 3000, frames: 48_000)
        let played = 4_800 * 2
        let resampler = DriftResampler(channels: 2, maxInputFrames: 960)
        Self.float(input[0..<played]).withUnsafeBufferPointer { resampler.resume(after: $0, frames: 4_800) }
        XCTAssertEqual(resampler.pendingFrames, 0)
        let rest = resample(Array(input[played...]), channels: 2, ratio: 1, resampler: resampler)
        let joined = Array(input[0..<played]) + rest
        // No shift and no click at the join: every frame matches the source closely.
        let worst = zip(input, joined).map { abs(Int($0) - Int($1)) }.max() ?? .max
        XCTAssertLessThanOrEqual(worst, 3)
        XCTAssertEqual(joined.count, input.count - DriftResampler.taps / 2 * 2)
    }

    func testTheCPUSpecificLoopPlaysWhatThePortableOnePlays() {
        // This machine runs the AVX2/FMA loop; a CPU without them (and arm64) runs the portable
        // one. A loud chord that clips now and then, at a ratio that moves every block: the two
        // may differ only where a fused multiply-add rounds the other way.
        for channels in [1, 2] {
            let chord = zip(
                Signal.sine(hz: 220, rate: 48_000, frames: 48_000, amplitude: 20_000, channels: channels),
                Signal.sine(hz: 13_100, rate: 48_000, frames: 48_000, amplitude: 14_000, channels: channels)
            )
            .map { Int16(clamping: Int($0) + Int($1)) }
            var outputs: [[Int16]] = []
            for kernel in [CPUKernel.fastest, .portable] {
                let resampler = DriftResampler(channels: channels, maxInputFrames: 960, kernel: kernel)
                var block = [Float](repeating: 0, count: resampler.maxOutputFrames * channels)
                var out: [Int16] = []
                for (i, start) in stride(from: 0, to: chord.count, by: 960 * channels).enumerated() {
                    let ratio = 1 + 0.000_9 * sin(Double(i))
                    let n = Self.float(chord[start..<(start + 960 * channels)]).withUnsafeBufferPointer { input in
                        block.withUnsafeMutableBufferPointer { resampler.process(input, frames: 960, ratio: ratio, into: $0) }
                    }
                    out += Self.s16(block[0..<(n * channels)])
                }
                outputs.append(out)
            }
            XCTAssertEqual(outputs[0].count, outputs[1].count, "\(channels) channels")
            XCTAssertTrue(outputs[0].contains(.max), "the chord must reach full scale")
            let worst = zip(outputs[0], outputs[1]).map { abs(Int($0) - Int($1)) }.max() ?? .max
            XCTAssertLessThanOrEqual(worst, 1, "\(channels) channels")
        }
    }
}

/// FLAC on the wire: each packet one frame, decoded on its own, bit-exact.
final class FLACTests: XCTestCase {
    /// Frames of a stereo signal with every sample distinct (a sine plus a counting ramp).
    private func frames(_ count: Int, frameSamples: Int) -> [[Int16]] {
        let sine = Signal.sine(hz: 441, rate: 48_000, frames: count * frameSamples, amplitude: 20_000, channels: 2)
        let signal = sine.enumerated().map { Int16(clamping: Int($1) + ($0 % 97) - 48) }
        return (0..<count).map { Array(signal[($0 * frameSamples * 2)..<(($0 + 1) * frameSamples * 2)]) }
    }

    func testEveryPacketDecodesOnItsOwnToTheSamplesThatWentIn() throws {
        let frameSamples = 960
        let encoder = try FLACEncoderHandle(sampleRate: 48_000, channels: 2, frameSamples: frameSamples)
        let decoder = try FLACDecoderHandle(channels: 2)
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: FLACLibrary.maxFrameSize(frames: frameSamples, channels: 2), alignment: 8)
        defer { out.deallocate() }
        let pcm = UnsafeMutableBufferPointer<Float>.allocate(capacity: frameSamples * 2)
        defer { pcm.deallocate() }
        let input = frames(12, frameSamples: frameSamples)
        var packets: [[UInt8]] = []
        for (i, frame) in input.enumerated() {
            let n = try XCTUnwrap(frame.withUnsafeBufferPointer { encoder.encode($0, into: out) })
            // libFLAC holds a frame until the next one's first sample: none at the first call.
            XCTAssertEqual(n == 0, i == 0)
            if n > 0 { packets.append(Array(UnsafeRawBufferPointer(rebasing: out[0..<n]))) }
        }
        packets.append(Array(UnsafeRawBufferPointer(rebasing: out[0..<(try XCTUnwrap(encoder.finish(into: out)))])))
        XCTAssertEqual(packets.count, input.count)
        XCTAssertLessThan(packets.map(\.count).reduce(0, +), input.count * frameSamples * 4, "it compresses")
        // Out of order and with gaps, as a receiver may get them: each stands alone.
        for index in [0, 3, 2, 7, 11, 5] {
            let n = packets[index].withUnsafeBytes { decoder.decode($0, into: pcm) }
            XCTAssertEqual(n, frameSamples, "packet \(index)")
            XCTAssertEqual(pcm.map { Int16($0 * 32768) }, input[index], "packet \(index) is bit-exact")
        }
    }

    func testAPacketThatDoesNotDecodeIsAStatusAndTheNextOneDecodes() throws {
        let encoder = try FLACEncoderHandle(sampleRate: 48_000, channels: 2, frameSamples: 480)
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 4_096, alignment: 8)
        defer { out.deallocate() }
        let input = frames(3, frameSamples: 480)
        var packets: [[UInt8]] = []
        for frame in input {
            if let n = frame.withUnsafeBufferPointer({ encoder.encode($0, into: out) }), n > 0 {
                packets.append(Array(UnsafeRawBufferPointer(rebasing: out[0..<n])))
            }
        }
        let pcm = UnsafeMutableBufferPointer<Float>.allocate(capacity: 960)
        defer { pcm.deallocate() }
        let decoder = try FLACDecoderHandle(channels: 2)
        var corrupt = packets[0]
        corrupt[corrupt.count / 2] ^= 0x5a
        for bad in [corrupt, Array(packets[0].prefix(40)), [0xff, 0xf8], [UInt8](repeating: 0, count: 64)] {
            XCTAssertEqual(bad.withUnsafeBytes { decoder.decode($0, into: pcm) }, -1)
        }
        XCTAssertEqual(packets[1].withUnsafeBytes { decoder.decode($0, into: pcm) }, 480)
        XCTAssertEqual(pcm.map { Int16($0 * 32768) }, input[1])
        // Bytes after the frame are dropped with the packet: they do not spoil the next one.
        XCTAssertEqual((packets[0] + [1, 2, 3]).withUnsafeBytes { decoder.decode($0, into: pcm) }, 480)
        XCTAssertEqual(packets[1].withUnsafeBytes { decoder.decode($0, into: pcm) }, 480)
        XCTAssertEqual(pcm.map { Int16($0 * 32768) }, input[1])
        // A mono decoder refuses a stereo frame; one with too little room refuses it too.
        XCTAssertEqual(packets[1].withUnsafeBytes { try! FLACDecoderHandle(channels: 1).decode($0, into: pcm) }, -1)
        XCTAssertEqual(packets[1].withUnsafeBytes { decoder.decode($0, into: UnsafeMutableBufferPointer(rebasing: pcm[0..<100])) }, -1)
    }
}

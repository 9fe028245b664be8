import CFractionalDelay

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Interleaved float in (full scale ±1.0, as Opus decodes), S16 out, at a ratio within a few parts per thousand of 1 that may change
/// on every call: the audio thread's drift compensation (DESIGN §6). libsamplerate's sinc
/// converters are built for any ratio; at a ratio this close to 1 each output frame is only the
/// input delayed by a fraction of a frame, so a short polyphase fractional-delay filter does the
/// same job: 24 taps (Kaiser-windowed sinc, β 11, cut off at 90 % of Nyquist) whose
/// coefficients are interpolated between 128 tabulated delays. Its error against an ideal delay
/// is below −94 dB up to 14 kHz and −55 dB at 16 kHz. The per-frame loop is C
/// (CFractionalDelay): the receiver's whole audio path takes 43 µs per 20 ms stereo packet with
/// it on AVX2/FMA, where it took 81 with a Swift SIMD4 loop and 125 with SRC_SINC_FASTEST
/// (bench-audio-path.sh).
/// A new ratio is reached gradually, over 125 ms. Storage is allocated at init; `process`
/// allocates nothing.
public final class DriftResampler: @unchecked Sendable {
    public static let taps = Int(MS_FRACTIONAL_DELAY_TAPS)
    /// 2^delayBits tabulated delays between two input frames.
    private static let delayBits = Int(MS_FRACTIONAL_DELAY_DELAY_BITS)
    private static let delays = 1 << delayBits
    /// Taps before the output position (the last of them at or just before it).
    private static let before = taps / 2 - 1
    /// Positions are fixed point, 32 fractional bits: exact steps, no floating point per frame.
    private static let one: UInt64 = 1 << 32
    /// A new ratio is reached over this many input frames (125 ms at 48 kHz).
    private static let glideFrames = 6_000

    public let channels: Int
    public let maxInputFrames: Int
    /// Output capacity needed for `maxInputFrames` at any ratio the drift controller sets.
    public var maxOutputFrames: Int { maxInputFrames + maxInputFrames / 100 + Self.taps }

    /// Per tabulated delay d (0...delays): the taps for d, then the steps to those for d + 1.
    private let table: UnsafeMutablePointer<Float>
    /// Per channel, the frames the filter still needs, as floats: planar, `capacity` each.
    private let history: UnsafeMutablePointer<Float>
    private let capacity: Int
    private var count = 0
    /// Where the next output frame falls among the `count` frames of history.
    private var position: UInt64 = 0
    /// The input step per output frame at the end of the last call (1 / ratio, fixed point).
    private var lastStep = DriftResampler.one

    private let kernel: CPUKernel

    public convenience init(channels: Int, maxInputFrames: Int) {
        self.init(channels: channels, maxInputFrames: maxInputFrames, kernel: .fastest)
    }

    init(channels: Int, maxInputFrames: Int, kernel: CPUKernel) {
        precondition(channels >= 1 && maxInputFrames >= 1)
        self.kernel = kernel
        self.channels = channels
        self.maxInputFrames = maxInputFrames
        capacity = maxInputFrames + Self.taps
        history = .allocate(capacity: capacity * channels)
        history.initialize(repeating: 0, count: capacity * channels)
        table = .allocate(capacity: (Self.delays + 1) * 2 * Self.taps)
        Self.fillTable(table)
        reset()
    }

    deinit {
        history.deallocate()
        table.deallocate()
    }

    /// Starts over from silence, at ratio 1.
    private func reset() {
        count = Self.before
        position = UInt64(Self.before) << 32
        lastStep = Self.one
        for channel in 0..<channels { (history + channel * capacity).update(repeating: 0, count: count) }
    }

    /// Continues a signal whose last `frames` frames were `input`, already played: the next
    /// output frame is the input frame that follows them.
    public func resume(after input: UnsafeBufferPointer<Float>, frames: Int) {
        reset()
        let kept = min(frames, Self.before)
        append(UnsafeBufferPointer(rebasing: input[((frames - kept) * channels)..<(frames * channels)]), frames: kept)
        position = UInt64(count) << 32
    }

    /// Input frames given that have not come out yet (the filter's look-ahead, plus a fraction
    /// of a frame): the next output frame is this far behind the end of the input so far.
    public var pendingFrames: Double { Double(count) - Double(position) / Double(Self.one) }

    /// Converts `frames` frames of `input` at `ratio` (output frames per input frame) into
    /// `output`, at S16's scale (±32768: `SampleConverter` takes it from there); the frame count
    /// produced. All input is consumed.
    public func process(_ input: UnsafeBufferPointer<Float>, frames: Int, ratio: Double, into output: UnsafeMutableBufferPointer<Float>) -> Int {
        precondition(frames <= maxInputFrames && output.count >= maxOutputFrames * channels && ratio > 0.99 && ratio < 1.01)
        append(input, frames: frames)
        // Move towards the new ratio over `glideFrames`, linearly within this block: the drift
        // controller's updates then reach the pitch as a smooth curve, where steps at each update
        // would modulate a steady tone (sidebands a few Hz from it, −93 dBFS on a −12 dBFS sine).
        let target = Int64(bitPattern: UInt64((Double(Self.one) / ratio).rounded()))
        let start = Int64(bitPattern: lastStep)
        let reach = start + (target - start) * Int64(min(frames, Self.glideFrames)) / Int64(Self.glideFrames)
        let glide = (reach - start) / Int64(max(frames, 1))
        // The last tap of frame n is n + taps/2, which must be in the history.
        let end = UInt64(count - Self.taps / 2) << 32
        var t = position
        let produced =
            switch kernel {
            case .fastest: ms_fractional_delay(history, capacity, channels, table, &t, end, lastStep, glide, frames, output.baseAddress!)
            case .portable: ms_fractional_delay_portable(history, capacity, channels, table, &t, end, lastStep, glide, frames, output.baseAddress!)
            }
        lastStep = UInt64(bitPattern: reach)
        // Keep what the next output frame's first tap needs.
        let drop = min(Int(truncatingIfNeeded: t >> 32) - Self.before, count)
        if drop > 0 {
            for channel in 0..<channels {
                let base = history + channel * capacity
                base.update(from: base + drop, count: count - drop)
            }
            count -= drop
            t -= UInt64(drop) << 32
        }
        position = t
        return produced
    }

    private func append(_ input: UnsafeBufferPointer<Float>, frames: Int) {
        precondition(count + frames <= capacity && input.count >= frames * channels)
        if frames > 0 { ms_deinterleave(input.baseAddress!, channels, frames, history + count, capacity) }
        count += frames
    }

    /// Kaiser-windowed sinc taps for each tabulated delay, each row scaled to a DC gain of 32768:
    /// full scale in, S16 out, with no multiply of its own.
    private static func fillTable(_ table: UnsafeMutablePointer<Float>) {
        let cutoff = 0.9
        let beta = 11.0
        let half = Double(taps) / 2
        var rows = [[Double]]()
        for d in 0...delays {
            let delay = Double(d) / Double(delays)
            var row = (0..<taps).map { k -> Double in
                let offset = Double(k - before) - delay
                let x = offset * cutoff
                let sinc = x == 0 ? 1 : sin(Double.pi * x) / (Double.pi * x)
                // The window is centred between the two taps around the output position.
                let w = (offset + 0.5) / half
                let window = besselI0(beta * max(0, 1 - w * w).squareRoot()) / besselI0(beta)
                return sinc * window
            }
            let gain = row.reduce(0, +)
            row = row.map { $0 * 32768 / gain }
            rows.append(row)
        }
        for d in 0...delays {
            let base = table + d * 2 * taps
            for k in 0..<taps {
                base[k] = Float(rows[d][k])
                base[taps + k] = d < delays ? Float(rows[d + 1][k] - rows[d][k]) : 0
            }
        }
    }

    private static func besselI0(_ x: Double) -> Double {
        var sum = 1.0
        var term = 1.0
        var k = 1.0
        while term > sum * 1e-12 {
            let half = x / (2 * k)
            term *= half * half
            sum += term
            k += 1
        }
        return sum
    }
}

import CFractionalDelay
import Core

/// From the float the audio path carries to the card's format, in the C loop
/// (`ms_convert`): rounded and clamped; S16 gets TPDF dither where a sample has anything below
/// its LSB, so a sample that came from S16 comes back exact in every format. Audio thread: no
/// allocation.
public struct SampleConverter: Sendable {
    public let format: SampleFormat
    private var dither: UInt32 = 0x9E37_79B9

    public init(format: SampleFormat) { self.format = format }

    /// `input` at full scale ±1.0 (decoded), or at S16's scale (`resampled`: the resampler's
    /// output), into `output`, which holds `input.count` samples of the format.
    public mutating func convert(_ input: UnsafeBufferPointer<Float>, resampled: Bool = false, into output: UnsafeMutableRawBufferPointer) {
        precondition(output.count >= input.count * format.bytesPerSample)
        guard let source = input.baseAddress else { return }
        ms_convert(source, resampled ? 1 : 32768, output.baseAddress!, input.count, format.rawValue, &dither)
    }
}

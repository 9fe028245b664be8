import Audio
import CFractionalDelay
import Core

/// From the float the audio path carries to the card's format, in the C loop
/// (`ms_convert`): rounded and clamped; S16 gets TPDF dither where a sample has anything below
/// its LSB, so a sample that came from S16 comes back exact in every format. Eight samples at a
/// time (AVX2 where the CPU has it). Audio thread: no allocation.
public struct SampleConverter: Sendable {
    public let format: SampleFormat
    /// The next sample's number: its dither is drawn from it.
    private var sampleNumber: UInt32 = 0

    private let kernel: CPUKernel

    public init(format: SampleFormat) { self.init(format: format, kernel: .fastest) }

    init(format: SampleFormat, kernel: CPUKernel) {
        self.format = format
        self.kernel = kernel
    }

    /// `input` at full scale ±1.0 (decoded), or at S16's scale (`resampled`: the resampler's
    /// output), into `output`, which holds `input.count` samples of the format.
    public mutating func convert(_ input: UnsafeBufferPointer<Float>, resampled: Bool = false, into output: UnsafeMutableRawBufferPointer) {
        precondition(output.count >= input.count * format.bytesPerSample)
        guard let source = input.baseAddress else { return }
        let scale: Float = resampled ? 1 : 32768
        switch kernel {
        case .fastest: ms_convert(source, scale, output.baseAddress!, input.count, format.rawValue, &sampleNumber)
        case .portable: ms_convert_portable(source, scale, output.baseAddress!, input.count, format.rawValue, &sampleNumber)
        }
    }
}

/// A C loop: the fastest this CPU has, or the baseline one for a test to compare.
enum CPUKernel { case fastest, portable }

import CSamplerate
import Core

/// Interleaved S16 in, S16 out, at a ratio that may change on every call: the audio thread's
/// drift compensation (DESIGN §6). libsamplerate glides between the previous ratio and the new
/// one across each block, so a changing ratio has no steps. Buffers are allocated at init;
/// `process` allocates nothing.
public final class StreamResampler: @unchecked Sendable {
    private let converter: SampleRateConverter
    private let floatIn: UnsafeMutableBufferPointer<Float>
    private let floatOut: UnsafeMutableBufferPointer<Float>
    public let channels: Int
    public let maxInputFrames: Int

    /// Output capacity needed for `maxInputFrames` at up to +1 % (the ratio is bounded far lower).
    public var maxOutputFrames: Int { maxInputFrames + maxInputFrames / 100 + 64 }

    public init(channels: Int, maxInputFrames: Int, quality: SampleRateConverter.Quality = .fastest) throws(SamplerateError) {
        self.channels = channels
        self.maxInputFrames = maxInputFrames
        converter = try SampleRateConverter(channels: channels, quality: quality)
        floatIn = .allocate(capacity: maxInputFrames * channels)
        floatIn.initialize(repeating: 0)
        floatOut = .allocate(capacity: (maxInputFrames + maxInputFrames / 100 + 64) * channels)
        floatOut.initialize(repeating: 0)
    }

    deinit {
        floatIn.deallocate()
        floatOut.deallocate()
    }

    /// Converts `frames` frames of `input` at `ratio` (output frames per input frame) into
    /// `output`; the frame count produced. All input is consumed. The converter's filter is
    /// centred: output frame k is input position k / ratio, so the schedule needs no latency
    /// correction; it only holds back a few dozen frames until more input arrives.
    public func process(_ input: UnsafeBufferPointer<Int16>, frames: Int, ratio: Double, into output: UnsafeMutableBufferPointer<Int16>) -> Int {
        precondition(frames <= maxInputFrames && output.count >= maxOutputFrames * channels)
        src_short_to_float_array(input.baseAddress, floatIn.baseAddress, Int32(frames * channels))
        var consumed = 0
        var produced = 0
        while consumed < frames {
            let result = converter.process(
                input: UnsafeBufferPointer(rebasing: floatIn[(consumed * channels)..<(frames * channels)]),
                output: UnsafeMutableBufferPointer(rebasing: floatOut[(produced * channels)...]),
                ratio: ratio, endOfInput: false)
            guard case .success(let (used, made)) = result, used + made > 0 else { break }
            consumed += used
            produced += made
        }
        src_float_to_short_array(floatOut.baseAddress, output.baseAddress, Int32(produced * channels))
        return produced
    }
}

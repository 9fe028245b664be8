import CSamplerate

public struct SamplerateError: Error, Equatable, CustomStringConvertible {
    public var code: Int32
    public var description: String { "libsamplerate: " + String(cString: src_strerror(code)) }
}

/// Owns a libsamplerate `SRC_STATE*` (its best sinc converter) for the host's set-up: a WAV
/// source at another rate than the stream's is converted once, whole. The receiver's drift
/// compensation has its own resampler (`Resample`).
public final class SampleRateConverter {
    private let state: OpaquePointer
    public let channels: Int

    private init(channels: Int) throws(SamplerateError) {
        var error: Int32 = 0
        guard let s = src_new(Int32(SRC_SINC_BEST_QUALITY), Int32(channels), &error) else { throw SamplerateError(code: error) }
        state = s
        self.channels = channels
    }

    deinit { src_delete(state) }

    /// Converts interleaved float frames at `ratio` (output rate / input rate).
    /// Returns (frames consumed, frames produced).
    private func process(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>, ratio: Double, endOfInput: Bool)
        -> Result<(consumed: Int, produced: Int), SamplerateError>
    {
        var data = SRC_DATA()
        data.data_in = input.baseAddress
        data.input_frames = input.count / channels
        data.data_out = output.baseAddress
        data.output_frames = output.count / channels
        data.src_ratio = ratio
        data.end_of_input = endOfInput ? 1 : 0
        let rc = src_process(state, &data)
        if rc != 0 { return .failure(SamplerateError(code: rc)) }
        return .success((Int(data.input_frames_used), Int(data.output_frames_gen)))
    }

    /// Converts a whole interleaved S16 signal from one rate to another (host set-up: a WAV at
    /// another rate than the stream's).
    public static func convert(_ samples: [Int16], channels: Int, from inRate: Int, to outRate: Int) throws(SamplerateError) -> [Int16] {
        if inRate == outRate { return samples }
        let converter = try SampleRateConverter(channels: channels)
        let ratio = Double(outRate) / Double(inRate)
        var input = [Float](repeating: 0, count: samples.count)
        src_short_to_float_array(samples, &input, Int32(samples.count))
        let outFrames = Int((Double(samples.count / channels) * ratio).rounded(.up)) + 64
        var output = [Float](repeating: 0, count: outFrames * channels)
        var consumedTotal = 0
        var producedTotal = 0
        while true {
            let result = input.withUnsafeBufferPointer { i in
                output.withUnsafeMutableBufferPointer { o in
                    converter.process(
                        input: UnsafeBufferPointer(rebasing: i[(consumedTotal * channels)...]),
                        output: UnsafeMutableBufferPointer(rebasing: o[(producedTotal * channels)...]),
                        ratio: ratio, endOfInput: true)
                }
            }
            switch result {
            case .failure(let e): throw e
            case .success((let consumed, let produced)):
                consumedTotal += consumed
                producedTotal += produced
                if produced == 0 || producedTotal * channels >= output.count {
                    var shorts = [Int16](repeating: 0, count: producedTotal * channels)
                    src_float_to_short_array(output, &shorts, Int32(shorts.count))
                    return shorts
                }
            }
        }
    }

    public static var libraryVersion: String { String(cString: src_get_version()) }
}

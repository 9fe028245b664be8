import CFractionalDelay

/// The device's sample format, from the float the path carries (full scale ±1.0): scaled,
/// rounded and clamped in the C loop the resampler's output goes through, so a sample that came
/// from S16 comes back exact.
public enum S16 {
    public static func convert(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Int16>) {
        precondition(output.count >= input.count)
        guard let source = input.baseAddress else { return }
        ms_float_to_s16(source, output.baseAddress!, input.count)
    }
}

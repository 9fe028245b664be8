/// Software volume on interleaved S16 samples, in place. Q15 fixed point, so unity gain is
/// bit-exact and the audio thread does no floating point per sample.
public struct Gain: Equatable, Sendable {
    public static let unity: Int32 = 1 << 15
    /// 0 … `unity`.
    public private(set) var q15: Int32

    public init(volume: Double) {
        let clamped = min(max(volume, 0), 1)
        q15 = Int32((clamped * Double(Gain.unity)).rounded())
    }

    public init(q15: Int32) { self.q15 = min(max(q15, 0), Gain.unity) }

    public var volume: Double { Double(q15) / Double(Gain.unity) }

    @inline(__always)
    public func apply(_ samples: UnsafeMutableBufferPointer<Int16>) {
        if q15 == Gain.unity { return }
        let g = q15
        for i in samples.indices {
            samples[i] = Int16(truncatingIfNeeded: (Int32(samples[i]) * g) >> 15)
        }
    }
}

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

/// Software volume that moves to a new level over `rampFrames` frames instead of jumping to it
/// at a packet boundary (a step in gain is a click, and a run of them zipper noise). Audio thread:
/// no allocation, integer arithmetic; at a steady unity gain it leaves samples untouched.
public struct GainRamp: Sendable {
    /// The gain of the last frame processed, Q15.
    public private(set) var q15: Int32
    private var start: Int32
    private var target: Int32
    private var done = 0
    public let rampFrames: Int

    public init(q15: Int32, rampFrames: Int) {
        let g = Gain(q15: q15).q15
        self.q15 = g
        start = g
        target = g
        self.rampFrames = max(1, rampFrames)
    }

    /// Applies the gain to interleaved `samples`, moving toward `newTarget` (Q15) from wherever
    /// the last ramp had got to.
    @inline(__always)
    public mutating func apply(_ samples: UnsafeMutableBufferPointer<Int16>, channels: Int, toward newTarget: Int32) {
        let newTarget = Gain(q15: newTarget).q15
        if newTarget != target {
            start = q15
            target = newTarget
            done = 0
        }
        var f = 0
        let frames = samples.count / channels
        while q15 != target && f < frames {
            done += 1
            q15 = done >= rampFrames ? target : start + Int32(Int(target - start) * done / rampFrames)
            for i in (f * channels)..<((f + 1) * channels) {
                samples[i] = Int16(truncatingIfNeeded: (Int32(samples[i]) * q15) >> 15)
            }
            f += 1
        }
        if f < frames {
            Gain(q15: q15).apply(UnsafeMutableBufferPointer(rebasing: samples[(f * channels)...]))
        }
    }
}

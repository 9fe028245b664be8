/// Software volume on interleaved float samples, in place. Kept as Q15 (it crosses threads in
/// one atomic integer); unity leaves the samples untouched, so PCM stays bit-exact.
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

    /// The factor samples are multiplied by.
    public var factor: Float { Float(q15) * (1 / Float(Gain.unity)) }

    @inline(__always)
    public func apply(_ samples: UnsafeMutableBufferPointer<Float>) {
        if q15 == Gain.unity { return }
        let g = factor
        for i in samples.indices { samples[i] *= g }
    }
}

/// Software volume that moves to a new level over `rampFrames` frames instead of jumping to it
/// at a packet boundary (a step in gain is a click, and a run of them zipper noise). Audio thread:
/// no allocation; at a steady unity gain it leaves samples untouched.
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
    public mutating func apply(_ samples: UnsafeMutableBufferPointer<Float>, channels: Int, toward newTarget: Int32) {
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
            let g = Gain(q15: q15).factor
            for i in (f * channels)..<((f + 1) * channels) { samples[i] *= g }
            f += 1
        }
        if f < frames {
            Gain(q15: q15).apply(UnsafeMutableBufferPointer(rebasing: samples[(f * channels)...]))
        }
    }
}

import Core

/// Which of a stereo stream's channels a speaker plays (`receiving.audio_output.channels`): two
/// speakers set to `left` and `right` are a stereo pair; `mono` is one speaker playing both.
/// Applied in place to interleaved float samples on the audio thread; a mono stream is
/// untouched, and so is `stereo`.
public enum ChannelMix: UInt8, NamedCase, Sendable {
    case stereo, left, right, mono

    public var name: String {
        switch self {
        case .stereo: "stereo"
        case .left: "left"
        case .right: "right"
        case .mono: "mono"
        }
    }

    @inline(__always)
    public func apply(_ samples: UnsafeMutableBufferPointer<Float>, channels: Int) {
        guard channels == 2, self != .stereo else { return }
        var i = samples.startIndex
        while i + 1 < samples.endIndex {
            let left = samples[i]
            let right = samples[i + 1]
            switch self {
            case .left: samples[i + 1] = left
            case .right: samples[i] = right
            // Half of each: a full-scale signal in both stays within full scale.
            case .mono:
                let both = (left + right) * 0.5
                samples[i] = both
                samples[i + 1] = both
            case .stereo: break
            }
            i += 2
        }
    }
}

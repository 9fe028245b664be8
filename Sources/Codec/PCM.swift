import Core

/// Uncompressed frames on the wire: interleaved S16 little-endian, the same bytes ALSA plays.
public enum PCMCodec {
    public static let bytesPerSample = 2

    public static func payloadSize(frames: Int, channels: Int) -> Int { frames * channels * bytesPerSample }

    /// Wire bytes into `out` at full scale ±1.0, as Opus decodes (exact: a power of two);
    /// returns the frame count (partial trailing frames ignored).
    @inline(__always)
    public static func decode(_ payload: UnsafeRawBufferPointer, channels: Int, into out: UnsafeMutableBufferPointer<Float>) -> Int {
        let samples = min(payload.count / bytesPerSample, out.count) / channels * channels
        for i in 0..<samples {
            out[i] = Float(Int16(littleEndian: payload.loadUnaligned(fromByteOffset: i * 2, as: Int16.self))) * (1 / 32768)
        }
        return samples / channels
    }

    public static func encode(_ pcm: UnsafeBufferPointer<Int16>, into out: UnsafeMutableRawBufferPointer) -> Int {
        precondition(out.count >= pcm.count * bytesPerSample)
        for i in pcm.indices {
            out.storeBytes(of: pcm[i].littleEndian, toByteOffset: i * 2, as: Int16.self)
        }
        return pcm.count * bytesPerSample
    }
}

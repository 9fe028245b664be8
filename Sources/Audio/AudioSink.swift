import Core

/// What one sink write did. The audio thread branches on it; nothing throws there.
public enum SinkStatus: Equatable {
    case written(frames: Int)
    /// The device ran dry and was prepared again, empty: `frames` were written before it was
    /// found dry, the rest not. Those are late; the caller decides what plays next.
    case recoveredFromUnderrun(frames: Int)
    case failed(AlsaError)
}

/// Where the audio thread puts decoded frames: the ALSA device on a speaker, a memory sink in
/// tests and benchmarks. Interleaved samples in the sink's format, rate and channel count.
public protocol AudioSink: ~Copyable {
    var sampleRate: Int { get }
    var channels: Int { get }
    var sampleFormat: SampleFormat { get }
    /// Frames the device can hold ahead of its DAC; the audio thread never writes further ahead
    /// of a frame's due time than this.
    var bufferFrames: Int { get }
    /// Whether it plays at its own clock's pace (a sound card), rather than taking whatever it
    /// is given at once (ALSA null/file, a recording): a paced device is started on schedule,
    /// behind silence that puts the first frame out when it is due.
    var isPaced: Bool { get }
    /// Frames between the device's buffer and its DAC when it stands empty (a FIFO, a codec's
    /// pipeline): the silence before the first frame is that much shorter.
    var hardwareDelayFrames: Int { get }
    /// Starts a device that stands prepared (it would otherwise start once its buffer is full).
    mutating func start()
    /// Writes all `frames` frames (blocking while a paced device is full).
    mutating func write(_ samples: UnsafeRawBufferPointer, frames: Int) -> SinkStatus
    /// Frames between the next frame to be written and the DAC, as of now; nil while the device
    /// is not playing, or when it does not hold what it is given (ALSA null/file: unpaced).
    /// `atPointerStep`: read it just after the card's hardware pointer moves. A card that moves
    /// it a DMA burst at a time reports up to a burst too much between moves; read at a move, it
    /// is exact. Costs up to a burst of waiting, so the caller asks for it now and then.
    mutating func outputDelay(atPointerStep: Bool) -> Int?
    /// Lets the device play out what it holds (end of stream).
    mutating func drain()
}

extension AudioSink where Self: ~Copyable {
    /// Bytes in one frame of the sink's format.
    public var frameBytes: Int { channels * sampleFormat.bytesPerSample }

    /// `checksum` with the bytes of `frames` frames of `samples` added: what a memory sink keeps so
    /// that a benchmark's work cannot be optimised out.
    public func checksum(_ checksum: Int64, adding samples: UnsafeRawBufferPointer, frames: Int) -> Int64 {
        var sum = checksum
        // Indexed: a slice's iterator allocates in a debug build.
        for i in 0..<(frames * frameBytes) { sum &+= Int64(samples[i]) }
        return sum
    }
}

/// Keeps the last frames written and counts everything, for tests and benchmarks: no device,
/// no pacing, no allocation after init.
public struct MemorySink: AudioSink, ~Copyable {
    public let sampleRate: Int
    public let channels: Int
    public let sampleFormat: SampleFormat
    public let bufferFrames: Int
    public var isPaced: Bool { false }
    public var hardwareDelayFrames: Int { 0 }
    public private(set) var framesWritten = 0
    /// A running checksum of every sample written, so a benchmark's work cannot be optimised out.
    public private(set) var checksum: Int64 = 0

    public init(sampleRate: Int, channels: Int, sampleFormat: SampleFormat = .s16, bufferFrames: Int = 4096) {
        self.sampleRate = sampleRate
        self.channels = channels
        self.sampleFormat = sampleFormat
        self.bufferFrames = bufferFrames
    }

    public mutating func write(_ samples: UnsafeRawBufferPointer, frames: Int) -> SinkStatus {
        checksum = checksum(checksum, adding: samples, frames: frames)
        framesWritten += frames
        return .written(frames: frames)
    }

    public mutating func outputDelay(atPointerStep: Bool) -> Int? { nil }

    public mutating func start() {}

    public mutating func drain() {}
}

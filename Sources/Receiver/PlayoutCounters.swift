import Audio
import Core
import Synchronization

/// What the audio thread tells the control loop, and the few commands going the other way:
/// atomics only, so neither side ever waits for the other (DESIGN §4).
public final class PlayoutCounters: Sendable {
    public let framesPlayed = Atomic<Int>(0)
    public let packetsPlayed = Atomic<Int>(0)
    public let packetsConcealed = Atomic<Int>(0)
    /// Packets that came too late to play once playback had begun: lost.
    public let packetsLate = Atomic<Int>(0)
    /// Packets of the host's recent past already due when playback began: passed over, not lost
    /// (the host sends them so that a receiver starts as soon as it can).
    public let packetsDueBeforeStart = Atomic<Int>(0)
    /// AUDIO packets refused on arrival: a timestamp far from the stream's schedule.
    public let packetsRefused = Atomic<Int>(0)
    /// The host's sequence numbers jumped beyond the jitter buffer's span.
    public let sequenceRestarts = Atomic<Int>(0)
    public let underruns = Atomic<Int>(0)
    public let overruns = Atomic<Int>(0)
    /// Audio thread → control loop: the device failed (unplugged, gone): the thread stopped,
    /// and this is the alsa-lib error code of the write that failed.
    public let deviceFailure = Atomic<Int32>(0)
    /// Hard resyncs (drop or insert) on a paced card, and the size of the last one, µs.
    public let resyncs = Atomic<Int>(0)
    public let lastResync = Atomic<Int>(0)
    /// When the card plays against when it should, µs (the drift controller's filtered error),
    /// and the resampling correction it applies, in 0.01 ppm.
    public let playoutError = Atomic<Int>(0)
    public let correction = Atomic<Int>(0)
    /// Packets waiting in the jitter buffer, for STATUS's buffer health.
    public let buffered = Atomic<Int>(0)
    /// Software volume in Q15 (Gain); the control loop may change it at any time.
    public let volumeQ15 = Atomic<Int32>(1 << 15)
    /// `ChannelMix`'s raw value: which channels this speaker plays.
    public let channelMix = Atomic<UInt8>(ChannelMix.stereo.rawValue)
    /// Control loop → audio thread: stop now.
    public let stopRequested = Atomic<Bool>(false)

    /// A new playout of the session (the card opened again) starts with no stop asked for and
    /// no failure: the counts go on.
    public func beginPlayout() {
        stopRequested.store(false, ordering: .relaxed)
        deviceFailure.store(0, ordering: .relaxed)
    }
    /// Control loop → audio thread: the host said the stream ended; play out what is buffered.
    public let endOfStream = Atomic<Bool>(false)
    /// Control loop → audio thread: the pool is full; drop the oldest packet (counted increments).
    public let dropRequests = Atomic<Int>(0)
    /// Control loop → audio thread: the host's clock stepped; put the card right at the next
    /// reading, at once rather than by gliding (counted increments).
    public let resyncRequests = Atomic<Int>(0)
    /// Audio thread → control loop: everything was played and the thread is done.
    public let finished = Atomic<Bool>(false)
    /// Audio thread → control loop: its steps, at least one every `audioThreadLongestSleep`
    /// while it plays. The service manager's watchdog is pinged only while they move, so a
    /// write stuck in a driver gets the daemon restarted.
    public let steps = Atomic<Int>(0)
    /// Control loop → audio thread: the playout latency from a stream time on
    /// (`LatencyChange.packed`; 0 until the first). The latest replaces one not reached yet.
    public let latencyChange = Atomic<UInt64>(0)
    /// Audio thread → control loop: the latency it plays at now, µs, and the changes it made.
    public let playoutLatency = Atomic<Int>(0)
    public let latencyChanges = Atomic<Int>(0)

    public init() {}
}

/// A playout latency and the stream time from which it holds, packed into one atomic word:
/// the time in whole milliseconds (40 bits: 34 years of stream) above the latency in µs (24
/// bits: up to 16.7 s).
public struct LatencyChange: Equatable, Sendable {
    /// Stream µs, a whole millisecond: the first packet with a timestamp at or after it plays
    /// at `latency`.
    public let from: Microseconds
    public let latency: Microseconds
    public static let maxLatency: Microseconds = (1 << 24) - 1
    private static let maxFromMilliseconds: Microseconds = (1 << 40) - 1

    /// Nil when either is out of range. `from` is rounded up to a whole millisecond, so the
    /// change never starts before it was asked for.
    public init?(from: Microseconds, latency: Microseconds) {
        let milliseconds = from / 1_000 + (from % 1_000 > 0 ? 1 : 0)
        guard from >= 0, milliseconds <= Self.maxFromMilliseconds, (1...Self.maxLatency).contains(latency) else { return nil }
        self.from = milliseconds * 1_000
        self.latency = latency
    }

    public init?(packed: UInt64) {
        self.init(from: Microseconds(packed >> 24) * 1_000, latency: Microseconds(packed & 0xFF_FFFF))
    }

    public var packed: UInt64 { UInt64(from / 1_000) << 24 | UInt64(latency) }
}

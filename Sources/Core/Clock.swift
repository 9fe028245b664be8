#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Time in microseconds on one named clock. The host's stream schedule and the wire use µs of
/// the host's `CLOCK_MONOTONIC` (DESIGN §6).
public typealias Microseconds = Int64

/// Where the real-time code reads the time, so tests can drive it with a clock they set.
public protocol MonotonicClock {
    func now() -> Microseconds
    /// Sleeps until `deadline` on this clock (returns early only on a signal).
    func sleep(until deadline: Microseconds)
}

/// The system's `CLOCK_MONOTONIC`.
public struct SystemClock: MonotonicClock, Sendable {
    public init() {}

    @inline(__always)
    public func now() -> Microseconds {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Microseconds(ts.tv_sec) * 1_000_000 + Microseconds(ts.tv_nsec) / 1000
    }

    public func sleep(until deadline: Microseconds) {
        var ts = timespec(tv_sec: Int(deadline / 1_000_000), tv_nsec: Int(deadline % 1_000_000) * 1000)
        _ = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil)
    }
}

/// Maps the host's clock onto this machine's: `local = host - offset`. From the handshake's one
/// exchange for now; the clock-sync issue replaces it with a fitted offset and drift.
public struct ClockMapping: Equatable, Sendable {
    /// host − local, µs.
    public var offset: Microseconds

    public init(offset: Microseconds) { self.offset = offset }

    /// NTP-style offset from one exchange: ((t2 − t1) + (t3 − t4)) / 2.
    public init(t1: Microseconds, t2: Microseconds, t3: Microseconds, t4: Microseconds) {
        offset = ((t2 - t1) + (t3 - t4)) / 2
    }

    @inline(__always) public func local(fromHost t: Microseconds) -> Microseconds { t - offset }
    @inline(__always) public func host(fromLocal t: Microseconds) -> Microseconds { t + offset }
}

/// A clock that moves only when told (or when slept on): deterministic tests and benchmarks of
/// the real-time path, as swift-nio's `EmbeddedEventLoop` does for its loop.
public final class SteppedClock: MonotonicClock, @unchecked Sendable {
    public private(set) var current: Microseconds

    public init(startingAt start: Microseconds = 0) { current = start }

    public func now() -> Microseconds { current }

    public func sleep(until deadline: Microseconds) { current = max(current, deadline) }

    public func advance(by delta: Microseconds) { current += delta }
}

/// Time in microseconds on one named clock. The host's stream schedule and the wire use µs of
/// the host's `CLOCK_MONOTONIC` (DESIGN §6).
public typealias Microseconds = Int64

/// The largest time anything here takes from a peer (µs on a monotonic clock, or since stream
/// start): 2^53 µs is 285 years, and keeps every sum and difference of two such times exact in
/// a Double and far from Int64's ends.
public let largestTime: Microseconds = 1 << 53

/// Where the real-time code reads the time, so tests can drive it with a clock they set.
public protocol MonotonicClock {
    func now() -> Microseconds
    /// Sleeps until `deadline` on this clock (returns early only on a signal).
    func sleep(until deadline: Microseconds)
}

/// The host's clock as seen from this machine: host = local + offset + drift × (local − reference).
/// The clock estimator fits it; the audio thread maps the host's schedule through it.
public struct ClockMapping: Equatable, Sendable {
    public var reference: Microseconds
    /// host − local at `reference`, µs.
    public var offset: Microseconds
    /// How much faster the host's clock runs (1e-6 = 1 ppm).
    public var drift: Double

    public init(reference: Microseconds = 0, offset: Microseconds, drift: Double = 0) {
        self.reference = reference
        self.offset = offset
        self.drift = drift
    }

    @inline(__always)
    public func host(fromLocal t: Microseconds) -> Microseconds {
        t + offset + Microseconds((drift * Double(t - reference)).rounded())
    }

    /// The inverse: t = l + offset + drift (l − ref)  ⇒  l = (t − offset + drift · ref) / (1 + drift).
    @inline(__always)
    public func local(fromHost t: Microseconds) -> Microseconds {
        Microseconds(((Double(t - offset) + drift * Double(reference)) / (1 + drift)).rounded())
    }
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

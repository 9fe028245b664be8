import Synchronization

/// The current `ClockMapping`, written by the control loop (from the clock estimator) and read
/// by the audio thread without locks: a sequence lock over three atomics. The reader retries
/// the rare read that overlaps a write a bounded number of times; neither side ever waits for
/// the other.
public final class SharedClockMapping: Sendable {
    private let sequence = Atomic<UInt64>(0)
    private let reference = Atomic<Int64>(0)
    private let offset = Atomic<Int64>(0)
    private let driftBits = Atomic<UInt64>(0)

    public init(_ mapping: ClockMapping) { store(mapping) }

    /// Writer side (one writer).
    public func store(_ mapping: ClockMapping) {
        let s = sequence.load(ordering: .relaxed)
        sequence.store(s &+ 1, ordering: .relaxed)
        atomicMemoryFence(ordering: .releasing)
        reference.store(mapping.reference, ordering: .relaxed)
        offset.store(mapping.offset, ordering: .relaxed)
        driftBits.store(mapping.drift.bitPattern, ordering: .relaxed)
        sequence.store(s &+ 2, ordering: .releasing)
    }

    /// Reader side: the current mapping, or nil when `attempts` reads in a row overlapped a
    /// write (the writer stopped mid-write, or is being starved): the audio thread then keeps
    /// the mapping it had rather than spin.
    @inline(__always)
    public func load(attempts: Int = 8) -> ClockMapping? {
        for _ in 0..<attempts {
            let before = sequence.load(ordering: .acquiring)
            if before & 1 == 1 { continue }
            let mapping = ClockMapping(
                reference: reference.load(ordering: .relaxed),
                offset: offset.load(ordering: .relaxed),
                drift: Double(bitPattern: driftBits.load(ordering: .relaxed)))
            atomicMemoryFence(ordering: .acquiring)
            if sequence.load(ordering: .relaxed) == before { return mapping }
        }
        return nil
    }
}

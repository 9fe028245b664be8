import Synchronization

/// A single-producer single-consumer ring of small integers (packet-pool slot indices): the only
/// way the control loop and the audio thread hand packets to each other (DESIGN §4).
/// Storage is allocated once at init; push and pop never block and never allocate.
/// Positions are free-running counters; the acquire/release pair on them publishes the slot
/// contents written before a push to the thread that pops it.
public final class SPSCRing: @unchecked Sendable {
    private let storage: UnsafeMutablePointer<Int32>
    private let mask: Int
    private let head = Atomic<Int>(0)  // next to pop; written by the consumer only
    private let tail = Atomic<Int>(0)  // next to push; written by the producer only

    public let capacity: Int

    /// `capacity` is rounded up to a power of two.
    public init(capacity: Int) {
        precondition(capacity > 0)
        var size = 1
        while size < capacity { size <<= 1 }
        self.capacity = size
        self.mask = size - 1
        storage = .allocate(capacity: size)
        storage.initialize(repeating: -1, count: size)
    }

    deinit { storage.deallocate() }

    /// Producer side. False when full.
    @inline(__always)
    public func push(_ value: Int32) -> Bool {
        let t = tail.load(ordering: .relaxed)
        if t - head.load(ordering: .acquiring) == capacity { return false }
        storage[t & mask] = value
        tail.store(t + 1, ordering: .releasing)
        return true
    }

    /// Consumer side. Nil when empty.
    @inline(__always)
    public func pop() -> Int32? {
        let h = head.load(ordering: .relaxed)
        if h == tail.load(ordering: .acquiring) { return nil }
        let value = storage[h & mask]
        head.store(h + 1, ordering: .releasing)
        return value
    }

    /// Approximate from either side; exact from one side when the other is idle.
    public var count: Int { tail.load(ordering: .acquiring) - head.load(ordering: .acquiring) }
}

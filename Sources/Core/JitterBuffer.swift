/// Orders received packets by sequence number for the audio thread (DESIGN §4): a ring indexed
/// by `seq % capacity` holding packet-pool slot indices. Owned by the audio thread only.
/// Late packets (already played or skipped) and duplicates are refused; when a packet arrives
/// too far ahead, the oldest are evicted so the newest always fit (a full pool drops the oldest).
public struct JitterBuffer: ~Copyable {
    public enum InsertResult: Equatable {
        case stored
        case duplicate
        /// Its turn has passed: it was played, concealed or skipped.
        case late
        /// It is further from the next sequence number than the buffer spans, ahead or behind:
        /// the stream was restarted from it. What was stored went to `evicted`.
        case restarted
    }

    private let slots: UnsafeMutablePointer<Int32>
    private let sequences: UnsafeMutablePointer<UInt64>
    public let capacity: Int
    /// The next sequence number to play; nil until the first packet sets the start.
    public private(set) var nextSequence: UInt64?
    public private(set) var count = 0

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: -1, count: capacity)
        sequences = .allocate(capacity: capacity)
        sequences.initialize(repeating: 0, count: capacity)
    }

    deinit {
        slots.deallocate()
        sequences.deallocate()
    }

    /// Stores `slot` for `sequence`. Slots pushed out to make room are passed to `evicted`
    /// (they were the oldest, unplayed); a refused packet's slot stays with the caller.
    public mutating func insert(slot: Int32, sequence: UInt64, evicted: (Int32) -> Void) -> InsertResult {
        guard let next = nextSequence else { return store(slot, sequence, as: .stored) }
        let span = UInt64(capacity)
        // A peer's sequence number is not trusted: a jump of any size costs one pass over the
        // buffer, never a loop as long as the jump.
        if sequence < next ? next - sequence > span : sequence - next >= 2 * span {
            reset(release: evicted)
            return store(slot, sequence, as: .restarted)
        }
        guard sequence >= next else { return .late }
        // Make room: everything more than `capacity` behind the new packet is dropped (fewer
        // than `capacity` steps, by the check above).
        while sequence - nextSequence! >= span {
            if let old = take(nextSequence!) { evicted(old) }
            nextSequence! &+= 1
        }
        let index = Int(sequence % span)
        if slots[index] >= 0 { return .duplicate }
        return store(slot, sequence, as: .stored)
    }

    private mutating func store(_ slot: Int32, _ sequence: UInt64, as result: InsertResult) -> InsertResult {
        if nextSequence == nil { nextSequence = sequence }
        let index = Int(sequence % UInt64(capacity))
        slots[index] = slot
        sequences[index] = sequence
        count += 1
        return result
    }

    /// The packet for the next sequence number if it is here.
    public func peekNext() -> Int32? {
        guard let next = nextSequence else { return nil }
        let index = Int(next % UInt64(capacity))
        return slots[index] >= 0 && sequences[index] == next ? slots[index] : nil
    }

    /// Removes and returns the packet for the next sequence (nil: it is missing) and moves on.
    public mutating func advance() -> Int32? {
        guard let next = nextSequence else { return nil }
        let slot = take(next)
        nextSequence = next &+ 1
        return slot
    }

    /// Drops the oldest stored packet (the pool is full) and returns its slot.
    public mutating func dropOldest() -> Int32? {
        guard count > 0, var seq = nextSequence else { return nil }
        while true {
            if let slot = take(seq) {
                nextSequence = seq &+ 1
                return slot
            }
            seq &+= 1
        }
    }

    /// Empties the buffer, handing every stored slot to `release`, and forgets the start.
    public mutating func reset(release: (Int32) -> Void) {
        for i in 0..<capacity where slots[i] >= 0 {
            release(slots[i])
            slots[i] = -1
        }
        count = 0
        nextSequence = nil
    }

    private mutating func take(_ sequence: UInt64) -> Int32? {
        let index = Int(sequence % UInt64(capacity))
        guard slots[index] >= 0, sequences[index] == sequence else { return nil }
        let slot = slots[index]
        slots[index] = -1
        count -= 1
        return slot
    }
}

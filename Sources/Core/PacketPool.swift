/// Fixed packet storage allocated once at set-up (DESIGN §4): `slotCount` slots of
/// `slotCapacity` bytes in one block, plus each slot's filled length. The network side reads
/// frame payloads straight into a slot; the slot index then travels through an `SPSCRing`, so
/// exactly one thread owns a slot at a time and no lock is needed.
///
/// Free slots are handed out from a ring that the consumer (audio thread) refills, so acquiring
/// and releasing never allocate.
public final class PacketPool: @unchecked Sendable {
    public let slotCount: Int
    public let slotCapacity: Int
    private let bytes: UnsafeMutableRawPointer
    private let lengths: UnsafeMutablePointer<Int>
    /// Slots free for the producer (network side) to fill.
    private let free: SPSCRing
    /// A slot the producer gave back itself (see `releaseFromProducer`); -1 when none.
    private var parked: Int32 = -1

    public init(slotCount: Int, slotCapacity: Int) {
        precondition(slotCount > 0 && slotCapacity > 0)
        self.slotCount = slotCount
        self.slotCapacity = slotCapacity
        bytes = .allocate(byteCount: slotCount * slotCapacity, alignment: 16)
        bytes.initializeMemory(as: UInt8.self, repeating: 0, count: slotCount * slotCapacity)
        lengths = .allocate(capacity: slotCount)
        lengths.initialize(repeating: 0, count: slotCount)
        free = SPSCRing(capacity: slotCount)
        for i in 0..<slotCount { _ = free.push(Int32(i)) }
    }

    deinit {
        bytes.deallocate()
        lengths.deallocate()
    }

    /// Producer side: a free slot, or nil when every slot is in use (the pool is full).
    @inline(__always)
    public func acquire() -> Int32? {
        if parked >= 0 {
            defer { parked = -1 }
            return parked
        }
        return free.pop()
    }

    /// Consumer side: gives a slot back to the producer.
    @inline(__always)
    public func release(_ slot: Int32) {
        let returned = free.push(slot)
        precondition(returned, "packet pool slot released twice")
    }

    /// Producer side: puts back a slot it acquired but did not queue (an invalid frame). The
    /// free ring has one producer, the consumer; so the producer parks the slot here and takes
    /// it again on its next `acquire`.
    @inline(__always)
    public func releaseFromProducer(_ slot: Int32) {
        precondition(parked < 0, "one parked slot at a time")
        parked = slot
    }

    public var freeCount: Int { free.count + (parked >= 0 ? 1 : 0) }

    /// Marks every slot free. Only while no other thread touches the pool (between sessions).
    public func reclaimAll() {
        while free.pop() != nil {}
        parked = -1
        for i in 0..<slotCount { _ = free.push(Int32(i)) }
    }

    /// The whole slot, for filling.
    @inline(__always)
    public func storage(_ slot: Int32) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: bytes + Int(slot) * slotCapacity, count: slotCapacity)
    }

    /// The filled part of a slot.
    @inline(__always)
    public func contents(_ slot: Int32) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: bytes + Int(slot) * slotCapacity, count: lengths[Int(slot)])
    }

    @inline(__always)
    public func setLength(_ slot: Int32, _ length: Int) {
        precondition(length >= 0 && length <= slotCapacity)
        lengths[Int(slot)] = length
    }
}

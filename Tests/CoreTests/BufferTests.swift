import Core
import Platform
import Synchronization
import XCTest

final class JitterBufferTests: XCTestCase {
    func testPlaysInSequenceOrderWhateverTheArrivalOrder() {
        var jitter = JitterBuffer(capacity: 8)
        for (slot, seq) in [(0, 10), (2, 12), (1, 11)] {
            XCTAssertEqual(jitter.insert(slot: Int32(slot), sequence: UInt64(seq)) { _ in XCTFail("evicted") }, .stored)
        }
        XCTAssertEqual(jitter.advance(), 0)
        XCTAssertEqual(jitter.advance(), 1)
        XCTAssertEqual(jitter.advance(), 2)
        XCTAssertNil(jitter.advance())
        XCTAssertEqual(jitter.nextSequence, 14)
    }

    func testDuplicatesAndLatePacketsAreRefused() {
        var jitter = JitterBuffer(capacity: 8)
        _ = jitter.insert(slot: 0, sequence: 5) { _ in }
        XCTAssertEqual(jitter.insert(slot: 1, sequence: 5) { _ in }, .duplicate)
        _ = jitter.advance()
        XCTAssertEqual(jitter.insert(slot: 2, sequence: 5) { _ in }, .late)
        XCTAssertEqual(jitter.insert(slot: 3, sequence: 4) { _ in }, .late)
    }

    func testMissingPacketIsReportedAsAGap() {
        var jitter = JitterBuffer(capacity: 8)
        _ = jitter.insert(slot: 0, sequence: 0) { _ in }
        _ = jitter.insert(slot: 2, sequence: 2) { _ in }
        XCTAssertEqual(jitter.advance(), 0)
        XCTAssertNil(jitter.peekNext())
        XCTAssertEqual(jitter.count, 1)
        XCTAssertNil(jitter.advance())
        XCTAssertEqual(jitter.advance(), 2)
    }

    func testAPacketTooFarAheadEvictsTheOldest() {
        var jitter = JitterBuffer(capacity: 4)
        for seq in 0..<4 { _ = jitter.insert(slot: Int32(seq), sequence: UInt64(seq)) { _ in } }
        var evicted: [Int32] = []
        XCTAssertEqual(jitter.insert(slot: 9, sequence: 5) { evicted.append($0) }, .stored)
        XCTAssertEqual(evicted, [0, 1])
        XCTAssertEqual(jitter.nextSequence, 2)
        XCTAssertEqual(jitter.count, 3)
    }

    /// A peer's sequence number can jump anywhere: one pass over the buffer, never a walk of
    /// the jump, and the stream goes on from the new number; either way.
    func testASequenceJumpBeyondTheSpanRestartsFromTheNewNumber() {
        var jitter = JitterBuffer(capacity: 4)
        for seq in 0..<3 { _ = jitter.insert(slot: Int32(seq), sequence: UInt64(seq)) { _ in } }
        var evicted: [Int32] = []
        XCTAssertEqual(jitter.insert(slot: 7, sequence: 1 << 40) { evicted.append($0) }, .restarted)
        XCTAssertEqual(evicted.sorted(), [0, 1, 2])
        XCTAssertEqual(jitter.nextSequence, 1 << 40)
        XCTAssertEqual(jitter.count, 1)
        XCTAssertEqual(jitter.insert(slot: 8, sequence: (1 << 40) + 1) { _ in }, .stored)
        XCTAssertEqual(jitter.insert(slot: 9, sequence: UInt64.max) { _ in }, .restarted)
        XCTAssertEqual(jitter.advance(), 9)
        XCTAssertEqual(jitter.nextSequence, 0, "wraps instead of trapping at the end of UInt64")
        // Back by less than the span is late; back by more, a restart too.
        XCTAssertEqual(jitter.insert(slot: 1, sequence: 2) { _ in }, .stored)
        XCTAssertEqual(jitter.advance(), nil)
        XCTAssertEqual(jitter.insert(slot: 2, sequence: 0) { _ in }, .late)
        XCTAssertEqual(jitter.insert(slot: 3, sequence: 30) { _ in }, .restarted)
        XCTAssertEqual(jitter.insert(slot: 4, sequence: 25) { _ in }, .restarted)
        // Ahead by less than two spans: evicts step by step, as a packet too far ahead does.
        XCTAssertEqual(jitter.insert(slot: 5, sequence: 32) { _ in }, .stored)
        XCTAssertEqual(jitter.nextSequence, 29)
    }

    func testDropOldestAndReset() {
        var jitter = JitterBuffer(capacity: 8)
        _ = jitter.insert(slot: 4, sequence: 3) { _ in }
        _ = jitter.insert(slot: 5, sequence: 6) { _ in }
        XCTAssertEqual(jitter.dropOldest(), 4)
        XCTAssertEqual(jitter.nextSequence, 4)
        var released: [Int32] = []
        jitter.reset { released.append($0) }
        XCTAssertEqual(released, [5])
        XCTAssertNil(jitter.nextSequence)
        XCTAssertNil(jitter.dropOldest())
    }
}

final class PoolAndRingTests: XCTestCase {
    func testRingIsFIFOAndBounded() {
        let ring = SPSCRing(capacity: 3)
        XCTAssertEqual(ring.capacity, 4)
        for i in 0..<4 { XCTAssertTrue(ring.push(Int32(i))) }
        XCTAssertFalse(ring.push(9))
        XCTAssertEqual((0..<4).compactMap { _ in ring.pop() }, [0, 1, 2, 3])
        XCTAssertNil(ring.pop())
    }

    func testPoolHandsOutEverySlotOnceThenIsFull() {
        let pool = PacketPool(slotCount: 3, slotCapacity: 16)
        let slots = (0..<3).compactMap { _ in pool.acquire() }
        XCTAssertEqual(Set(slots), [0, 1, 2])
        XCTAssertNil(pool.acquire())
        pool.release(slots[1])
        XCTAssertEqual(pool.acquire(), slots[1])
        pool.releaseFromProducer(slots[0])
        XCTAssertEqual(pool.freeCount, 1)
        XCTAssertEqual(pool.acquire(), slots[0])
        pool.reclaimAll()
        XCTAssertEqual(pool.freeCount, 3)
    }

    func testPacketsCrossThreadsIntactThroughPoolAndRings() {
        // Producer fills slots with their sequence number; consumer checks and releases them.
        let pool = PacketPool(slotCount: 8, slotCapacity: 8)
        let filled = SPSCRing(capacity: 8)
        let total = 200_000
        let mismatches = Atomic<Int>(0)
        let received = Atomic<Int>(0)
        let consumer = NamedThread(name: "consumer", realtime: false) {
            var expected: UInt64 = 0
            while expected < UInt64(total) {
                guard let slot = filled.pop() else { continue }
                if pool.contents(slot).loadBigEndian(UInt64.self, at: 0) != expected { mismatches.add(1, ordering: .relaxed) }
                expected += 1
                received.add(1, ordering: .relaxed)
                pool.release(slot)
            }
        }
        var seq: UInt64 = 0
        while seq < UInt64(total) {
            guard let slot = pool.acquire() else { continue }
            pool.storage(slot).storeBigEndian(seq, at: 0)
            pool.setLength(slot, 8)
            XCTAssertTrue(filled.push(slot))
            seq += 1
        }
        consumer.join()
        XCTAssertEqual(received.load(ordering: .relaxed), total)
        XCTAssertEqual(mismatches.load(ordering: .relaxed), 0)
    }
}

/// The clock mapping the control loop writes and the audio thread reads without locks.
final class SharedClockMappingTests: XCTestCase {
    /// Every mapping the reader gets was written whole (a torn read would mix two writes), and a
    /// reader that finds every attempt overlapping a write gives up instead of spinning.
    func testReadsAreWholeWritesAndBounded() {
        let shared = SharedClockMapping(ClockMapping(reference: 0, offset: 0, drift: 0))
        let done = Atomic<Bool>(false)
        let writer = NamedThread(name: "writer", realtime: false) {
            var i: Int64 = 0
            while !done.load(ordering: .relaxed) {
                i += 1
                shared.store(ClockMapping(reference: i, offset: -i, drift: Double(i)))
            }
        }
        var torn = 0
        var reads = 0
        var gaveUp = 0
        for _ in 0..<500_000 {
            guard let m = shared.load(attempts: 2) else {
                gaveUp += 1
                continue
            }
            reads += 1
            if m.offset != -m.reference || m.drift != Double(m.reference) { torn += 1 }
        }
        done.store(true, ordering: .relaxed)
        writer.join()
        XCTAssertEqual(torn, 0, "torn reads among \(reads)")
        XCTAssertGreaterThan(reads, 0)
        XCTAssertNil(shared.load(attempts: 0), "no attempt, no mapping")
        print("seqlock: \(reads) whole reads, \(gaveUp) gave up after 2 attempts against a writer in a tight loop")
    }
}

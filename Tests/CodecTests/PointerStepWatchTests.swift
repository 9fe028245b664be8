import Audio
import Core
import XCTest

/// A clock on which reading the time takes a microsecond, as a busy wait's reads do.
final class TickingClock: MonotonicClock {
    var current: Microseconds
    var sleeps = 0
    init(at start: Microseconds) { current = start }
    func now() -> Microseconds {
        current += 1
        return current
    }
    func sleep(until deadline: Microseconds) {
        sleeps += 1
        current = max(current, deadline)
    }
}

/// A card playing at `rate` whose pointer moves `burst` frames at a time; 4800 frames queued at 0.
struct BurstyCard {
    let rate: Double
    let burst: Int
    func delay(at t: Microseconds) -> Int {
        let played = Int(Double(t) * rate / 1e6)
        return 4_800 - played / burst * burst
    }
    /// The true delay at `t`, unquantised.
    func exactDelay(at t: Microseconds) -> Double { 4_800 - Double(t) * rate / 1e6 }
}

final class PointerStepWatchTests: XCTestCase {
    func testTheDelayReadAtAStepIsTheTrueOneAndLaterCatchesSleepInsteadOfSpinning() {
        let card = BurstyCard(rate: 48_000 * (1 + 300e-6), burst: 64)
        let clock = TickingClock(at: 517)
        var watch = PointerStepWatch(nominalRate: 48_000)
        var reads = 0
        for catchNumber in 0..<6 {
            let readsBefore = reads
            let delay = watch.delayAtStep(clock: clock) {
                reads += 1
                return card.delay(at: clock.current)
            }
            // Caught within a couple of µs of the move: off the unquantised delay by under a frame,
            // where a read between moves is off by up to 64.
            XCTAssertEqual(Double(delay ?? 0), card.exactDelay(at: clock.current), accuracy: 1.5, "catch \(catchNumber)")
            if catchNumber >= 2 {
                // The period is known: a sleep, then about `margin` µs of reads, not a burst's worth.
                XCTAssertLessThan(reads - readsBefore, 200, "catch \(catchNumber)")
            }
            clock.current += 500_000 + Microseconds(catchNumber * 37)  // the audio thread's other work
        }
        XCTAssertGreaterThanOrEqual(clock.sleeps, 3)
    }

    func testAPointerThatMovesFrameByFrameIsCaughtWithinAFrame() {
        let card = BurstyCard(rate: 48_000, burst: 1)
        let clock = TickingClock(at: 1_000)
        var watch = PointerStepWatch(nominalRate: 48_000)
        for _ in 0..<3 {
            let start = clock.current
            let delay = watch.delayAtStep(clock: clock) { card.delay(at: clock.current) }
            XCTAssertEqual(Double(delay ?? 0), card.exactDelay(at: clock.current), accuracy: 1.5)
            XCTAssertLessThan(clock.current - start, 50)
            clock.current += 20_000
        }
        XCTAssertEqual(clock.sleeps, 0)
    }

    func testAPointerThatDoesNotMoveIsReadAsItIsAfterTheLongestWait() {
        let clock = TickingClock(at: 0)
        var watch = PointerStepWatch(nominalRate: 48_000)
        XCTAssertEqual(watch.delayAtStep(clock: clock) { 1_000 }, 1_000)
        XCTAssertGreaterThanOrEqual(clock.current, PointerStepWatch.longestWait)
        XCTAssertNil(watch.delayAtStep(clock: clock) { nil })
    }
}

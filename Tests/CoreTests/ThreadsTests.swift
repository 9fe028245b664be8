import Core
import Platform
import Synchronization
import XCTest

final class ThreadsTests: XCTestCase {
    private final class StopFlag: Sendable {
        let stop = Atomic<Bool>(false)
    }

    /// A thread that sleeps 250 ms at a time between looks at its stop flag (as the audio thread
    /// does) is joined within milliseconds, not after the rest of its sleep: at whatever point
    /// of its loop the stop comes.
    func testAThreadThatSleepsBetweenLooksAtItsStopFlagIsJoinedAtOnce() {
        let clock = SystemClock()
        var slowest: Microseconds = 0
        for attempt in 0..<20 {
            let flag = StopFlag()
            let thread = NamedThread(name: "sleeper", realtime: false) {
                while !flag.stop.load(ordering: .acquiring) { clock.sleep(until: clock.now() + 250_000) }
            }
            // Into its sleep, or at any point of its loop.
            usleep(UInt32(1_000 + attempt * 500))
            let asked = clock.now()
            flag.stop.store(true, ordering: .releasing)
            thread.wakeAndJoin()
            slowest = max(slowest, clock.now() - asked)
        }
        print("a sleeping thread joined within \(slowest) µs of its stop")
        XCTAssertLessThan(slowest, 20_000)
    }
}

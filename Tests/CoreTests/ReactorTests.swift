import Core
import Transport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The control threads' event loop: timers on a clock the test moves, descriptors through
/// poll(2), one wait for both.
final class ReactorTests: XCTestCase {
    private enum Token: Hashable { case a, b, pipe }

    func testTimersFireAtTheirDeadlineInDeadlineOrderAndNotBefore() {
        let clock = SteppedClock(startingAt: 1_000_000)
        var reactor = Reactor<Token>(clock: clock)
        reactor.schedule(.a, after: 20_000)
        reactor.schedule(.b, after: 10_000)
        clock.advance(by: 9_999)
        XCTAssertEqual(reactor.wait(maxWait: 0), [], "1 µs before the first deadline nothing fires")
        clock.advance(by: 1)
        XCTAssertEqual(reactor.wait(maxWait: 0), [.timer(.b)])
        clock.advance(by: 20_000)
        XCTAssertEqual(reactor.wait(maxWait: 0), [.timer(.a)])
        XCTAssertEqual(reactor.wait(maxWait: 0), [], "a timer fires once")
        // Rescheduling replaces; cancelling removes; both due at once come in deadline order.
        reactor.schedule(.a, after: 5)
        reactor.schedule(.a, after: 50)
        reactor.schedule(.b, after: 30)
        clock.advance(by: 10)
        XCTAssertEqual(reactor.wait(maxWait: 0), [])
        clock.advance(by: 100)
        XCTAssertEqual(reactor.wait(maxWait: 0), [.timer(.b), .timer(.a)])
        reactor.schedule(.a, after: 1)
        reactor.cancelTimer(.a)
        clock.advance(by: 10)
        XCTAssertEqual(reactor.wait(maxWait: 0), [])
    }

    func testADescriptorIsReportedWithTheReadinessItWaitsFor() throws {
        var fds: [CInt] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer {
            close(fds[0])
            close(fds[1])
        }
        var reactor = Reactor<Token>()
        reactor.register(.pipe, fd: fds[0], interest: .read)
        XCTAssertEqual(reactor.wait(maxWait: 0), [], "nothing to read yet")
        XCTAssertEqual(write(fds[1], "x", 1), 1)
        XCTAssertEqual(reactor.wait(maxWait: 1_000_000), [.ready(.pipe, .read)])
        // An empty interest keeps it registered but unwatched.
        reactor.setInterest(.pipe, [])
        XCTAssertEqual(reactor.wait(maxWait: 0), [])
        reactor.setInterest(.pipe, .read)
        XCTAssertEqual(reactor.wait(maxWait: 0), [.ready(.pipe, .read)])
        reactor.unregister(.pipe)
        XCTAssertEqual(reactor.wait(maxWait: 0), [])
        // The write end of a pipe is writable.
        reactor.register(.b, fd: fds[1], interest: [.read, .write])
        XCTAssertEqual(reactor.wait(maxWait: 0), [.ready(.b, .write)])
    }

    /// The wait ends when the first timer is due, even with descriptors that stay quiet, and
    /// readiness and a due timer come out of the same wait.
    func testTheWaitIsBoundedByTheEarliestTimer() {
        var fds: [CInt] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer {
            close(fds[0])
            close(fds[1])
        }
        var reactor = Reactor<Token>()
        reactor.register(.pipe, fd: fds[0], interest: .read)
        let start = reactor.now
        reactor.schedule(.a, after: 30_000)
        XCTAssertEqual(reactor.wait(), [.timer(.a)])
        let waited = reactor.now - start
        XCTAssertGreaterThanOrEqual(waited, 30_000)
        XCTAssertLessThan(waited, 500_000)
        XCTAssertEqual(write(fds[1], "x", 1), 1)
        reactor.schedule(.b, at: reactor.now)
        XCTAssertEqual(reactor.wait(), [.ready(.pipe, .read), .timer(.b)])
    }

    /// A tolerant timer rides on a wake-up the thread has anyway: it fires at the first wait
    /// after its deadline, and sleeps the thread only until its tolerance runs out.
    func testATolerantTimerFiresWithAnEarlierWakeUpAndWakesOnlyWhenItsToleranceRunsOut() {
        var reactor = Reactor<Token>()
        let start = reactor.now
        reactor.schedule(.a, after: 20_000, tolerance: 200_000)
        reactor.schedule(.b, after: 60_000)
        XCTAssertEqual(reactor.wait(), [.timer(.a), .timer(.b)], "a, due 40 ms before, goes with b's wake-up, in deadline order")
        XCTAssertGreaterThanOrEqual(reactor.now - start, 60_000)
        XCTAssertLessThan(reactor.now - start, 200_000, "the wait ended with b's deadline, not a's tolerance")
        let alone = reactor.now
        reactor.schedule(.a, after: 10_000, tolerance: 40_000)
        XCTAssertEqual(reactor.wait(), [.timer(.a)])
        XCTAssertGreaterThanOrEqual(reactor.now - alone, 50_000, "alone, it waits out its tolerance")
        XCTAssertLessThan(reactor.now - alone, 450_000)
    }
}

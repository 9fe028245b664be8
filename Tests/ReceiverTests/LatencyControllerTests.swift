import Core
import Receiver
import XCTest

/// The delay a speaker asks its host for: grown at once on trouble, shrunk slowly when calm.
final class LatencyControllerTests: XCTestCase {
    private let second: Microseconds = 1_000_000

    func testTroubleGrowsTheDelayByHalfTheFloorAtMostEveryFiveSeconds() {
        var controller = LatencyController(floor: 200_000, ceiling: 1_000_000, now: 0)
        var wanted: [Microseconds] = []
        // A late packet every second from 5 s to 30 s.
        for t in 1...30 {
            if let w = controller.update(trouble: t >= 5 ? 1 : 0, now: Microseconds(t) * second) { wanted.append(w) }
        }
        XCTAssertEqual(wanted, [300_000, 400_000, 500_000, 600_000, 700_000, 800_000])
        XCTAssertEqual(controller.wanted, 800_000)
    }

    func testTheCeilingHolds() {
        var controller = LatencyController(floor: 1_000_000, ceiling: 2_200_000, now: 0)
        for t in 1...60 { _ = controller.update(trouble: 3, now: Microseconds(t) * second) }
        XCTAssertEqual(controller.wanted, 2_200_000)
    }

    func testACalmPathShrinksByAnEighthOfTheFloorAMinuteDownToTheFloor() {
        var controller = LatencyController(floor: 400_000, ceiling: 2_000_000, now: 0)
        for t in [5, 10] { _ = controller.update(trouble: 1, now: Microseconds(t) * second) }
        XCTAssertEqual(controller.wanted, 800_000)
        var changes: [(Int, Microseconds)] = []
        for t in 11...900 {
            if let w = controller.update(trouble: 0, now: Microseconds(t) * second) { changes.append((t, w)) }
        }
        // The first a minute after the last trouble (10 s), then one a minute, down to 400 ms.
        XCTAssertEqual(changes.map(\.0), [70, 130, 190, 250, 310, 370, 430, 490])
        XCTAssertEqual(changes.map(\.1), [750_000, 700_000, 650_000, 600_000, 550_000, 500_000, 450_000, 400_000])
        XCTAssertEqual(controller.wanted, 400_000, "never below the floor")
    }

    func testTroubleWhileShrinkingRestartsTheMinute() {
        var controller = LatencyController(floor: 400_000, ceiling: 2_000_000, now: 0)
        _ = controller.update(trouble: 1, now: 5 * second)
        XCTAssertEqual(controller.wanted, 600_000)
        // Calm until 64 s (shrunk once at 65 s would be next), a late packet at 64 s.
        for t in 6...63 { XCTAssertNil(controller.update(trouble: 0, now: Microseconds(t) * second)) }
        XCTAssertEqual(controller.update(trouble: 1, now: 64 * second), 800_000, "trouble 59 s after the last change: up at once")
        for t in 65...123 { XCTAssertNil(controller.update(trouble: 0, now: Microseconds(t) * second), "\(t) s") }
        XCTAssertEqual(controller.update(trouble: 0, now: 124 * second), 750_000)
    }
}

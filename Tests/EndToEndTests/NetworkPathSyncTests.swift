import Foundation
import XCTest

/// The three rooms with the kitchen and the lounge reaching the host through real-network paths
/// (issue 18): the study stays connected directly, and every room must play with it. The clock
/// exchange must learn the host's clock through re-segmentation, Nagle's algorithm and 10 ± 8 ms
/// of in-order jitter. `MOOSYNC_PATH_SECONDS` sets the length (default 60 s: the figures count
/// from 30 s on); `scripts/bench-network.sh` runs them longer, with Snapcast through the same
/// relays beside them, and holds them to the targets (p99 50 µs re-segmented, 200 µs
/// jittery). The suite's limits are wider, so that a run's luck does not fail it: the estimate's
/// error still varies from run to run in its first minute (DESIGN §6; 60–120 s runs measured p99
/// 38–60 µs re-segmented and 68–317 µs jittery until the twelfth session, 14–22 and 90–96 µs
/// since the receiver asks for immediate ACKs and holds the drift at 0 unless ruled out), but the
/// old exchange was off by milliseconds on both paths, and would fail either limit.
final class NetworkPathSyncTests: XCTestCase {
    static var seconds: Double { Double(ProcessInfo.processInfo.environment["MOOSYNC_PATH_SECONDS"] ?? "") ?? 60 }
    static let settle = 30
    static let relayed: Set<String> = ["kitchen", "lounge"]

    func testRoomsBehindARelayThatReSegmentsTheStreamPlayWithTheDirectOne() throws {
        let run = try MultiRoomSyncTests.playTogether(
            relayed: Self.relayed, path: NetworkPath.reSegmenting, settle: Self.settle,
            seconds: Self.seconds, label: "path re-segmenting")
        assert(run, p99Below: 100)
    }

    func testRoomsBehindTenPlusMinusEightMillisecondsOfJitterPlayWithTheDirectOne() throws {
        let run = try MultiRoomSyncTests.playTogether(
            relayed: Self.relayed, path: NetworkPath.jittery, settle: Self.settle,
            seconds: Self.seconds, label: "path jitter 10±8 ms")
        assert(run, p99Below: 400)
    }

    private func assert(_ run: MultiRoomSyncTests.Run, p99Below limit: Double, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertGreaterThan(Double(run.settled.count), run.seconds - Double(Self.settle) - 5, "clicks heard in every room", file: file, line: line)
        XCTAssertLessThan(run.skewP99, limit, "skew against the direct room", file: file, line: line)
        for (room, refused) in zip(run.rooms, run.refusedFraction) {
            XCTAssertLessThanOrEqual(refused, 0.10, "\(room.name) refused that many clock replies", file: file, line: line)
        }
        XCTAssertEqual(run.resyncsAfterSettling, [0, 0, 0], "no hard resync once settled", file: file, line: line)
    }
}

/// Snapcast through the same paths, for `scripts/bench-network.sh`'s side-by-side lines.
final class SnapcastNetworkPathTests: XCTestCase {
    func testSnapclientsBehindARelayThatReSegmentsTheStream() throws {
        try SnapcastSyncComparisonTests.requireSnapcast()
        _ = try SnapcastSyncComparisonTests.playTogether(
            relayed: NetworkPathSyncTests.relayed, path: NetworkPath.reSegmenting,
            settle: NetworkPathSyncTests.settle, seconds: NetworkPathSyncTests.seconds,
            label: "snapcast path re-segmenting")
    }

    func testSnapclientsBehindTenPlusMinusEightMillisecondsOfJitter() throws {
        try SnapcastSyncComparisonTests.requireSnapcast()
        _ = try SnapcastSyncComparisonTests.playTogether(
            relayed: NetworkPathSyncTests.relayed, path: NetworkPath.jittery,
            settle: NetworkPathSyncTests.settle, seconds: NetworkPathSyncTests.seconds,
            label: "snapcast path jitter 10±8 ms")
    }
}

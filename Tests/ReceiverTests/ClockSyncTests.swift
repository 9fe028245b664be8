import Core
import ProtocolMessages
import TestSupport
import XCTest

@testable import Receiver

/// The requests' bookkeeping on a path whose round trip is longer than their spacing: each reply
/// is matched to its own request, and lying or lost replies are counted, never trusted.
final class ClockSyncTests: XCTestCase {
    private func reply(_ request: TimeRequest, hostOffset: Microseconds = 1_000_000, up: Microseconds, hold: Microseconds = 50) -> TimeResponse {
        let t2 = UInt64(Microseconds(request.t1) + up + hostOffset)
        return TimeResponse(t1: request.t1, t2: t2, t3: t2 + UInt64(hold))
    }

    func testRepliesSlowerThanTheSpacingAreEachMatchedToTheirOwnRequest() throws {
        var sync = ClockSync()
        var now: Microseconds = 10_000_000
        var outstanding: [(TimeRequest, arrives: Microseconds)] = []
        // A 45 ms round trip against a 20 ms burst: two or three requests always in flight.
        while sync.estimator.sampleCount < 20 {
            if now >= sync.nextRequest, let request = sync.request(at: now) { outstanding.append((request, now + 45_000)) }
            for (request, arrives) in outstanding where arrives == now {
                XCTAssertEqual(sync.receive(reply(request, up: 22_500), t4: now), .accepted)
            }
            outstanding.removeAll { $0.arrives <= now }
            now += 500
            XCTAssertLessThan(now, 20_000_000, "the burst ends")
        }
        XCTAssertEqual(sync.estimator.refused, 0)
        // The host held each request 50 µs, which the way down does not include: half of it shows.
        XCTAssertEqual(sync.estimator.mapping.offset, 1_000_000 + 25)
    }

    /// A clock before zero (a time namespace set back, a host that lies) trapped where a time
    /// became an unsigned wire field: the request goes out as its bit pattern, the reply to it
    /// is out of range and refused and counted, and an AUDIO frame stamped beyond Int64 is
    /// refused too; nothing traps.
    func testAClockBeforeZeroIsRefusedAndCountedWithoutATrap() throws {
        var sync = ClockSync()
        let request = try XCTUnwrap(sync.request(at: -5_000_000))
        XCTAssertEqual(request.t1, UInt64(bitPattern: -5_000_000))
        XCTAssertEqual(
            sync.receive(TimeResponse(t1: request.t1, t2: 100, t3: 150), t4: -4_999_000),
            .refused("times out of range (t2 100, t3 150)"))
        XCTAssertEqual(sync.estimator.refused, 1)
        XCTAssertFalse(sync.arrival(sentAt: UInt64.max, t4: 1_000_000))
    }

    func testADuplicateAStrangerAndALateReplyAreRefusedAndALostOneIsCounted() throws {
        var sync = ClockSync()
        let first = try XCTUnwrap(sync.request(at: 1_000_000))
        XCTAssertEqual(sync.receive(reply(first, up: 100), t4: 1_000_200), .accepted)
        XCTAssertEqual(sync.receive(reply(first, up: 100), t4: 1_000_300), .refused("it answers no TIME_REQ in flight (t1 1000000)"))
        XCTAssertEqual(sync.receive(TimeResponse(t1: 123, t2: 5, t3: 6), t4: 1_000_400), .refused("it answers no TIME_REQ in flight (t1 123)"))
        // Never answered: given up after the longest round trip, then its reply is a stranger.
        let lost = try XCTUnwrap(sync.request(at: 2_000_000))
        _ = sync.request(at: 2_600_000)
        XCTAssertEqual(sync.lost, 1)
        XCTAssertEqual(sync.receive(reply(lost, up: 300_000), t4: 2_650_000), .refused("it answers no TIME_REQ in flight (t1 2000000)"))
        XCTAssertEqual(sync.estimator.refused, 3)
        XCTAssertEqual(sync.answered, 1)
    }

    /// A calm path is asked once a second once the estimate has settled; one whose round trip
    /// varies by milliseconds keeps being asked every 20 ms, on time, so that the way up is
    /// sampled as densely as the way down (DESIGN §6).
    func testAJitteryPathKeepsBeingAskedEveryTwentyMilliseconds() {
        for (name, jitter) in [("calm", 0), ("jittery", 16_000)] as [(String, Microseconds)] {
            var sync = ClockSync()
            var random = SplitMix(seed: 11)
            var now: Microseconds = 1_000_000
            var sentTimes: [Microseconds] = []
            while now < 61_000_000 {
                if now >= sync.nextRequest, let request = sync.request(at: now) {
                    sentTimes.append(now)
                    // Answered at once on the local clock: one way 1…(1 + jitter) ms each, drawn.
                    let up = 1_000 + (jitter > 0 ? random.next(jitter) : 0)
                    let down = 1_000 + (jitter > 0 ? random.next(jitter) : 0)
                    XCTAssertNotEqual(sync.receive(reply(request, up: up), t4: now + up + 50 + down), .outlier)
                }
                now += 1_000
            }
            let lastMinuteHalf = sentTimes.filter { $0 >= 31_000_000 }.count
            print("\(name) path: \(lastMinuteHalf) requests from 30 s to 60 s")
            if jitter == 0 {
                XCTAssertLessThanOrEqual(lastMinuteHalf, 31, "\(name): once a second")
                XCTAssertTrue(sync.settled, "\(name): its requests ride the reactor's batched wake-ups")
            } else {
                XCTAssertGreaterThanOrEqual(lastMinuteHalf, 1_400, "\(name): every 20 ms")
                XCTAssertFalse(sync.settled, "\(name): each request keeps a wake-up of its own, or they come 27 a second")
            }
        }
    }

    func testAFrozenPathIsNotFlooded() {
        var sync = ClockSync()
        var sent = 0
        var now: Microseconds = 0
        while now < 3_000_000 {
            if now >= sync.nextRequest, sync.request(at: now) != nil { sent += 1 }
            now += 1_000
        }
        XCTAssertLessThanOrEqual(sent, ClockSync.maxInFlight + Int(3_000_000 / ClockSync.lostInterval), "a window's worth, then four a second")
        XCTAssertGreaterThan(sync.lost, 0)
    }
}

import Core
import XCTest

/// A host whose clock runs `ppm` fast and `offset` ahead, and a network whose one-way delays
/// the test chooses per exchange.
private struct SimulatedHost {
    var offset: Microseconds
    var ppm: Double

    func clock(at local: Microseconds) -> Microseconds {
        local + offset + Microseconds((Double(local) * ppm / 1e6).rounded())
    }

    /// One exchange starting at local time `t1`.
    func exchange(at t1: Microseconds, up: Microseconds, hold: Microseconds = 20, down: Microseconds) -> (Microseconds, Microseconds, Microseconds, Microseconds) {
        let t2 = clock(at: t1 + up)
        let t3 = t2 + hold
        let t4 = t1 + up + hold + down
        return (t1, t2, t3, t4)
    }
}

final class ClockEstimatorTests: XCTestCase {
    func testConstantOffsetWithSymmetricDelaysIsExact() {
        let host = SimulatedHost(offset: 300_000_000, ppm: 0)
        var estimator = ClockEstimator()
        for i in 0..<10 {
            let (t1, t2, t3, t4) = host.exchange(at: 1_000_000 + Microseconds(i) * 100_000, up: 150, down: 150)
            XCTAssertEqual(estimator.add(t1: t1, t2: t2, t3: t3, t4: t4), .accepted)
        }
        XCTAssertEqual(estimator.host(fromLocal: 5_000_000), 305_000_000)
        XCTAssertEqual(estimator.mapping.drift, 0, accuracy: 1e-9)
        XCTAssertEqual(estimator.errorBound, 150, accuracy: 1, "half the round trip: what an asymmetry could hide")
    }

    func testDriftIsFittedFromTheLowestRoundTrips() {
        // +150 ppm, and every other exchange queued 2 ms on the way up only (asymmetric).
        let host = SimulatedHost(offset: -42_000_000, ppm: 150)
        var estimator = ClockEstimator()
        for i in 0..<60 {
            let queued: Microseconds = i % 2 == 0 ? 0 : 2_000
            let (t1, t2, t3, t4) = host.exchange(at: 10_000_000 + Microseconds(i) * 200_000, up: 200 + queued, down: 200)
            _ = estimator.add(t1: t1, t2: t2, t3: t3, t4: t4)
        }
        XCTAssertEqual(estimator.mapping.drift * 1e6, 150, accuracy: 2)
        let later: Microseconds = 23_000_000
        XCTAssertEqual(Double(estimator.host(fromLocal: later)), Double(host.clock(at: later)), accuracy: 20)
        XCTAssertEqual(Double(estimator.local(fromHost: host.clock(at: later))), Double(later), accuracy: 20)
        XCTAssertEqual(estimator.errorBound, 200, accuracy: 20)
    }

    func testTheSecondExchangeOutweighsAHandshakeQueuedBehindTheBacklog() {
        // The handshake's reply waited 560 µs behind the backlog on its way down; the first
        // TIME_RESP did not. The card starts on this estimate (it was 140 µs off: played late).
        let host = SimulatedHost(offset: 7_000_000, ppm: 0)
        var estimator = ClockEstimator()
        let (h1, h2, h3, h4) = host.exchange(at: 1_000_000, up: 25, down: 25 + 560)
        XCTAssertEqual(estimator.add(t1: h1, t2: h2, t3: h3, t4: h4), .accepted)
        XCTAssertEqual(Double(estimator.mapping.offset), 7_000_000 - 280, accuracy: 1)
        let (t1, t2, t3, t4) = host.exchange(at: 1_010_000, up: 25, down: 25)
        XCTAssertEqual(estimator.add(t1: t1, t2: t2, t3: t3, t4: t4), .accepted)
        XCTAssertEqual(Double(estimator.host(fromLocal: 1_020_000)), Double(host.clock(at: 1_020_000)), accuracy: 1)
    }

    func testImpossibleTimesAreRefusedAndCountedNotTrusted() {
        let host = SimulatedHost(offset: 1_000_000, ppm: 0)
        var estimator = ClockEstimator()
        let (t1, t2, t3, t4) = host.exchange(at: 0, up: 100, down: 100)
        XCTAssertEqual(estimator.add(t1: t1, t2: t2, t3: t3, t4: t4), .accepted)
        let before = estimator.host(fromLocal: 1_000)
        XCTAssertEqual(estimator.add(t1: 100, t2: 5_000, t3: 4_000, t4: 400), .refused("host sent its reply before receiving the request (t3 < t2)"))
        XCTAssertEqual(estimator.add(t1: 500, t2: 1_000_600, t3: 1_000_700, t4: 400), .refused("reply arrived before the request was sent"))
        XCTAssertEqual(estimator.add(t1: 1_000, t2: 1_001_000, t3: 1_001_100, t4: 180_000_000), .refused("round trip of 179998 ms"))
        XCTAssertEqual(estimator.add(t1: 1_000, t2: 1_001_000, t3: 3_001_000, t4: 2_000), .refused("host held the request longer than the round trip took"))
        // A hostile host's times near Int64's ends: refused before any arithmetic (it trapped).
        XCTAssertEqual(estimator.add(t1: 1_000, t2: .max, t3: .max, t4: 2_000), .refused("times out of range (1000, 9223372036854775807, 9223372036854775807, 2000)"))
        XCTAssertEqual(estimator.add(t1: 1_000, t2: .min, t3: 0, t4: 2_000), .refused("times out of range (1000, -9223372036854775808, 0, 2000)"))
        XCTAssertEqual(estimator.refused, 6)
        XCTAssertEqual(estimator.host(fromLocal: 1_000), before)
    }

    func testALoneSpikeIsAnOutlierNotAStep() {
        let host = SimulatedHost(offset: 0, ppm: 0)
        var estimator = ClockEstimator()
        for i in 0..<10 {
            let (t1, t2, t3, t4) = host.exchange(at: Microseconds(i) * 100_000, up: 100, down: 100)
            _ = estimator.add(t1: t1, t2: t2, t3: t3, t4: t4)
        }
        // The host's reply timestamps are 50 ms off once (a bug or a glitch), round trip normal.
        let (t1, t2, t3, t4) = host.exchange(at: 1_000_000, up: 100, down: 100)
        XCTAssertEqual(estimator.add(t1: t1, t2: t2 + 50_000, t3: t3 + 50_000, t4: t4), .outlier)
        let (u1, u2, u3, u4) = host.exchange(at: 1_100_000, up: 100, down: 100)
        XCTAssertEqual(estimator.add(t1: u1, t2: u2, t3: u3, t4: u4), .accepted)
        XCTAssertEqual(estimator.host(fromLocal: 2_000_000), 2_000_000)
        XCTAssertEqual(estimator.steps, 0)
        XCTAssertEqual(estimator.outliers, 1)
    }

    func testMappingInvertsExactly() {
        let mapping = ClockMapping(reference: 5_000_000, offset: 123_456, drift: -250e-6)
        for local: Microseconds in [0, 5_000_000, 99_000_000] {
            XCTAssertEqual(mapping.local(fromHost: mapping.host(fromLocal: local)), local)
        }
        // The seed's formula: host 1000 µs ahead, 10 µs each way.
        var estimator = ClockEstimator()
        _ = estimator.add(t1: 0, t2: 1010, t3: 1015, t4: 25)
        XCTAssertEqual(estimator.mapping.offset, 1000)
        XCTAssertEqual(estimator.local(fromHost: 5000), 4000)
    }

    func testAHostClockStepIsAcceptedOnceConfirmed() {
        var host = SimulatedHost(offset: 0, ppm: 0)
        var estimator = ClockEstimator()
        for i in 0..<10 {
            let (t1, t2, t3, t4) = host.exchange(at: Microseconds(i) * 100_000, up: 100, down: 100)
            _ = estimator.add(t1: t1, t2: t2, t3: t3, t4: t4)
        }
        host.offset = 10_000_000
        var verdicts: [ClockEstimator.Verdict] = []
        for i in 10..<14 {
            let (t1, t2, t3, t4) = host.exchange(at: Microseconds(i) * 100_000, up: 100, down: 100)
            verdicts.append(estimator.add(t1: t1, t2: t2, t3: t3, t4: t4))
        }
        XCTAssertEqual(verdicts, [.outlier, .outlier, .stepped(by: 10_000_000), .accepted])
        XCTAssertEqual(estimator.host(fromLocal: 2_000_000), 12_000_000)
        XCTAssertEqual(estimator.steps, 1)
    }

    /// A busy Wi-Fi hop: each direction 2…18 ms, drawn independently (10 ± 8 ms), the host's
    /// crystal 80 ppm fast. Exchanges whose round trip is lowest still have one direction up to
    /// 16 ms slower than the other; the two envelopes do not care which exchange their lowest
    /// samples came from. (Ten a second into 512 single-exchange bins, the old schedule, was
    /// off by up to 190 µs here.)
    func testJitterOfEightMillisecondsEachWayAveragesOutInThirtySeconds() {
        // As the receiver asks on a jittery path: fifty a second for 25 s, then four.
        let host = SimulatedHost(offset: 3_000_000_000, ppm: 80)
        var estimator = ClockEstimator()
        var random = SplitMix(seed: 7)
        var errors: [Double] = []
        var t1: Microseconds = 1_000_000
        while t1 < 61_000_000 {
            let (a, b, c, d) = host.exchange(at: t1, up: 2_000 + random.next(16_000), down: 2_000 + random.next(16_000))
            XCTAssertNotEqual(estimator.add(t1: a, t2: b, t3: c, t4: d), .stepped(by: 0))
            if t1 >= 31_000_000 { errors.append(Double(estimator.host(fromLocal: d) - host.clock(at: d))) }
            t1 += t1 < 26_000_000 ? 20_000 : 250_000
        }
        let worst = errors.map(abs).max()!
        print("jitter ±8 ms: estimate off by at most \(Int(worst)) µs from 30 s to 60 s, drift \(estimator.mapping.drift * 1e6) ppm, bound ±\(estimator.errorBound) µs")
        XCTAssertLessThan(worst, 100)
        XCTAssertEqual(estimator.mapping.drift * 1e6, 80, accuracy: 5)
        // The bound is honest: the path's floors are 2 ms each way.
        XCTAssertEqual(Double(estimator.errorBound), 2_000, accuracy: 100)
        XCTAssertEqual(estimator.steps, 0)
    }

    /// A middlebox with Nagle's algorithm holds one reply in three for a delayed ACK (40 ms),
    /// always on the way down: the midpoints of those exchanges are 20 ms off, the envelopes not.
    func testRepliesHeldOnOneWayOnlyDoNotBiasTheOffset() {
        let host = SimulatedHost(offset: -5_000_000, ppm: -30)
        var estimator = ClockEstimator()
        var random = SplitMix(seed: 3)
        for i in 0..<120 {
            let held: Microseconds = i % 3 == 0 ? 40_000 : random.next(300)
            let (a, b, c, d) = host.exchange(at: 2_000_000 + Microseconds(i) * 100_000, up: 60 + random.next(40), down: 60 + held)
            _ = estimator.add(t1: a, t2: b, t3: c, t4: d)
        }
        let later: Microseconds = 14_100_000
        XCTAssertEqual(Double(estimator.host(fromLocal: later)), Double(host.clock(at: later)), accuracy: 30)
        XCTAssertEqual(estimator.outliers, 0, "a held reply is explained by its round trip")
    }

    /// The round trip the receiver reports: smoothed, with its deviation.
    func testRoundTripAndItsJitterAreMeasured() {
        let host = SimulatedHost(offset: 0, ppm: 0)
        var estimator = ClockEstimator()
        for i in 0..<100 {
            let extra: Microseconds = i % 2 == 0 ? 0 : 4_000
            let (a, b, c, d) = host.exchange(at: Microseconds(i) * 100_000, up: 5_000 + extra, hold: 0, down: 5_000)
            _ = estimator.add(t1: a, t2: b, t3: c, t4: d)
        }
        XCTAssertEqual(Double(estimator.roundTrip), 12_000, accuracy: 1_000)
        XCTAssertEqual(Double(estimator.roundTripJitter), 2_000, accuracy: 500)
    }
}

/// Reproducible pseudo-random delays.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    /// 0..<bound.
    mutating func next(_ bound: Microseconds) -> Microseconds {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Microseconds((z ^ (z >> 31)) % UInt64(bound))
    }
}

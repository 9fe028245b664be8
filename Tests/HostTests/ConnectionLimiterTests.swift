import XCTest

@testable import Host

final class ConnectionLimiterTests: XCTestCase {
    func testFailedAttemptsBackOffExponentiallyAndASuccessForgivesThem() {
        var limiter = ConnectionLimiter()
        let kitchen = "10.0.0.5"
        XCTAssertEqual(limiter.connection(from: kitchen, now: 0), .admit)
        XCTAssertEqual(limiter.failed(kitchen, now: 100), 1_000_000)
        guard case .refuse(let until, let why?) = limiter.connection(from: kitchen, now: 500_000) else { return XCTFail("refused while it waits") }
        XCTAssertEqual(until, 1_000_100)
        XCTAssertEqual(why, "refusing connections from 10.0.0.5 for 500100us after 1 failed attempt")
        XCTAssertEqual(limiter.connection(from: kitchen, now: 600_000), .refuse(until: 1_000_100, why: nil), "logged once per block")
        XCTAssertEqual(limiter.connection(from: "10.0.0.6", now: 600_000), .admit, "another address is not held back")
        XCTAssertEqual(limiter.connection(from: kitchen, now: 1_000_100), .admit)
        XCTAssertEqual(limiter.failed(kitchen, now: 1_100_000), 2_000_000)
        XCTAssertEqual(limiter.failed(kitchen, now: 3_200_000), 4_000_000)
        for _ in 0..<20 { limiter.failed(kitchen, now: 4_000_000) }
        XCTAssertEqual(limiter.failed(kitchen, now: 5_000_000), ConnectionLimiter.longestPenalty, "at most 5 minutes")
        limiter.succeeded(kitchen)
        XCTAssertEqual(limiter.connection(from: kitchen, now: 5_000_001), .admit)
        XCTAssertEqual(limiter.failed(kitchen, now: 5_000_002), 1_000_000, "counting starts over")
    }

    func testABurstOfConnectionsIsRefusedForTheRestOfItsWindow() {
        var limiter = ConnectionLimiter()
        for i in 0..<ConnectionLimiter.burstLimit {
            XCTAssertEqual(limiter.connection(from: "::1", now: Int64(i) * 1_000), .admit)
        }
        XCTAssertEqual(
            limiter.connection(from: "::1", now: 20_000),
            .refuse(until: 10_000_000, why: "refusing connections from ::1 for 9980ms: more than 10 new connections within 10s"))
        XCTAssertEqual(limiter.connection(from: "::1", now: 9_999_999), .refuse(until: 10_000_000, why: nil))
        XCTAssertEqual(limiter.connection(from: "::1", now: 10_000_000), .admit, "a new window")
    }

    func testTheSourceIsTheAddressWithoutItsPort() {
        XCTAssertEqual(ConnectionLimiter.source(of: "[::ffff:127.0.0.1]:53036"), "::ffff:127.0.0.1")
        XCTAssertEqual(ConnectionLimiter.source(of: "192.168.1.20:8080"), "192.168.1.20")
    }
}

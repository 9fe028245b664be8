import Core
import XCTest

@testable import Receiver

/// When the control loop reads what the host sent: batched while a packet has time to wait in
/// the socket, at once when a batch would be shorter than a packet.
final class ReadScheduleTests: XCTestCase {
    func testPacketsWaitInTheSocketForHalfTheNetworkShareOfTheBuffer() {
        // 1 s: a 400 ms device buffer, 600 ms for the network, half of it capped at 250 ms.
        XCTAssertEqual(AlsaOutput.readInterval(latency: 1_000_000, frameDuration: 20_000), 250_000)
        // 200 ms: 100 ms in the device, 50 ms batches of 20 ms packets.
        XCTAssertEqual(AlsaOutput.readInterval(latency: 200_000, frameDuration: 20_000), 50_000)
        // 30 ms of 2.5 ms packets: 5 ms batches still carry two packets each.
        XCTAssertEqual(AlsaOutput.readInterval(latency: 30_000, frameDuration: 2_500), 5_000)
    }

    func testABatchShorterThanAPacketReadsEachAsItArrives() {
        // 30 ms of 10 ms packets: 5 ms batches would wake twice a packet and spend half of
        // the 10 ms a late packet is allowed.
        XCTAssertNil(AlsaOutput.readInterval(latency: 30_000, frameDuration: 10_000))
        XCTAssertNil(AlsaOutput.readInterval(latency: 60_000, frameDuration: 20_000))
        // A buffer no larger than the device's leaves the network nothing to batch in.
        XCTAssertNil(AlsaOutput.readInterval(latency: 20_000, frameDuration: 2_500))
    }
}

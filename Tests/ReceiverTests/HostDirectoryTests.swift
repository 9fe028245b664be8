import Discovery
import ProtocolMessages
import Receiver
import XCTest

final class HostDirectoryTests: XCTestCase {
    private func service(_ name: String, id: String, deviceName: String? = nil, address: String = "192.168.1.20", port: UInt16 = 8080) -> DiscoveredService {
        var ad = ServiceAdvertisement()
        ad.deviceID = id
        ad.deviceName = deviceName ?? name
        ad.port = port
        return DiscoveredService(name: name, address: address, port: port, txt: ad.txtRecords)
    }

    private func names(_ choice: HostDirectory.Choice) -> [String] {
        switch choice {
        case .host(let h): return [h.service.name]
        case .several(let hosts): return hosts.map(\.service.name)
        case .none: return []
        }
    }

    func testTheOnlyHostIsPickedAndSeveralAreNamedNotGuessed() {
        var directory = HostDirectory()
        XCTAssertEqual(directory.choose(id: nil, name: nil), .none)
        XCTAssertTrue(directory.apply(.found(service("Lounge", id: "a"))))
        XCTAssertEqual(names(directory.choose(id: nil, name: nil)), ["Lounge"])
        directory.apply(.found(service("Study", id: "b", address: "192.168.1.21")))
        XCTAssertEqual(directory.choose(id: nil, name: nil), .several(directory.sorted))
        XCTAssertEqual(names(directory.choose(id: "b", name: nil)), ["Study"])
        XCTAssertEqual(names(directory.choose(id: nil, name: "Lounge")), ["Lounge"])
        XCTAssertEqual(directory.choose(id: "c", name: nil), .none)
        XCTAssertTrue(directory.apply(.lost(name: "Study")))
        XCTAssertEqual(names(directory.choose(id: nil, name: nil)), ["Lounge"])
    }

    func testANameMatchesTheDeviceNameSoARenamedTwinIsStillATwin() {
        var directory = HostDirectory()
        directory.apply(.found(service("Twin", id: "a")))
        directory.apply(.found(service("Twin #2", id: "b", deviceName: "Twin", address: "192.168.1.21")))
        XCTAssertEqual(names(directory.choose(id: nil, name: "Twin")), ["Twin", "Twin #2"])
        XCTAssertEqual(names(directory.choose(id: "b", name: nil)), ["Twin #2"])
        XCTAssertEqual(names(directory.choose(id: nil, name: "Twin #2")), ["Twin #2"], "the mDNS name picks too")
    }

    func testTXTRecordsThatAreNoAdvertisementNeverFit() {
        var directory = HostDirectory()
        directory.apply(.found(DiscoveredService(name: "Printer", address: "192.168.1.9", port: 631, txt: ["port=99999"])))
        XCTAssertEqual(directory.choose(id: nil, name: nil), .none)
        XCTAssertEqual(directory.sorted.first?.problem, "the advertised port 99999 is not a TCP port")
        XCTAssertTrue(directory.sorted.first?.summary.contains("not a Moosync advertisement") ?? false)
    }

    func testAnIPv6SightingDoesNotReplaceIPv4ButAMoveDoes() {
        var directory = HostDirectory()
        directory.apply(.found(service("Lounge", id: "a")))
        XCTAssertFalse(directory.apply(.found(service("Lounge", id: "a", address: "fe80::1%2"))))
        XCTAssertEqual(directory.hosts["Lounge"]?.endpoint, "192.168.1.20:8080")
        XCTAssertTrue(directory.apply(.found(service("Lounge", id: "a", address: "192.168.1.30", port: 9000))))
        XCTAssertEqual(directory.hosts["Lounge"]?.endpoint, "192.168.1.30:9000")
        XCTAssertTrue(directory.apply(.found(service("Lounge", id: "a", address: "fe80::1%2", port: 9001))))
        XCTAssertEqual(directory.hosts["Lounge"]?.endpoint, "[fe80::1%2]:9001")
        XCTAssertTrue(directory.apply(.waitingForDaemon("gone")), "what the daemon knew went with it")
        XCTAssertTrue(directory.hosts.isEmpty)
    }
}

import Discovery
import ProtocolMessages
import Receiver
import Secure
import XCTest

final class HostDirectoryTests: XCTestCase {
    private func service(
        _ name: String, id: String, deviceName: String? = nil, address: String = "192.168.1.20", port: UInt16 = 8080,
        interface: Int32 = 2, fingerprint: Fingerprint? = nil
    ) -> DiscoveredService {
        var ad = ServiceAdvertisement()
        ad.deviceID = id
        ad.fingerprint = fingerprint?.description ?? ""
        ad.deviceName = deviceName ?? name
        ad.port = port
        return DiscoveredService(
            Sighting(name: name, interface: interface, proto: address.contains(":") ? 1 : 0), address: address, port: port, txt: ad.txtRecords)
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
        XCTAssertTrue(directory.apply(.lost(Sighting(name: "Study", interface: 2, proto: 0))))
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
        directory.apply(.found(DiscoveredService(Sighting(name: "Printer"), address: "192.168.1.9", port: 631, txt: ["port=99999"])))
        XCTAssertEqual(directory.choose(id: nil, name: nil), .none)
        XCTAssertEqual(directory.sorted.first?.problem, "the advertised port 99999 is not a TCP port")
        XCTAssertTrue(directory.sorted.first?.summary.contains("not a Moosync advertisement") ?? false)
    }

    func testEverySightingIsAPlaceToConnectIPv4FirstAndOneGoneLeavesTheOthers() {
        var directory = HostDirectory()
        directory.apply(.found(service("Lounge", id: "a", address: "fe80::1%2")))
        directory.apply(.found(service("Lounge", id: "a")))
        directory.apply(.found(service("Lounge", id: "a", address: "10.0.0.5", interface: 3)))
        XCTAssertEqual(directory.hosts["Lounge"]?.endpoints.map(\.description), ["192.168.1.20:8080", "10.0.0.5:8080", "[fe80::1%2]:8080"])
        XCTAssertTrue(directory.apply(.lost(Sighting(name: "Lounge", interface: 2, proto: 0))))
        XCTAssertEqual(directory.hosts["Lounge"]?.endpoints.map(\.description), ["10.0.0.5:8080", "[fe80::1%2]:8080"])
        XCTAssertTrue(directory.apply(.found(service("Lounge", id: "a", address: "10.0.0.5", port: 9000, interface: 3))), "moved to another port")
        XCTAssertEqual(directory.hosts["Lounge"]?.endpoint, "10.0.0.5:9000")
        XCTAssertTrue(directory.apply(.waitingForDaemon("gone")), "what the daemon knew went with it")
        XCTAssertTrue(directory.hosts.isEmpty)
    }

    func testTheHostPlayedLastIsKeptWhenAnotherAppearsAndOneIDUnderTwoNamesIsOneHost() {
        var directory = HostDirectory()
        directory.apply(.found(service("Lounge", id: "a")))
        directory.apply(.found(service("Study", id: "b", address: "192.168.1.21")))
        XCTAssertEqual(names(directory.choose(id: nil, name: nil, playing: "b")), ["Study"])
        XCTAssertEqual(names(directory.choose(id: nil, name: nil, playing: "gone")), ["Lounge", "Study"])
        directory.apply(.found(service("Study #2", id: "b", deviceName: "Study", address: "192.168.1.21", port: 8081)))
        XCTAssertEqual(names(directory.choose(id: "b", name: nil)), ["Study"])
    }

    /// mDNS is not authenticated: someone on the network advertises the kitchen's device_id
    /// under a name that sorts first, with a key of its own. Without a pin the two are one host
    /// and the first name is dialled; with the kitchen's key pinned, the impostor's
    /// advertisement does not count, whatever its name, and the real one is chosen.
    func testAnAdvertisementOfAPinnedDeviceIDWithAnotherKeyDoesNotCount() {
        let real = Fingerprint(bytes: [UInt8](repeating: 0x11, count: 32))!
        let impostor = Fingerprint(bytes: [UInt8](repeating: 0x22, count: 32))!
        var directory = HostDirectory()
        directory.apply(.found(service("Kitchen", id: "k", fingerprint: real)))
        directory.apply(.found(service("AAA Kitchen", id: "k", deviceName: "Kitchen", address: "192.168.1.66", fingerprint: impostor)))
        XCTAssertEqual(names(directory.choose(id: "k", name: nil)), ["AAA Kitchen"], "unpinned, the first name")
        let pinned = { (id: String) in id == "k" ? real : nil }
        XCTAssertEqual(names(directory.choose(id: "k", name: nil, pinned: pinned)), ["Kitchen"])
        XCTAssertEqual(names(directory.choose(id: nil, name: nil, pinned: pinned)), ["Kitchen"])
        directory.apply(.lost(Sighting(name: "Kitchen", interface: 2, proto: 0)))
        XCTAssertEqual(names(directory.choose(id: "k", name: nil, pinned: pinned)), [], "only the impostor is left: nothing to dial")
        XCTAssertFalse(directory.hosts["AAA Kitchen"]!.advertisesPinnedKey(pinned))
    }
}

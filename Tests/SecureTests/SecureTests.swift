#if canImport(Glibc)
import Glibc
#endif
import Core
import Foundation
import Secure
import Transport
import XCTest

private func temporaryDirectory(_ name: String) -> String {
    let path = NSTemporaryDirectory() + "moosync-secure-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A listener on a free loopback port.
private func boundListener() throws -> TCPListener {
    var lastError: TransportError?
    for _ in 0..<50 {
        do { return try TCPListener(port: UInt16.random(in: 20_000...60_000)) } catch { lastError = error }
    }
    throw lastError!
}

final class TLSIdentityTests: XCTestCase {
    func testAnIdentityIsMadeOnceKeptPrivateAndReadBackTheSame() throws {
        let directory = temporaryDirectory("identity")
        let made = try TLSIdentity(directory: directory, name: "host", commonName: "Kitchen, upstairs")
        var info = stat()
        XCTAssertEqual(stat(directory + "/host.key", &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600, "the private key is readable by its owner only")
        XCTAssertEqual(try TLSIdentity(directory: directory, name: "host", commonName: "ignored").fingerprint, made.fingerprint)
        // The fingerprint is what openssl computes for the certificate on disk.
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = ["x509", "-in", directory + "/host.crt", "-noout", "-fingerprint", "-sha256"]
        let pipe = Pipe()
        openssl.standardOutput = pipe
        try openssl.run()
        openssl.waitUntilExit()
        let printed = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(printed.split(separator: "=").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() }, made.fingerprint.description)
    }

    func testAHalfIdentityIsNamedNotReplaced() throws {
        let directory = temporaryDirectory("half")
        _ = try TLSIdentity(directory: directory, name: "receiver", commonName: "speaker")
        try FileManager.default.removeItem(atPath: directory + "/receiver.crt")
        XCTAssertThrowsError(try TLSIdentity(directory: directory, name: "receiver", commonName: "speaker")) { error in
            XCTAssertEqual((error as? IdentityError)?.description,
                           "\(directory)/receiver.key is there but \(directory)/receiver.crt is not; restore it, or remove both to make a new identity (peers that pinned the old one will refuse the new)")
        }
        XCTAssertThrowsError(try TLSIdentity(directory: "/proc/no-such-dir", name: "host", commonName: "x")) { error in
            XCTAssertEqual((error as? IdentityError)?.description.hasPrefix("cannot write /proc/no-such-dir"), true, "\(error)")
        }
    }
}

/// A host end and a receiver end of real TLS over loopback TCP, each driven like a reactor
/// drives it: call again on `wouldBlock`.
private final class Pair {
    let host: TLSIdentity
    let receiver: TLSIdentity
    let listener: TCPListener
    let client: TLSChannel
    var server: TLSChannel?
    private let serverTransport: TLSTransport
    var hostSeenByReceiver: Fingerprint?

    init(_ name: String) throws {
        let directory = temporaryDirectory(name)
        host = try TLSIdentity(directory: directory, name: "host", commonName: "host")
        receiver = try TLSIdentity(directory: directory, name: "receiver", commonName: "receiver")
        listener = try boundListener()
        serverTransport = TLSTransport(configuration: try TLSConfiguration(role: .server, identity: host))
        var seen: Fingerprint?
        let clientTransport = TLSTransport(configuration: try TLSConfiguration(role: .client, identity: receiver)) { channel in
            seen = channel.peerFingerprint
            return nil
        }
        let address = try SocketAddress.resolve(host: "127.0.0.1", port: listener.port).get()[0]
        client = try XCTUnwrap(try clientTransport.connect(to: address).get() as? TLSChannel)
        let deadline = SystemClock().now() + 5_000_000
        var clientDone = false, serverDone = false
        while !(clientDone && serverDone) && SystemClock().now() < deadline {
            if server == nil { server = serverTransport.accept(from: listener) as? TLSChannel }
            if !clientDone, case let progress = client.handshake() {
                if case .failed(let e) = progress { throw e }
                clientDone = progress == .done
            }
            if let server, !serverDone, case let progress = server.handshake() {
                if case .failed(let e) = progress { throw e }
                serverDone = progress == .done
            }
            usleep(200)
        }
        XCTAssertTrue(clientDone && serverDone, "handshake within 5 s")
        hostSeenByReceiver = seen
    }
}


final class TLSChannelTests: XCTestCase {
    func testTheHandshakeAgreesOnTheNewestProtocolAndAnAEADSuiteAndCarriesBytesBothWays() throws {
        let pair = try Pair("handshake")
        let server = try XCTUnwrap(pair.server)
        let negotiated = try XCTUnwrap(pair.client.negotiated)
        print("TLS negotiated: \(negotiated) (mbedTLS \(TLSLibrary.version))")
        XCTAssertEqual(server.negotiated, negotiated)
        XCTAssertTrue(negotiated.hasPrefix(TLSLibrary.bestProtocol == "1.3" ? "TLSv1.3 " : "TLSv1.2 "), negotiated)
        XCTAssertTrue(negotiated.contains("GCM") || negotiated.contains("CHACHA20-POLY1305"), "an AEAD suite: \(negotiated)")
        if negotiated.hasPrefix("TLSv1.2") { XCTAssertTrue(negotiated.contains("ECDHE-ECDSA"), negotiated) }
        XCTAssertEqual(pair.hostSeenByReceiver, pair.host.fingerprint)
        XCTAssertEqual(server.peerFingerprint, pair.receiver.fingerprint, "the receiver presents its own certificate")

        // A megabyte one way while the other end reads: writes that the socket takes in part.
        let payload = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }
        var sent = 0
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        let deadline = SystemClock().now() + 10_000_000
        while received.count < payload.count && SystemClock().now() < deadline {
            if sent < payload.count, case .bytes(let n) = payload.withUnsafeBytes({ pair.client.write(UnsafeRawBufferPointer(rebasing: $0[sent...])) }) {
                sent += n
            }
            if case .bytes(let n) = buffer.withUnsafeMutableBytes({ server.read(into: $0) }) { received += buffer[0..<n] }
        }
        XCTAssertEqual(received.count, payload.count)
        XCTAssertTrue(received == payload, "the bytes arrive as sent")

        // And the close arrives as the end of the stream.
        pair.client.close()
        var end: IOResult = .wouldBlock(.read)
        while case .wouldBlock = end, SystemClock().now() < deadline {
            end = buffer.withUnsafeMutableBytes { server.read(into: $0) }
        }
        XCTAssertEqual(end, .endOfStream)
    }

    func testAPeerThatDoesNotSpeakTLSIsToldSo() throws {
        let listener = try boundListener()
        let directory = temporaryDirectory("plaintext")
        let transport = TLSTransport(configuration: try TLSConfiguration(role: .client, identity: try TLSIdentity(directory: directory, name: "receiver", commonName: "r")))
        let client = try transport.connect(to: try SocketAddress.resolve(host: "127.0.0.1", port: listener.port).get()[0]).get()
        var plaintext: TCPChannel?
        var outcome = HandshakeProgress.wouldBlock(.write)
        let deadline = SystemClock().now() + 5_000_000
        while case .wouldBlock = outcome, SystemClock().now() < deadline {
            if plaintext == nil, let accepted = listener.accept() {
                plaintext = accepted
                // What a host with "encryption": "none" answers with: frames, not TLS records.
                _ = Array("\u{0}\u{0}\u{0}\u{30}{\"type\":\"reject\"}".utf8).withUnsafeBytes { accepted.write($0) }
            }
            outcome = client.handshake()
            usleep(500)
        }
        guard case .failed(let error) = outcome else { return XCTFail("expected a failed handshake, got \(outcome)") }
        XCTAssertTrue(error.description.contains("does not speak TLS") || error.description.contains("closed the connection"), error.description)
        XCTAssertTrue(error.description.contains("same encryption setting"), error.description)
    }
}

final class HostPinsTests: XCTestCase {
    private let first = Fingerprint(bytes: [UInt8](repeating: 0xab, count: 32))!
    private let second = Fingerprint(bytes: [UInt8](repeating: 0x01, count: 32))!

    func testTheFirstCertificateIsPinnedAndAnotherRefusedWithWhatToDo() {
        let directory = temporaryDirectory("pins")
        let pins = HostPins(directory: directory, configured: nil)
        XCTAssertEqual(pins.check(host: "10.0.0.2:8080", presented: first), .pinned)
        XCTAssertEqual(pins.check(host: "10.0.0.2:8080", presented: first), .known)
        XCTAssertEqual(pins.check(host: "10.0.0.3:8080", presented: second), .pinned, "another host has its own pin")
        guard case .refused(let why) = pins.check(host: "10.0.0.2:8080", presented: second) else { return XCTFail("a changed key must be refused") }
        XCTAssertTrue(why.contains("presented a different certificate (\(second))"), why)
        XCTAssertTrue(why.contains("delete the line for 10.0.0.2:8080 from that file"), why)
        XCTAssertTrue(why.contains("mshost --fingerprint"), why)
        XCTAssertEqual(pins.check(host: "10.0.0.2:8080", presented: nil), .refused("host 10.0.0.2:8080 presented no certificate"))
        // Pins outlive the process: a new reader of the same directory knows both hosts.
        XCTAssertEqual(HostPins(directory: directory, configured: nil).check(host: "10.0.0.3:8080", presented: second), .known)
    }

    func testAConfiguredFingerprintIsTheOnlyOneAccepted() throws {
        let pins = HostPins(directory: temporaryDirectory("configured"), configured: Fingerprint(hex: first.description.uppercased()))
        XCTAssertEqual(pins.check(host: "h:1", presented: first), .known)
        guard case .refused(let why) = pins.check(host: "h:1", presented: second) else { return XCTFail("only the configured one") }
        XCTAssertTrue(why.contains("not the one receiving.host_fingerprint names"), why)
        XCTAssertNil(Fingerprint(hex: "abc"))
    }
}

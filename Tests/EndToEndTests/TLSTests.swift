import Foundation
import Secure
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// TLS on every connection (issue 11): what the daemons agree on, what an outside client can and
/// cannot get from mshost, and what a receiver does when the host's key is not the one it knows.
final class TLSTests: XCTestCase {
    /// `openssl s_client` against mshost with `arguments`: whether the handshake completed, and
    /// what it printed.
    private func sClient(port: UInt16, _ arguments: [String]) throws -> (connected: Bool, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["s_client", "-connect", "127.0.0.1:\(port)", "-brief"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus == 0 && output.contains("CONNECTION ESTABLISHED"), output)
    }

    func testOpenSSLGetsOnlyModernTLSFromTheHost() throws {
        let scratch = try Scratch("tls-openssl")
        let port = freePort()
        let host = try Daemon("mshost", config: try scratch.write("host.json", Configs.host(port: port, source: "tone:440")), scratch: scratch)
        XCTAssertTrue(host.waitFor("listening on port"), host.log)
        XCTAssertTrue(host.log.contains("this host's certificate fingerprint"), host.log)

        let best = try sClient(port: port, [])
        XCTAssertTrue(best.connected, best.output)
        XCTAssertTrue(best.output.contains("Protocol version: TLSv\(TLSLibrary.bestProtocol)"), best.output)
        let gcm = try sClient(port: port, ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"])
        XCTAssertTrue(gcm.connected, gcm.output)
        XCTAssertTrue(gcm.output.contains("Ciphersuite: ECDHE-ECDSA-AES128-GCM-SHA256"), gcm.output)
        let chacha = try sClient(port: port, ["-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"])
        XCTAssertTrue(chacha.connected, chacha.output)

        // Old protocols (allowed on openssl's side with security level 0), CBC suites, and RSA
        // key exchange: each refused by the host.
        let refused: [[String]] = [
            ["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"],
            ["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"],
            ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"],
            ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256"],
            ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-SHA384"],
            ["-tls1_2", "-cipher", "AES128-GCM-SHA256"],
            ["-tls1_2", "-cipher", "AES256-SHA"],
        ]
        for arguments in refused {
            let attempt = try sClient(port: port, arguments)
            XCTAssertFalse(attempt.connected, "\(arguments.joined(separator: " ")) must be refused: \(attempt.output)")
            // Refused by the host (an alert), not by openssl before it asked.
            XCTAssertTrue(attempt.output.contains("alert protocol version") || attempt.output.contains("alert handshake failure"), attempt.output)
        }
        // One line for each, in the library's words (they differ between mbedTLS 2.28 and 3.6).
        XCTAssertEqual(host.count("TLS handshake with"), refused.count, host.log)
        XCTAssertTrue(host.process.isRunning, "refused handshakes leave the host serving")
        host.signal(SIGTERM)
        XCTAssertEqual(host.waitForExit(), 0)
    }

    func testBothEndsLogWhatTheyAgreedAndTheReceiverPinsTheHost() throws {
        let scratch = try Scratch("tls-pin")
        let port = freePort()
        let device = "pin-\(port)"
        try? FileManager.default.removeItem(atPath: Configs.receiverStateDirectory(device))
        _ = scratch.recordingPCM(device)
        let (host, receiver) = try stream(
            for: 1, host: Configs.host(port: port, source: "tone:440"),
            receiver: Configs.receiver(port: port, device: device), scratch: scratch)
        let expected = "TLSv\(TLSLibrary.bestProtocol) "
        XCTAssertTrue(receiver.log.contains("TLS: \(expected)"), receiver.log)
        XCTAssertTrue(host.log.contains("TLS: \(expected)"), host.log)
        let fingerprint = try printedFingerprint("mshost", config: try scratch.write("host.json", Configs.host(port: port, source: "tone")))
        XCTAssertTrue(receiver.log.contains("pinned host 127.0.0.1:\(port)'s certificate \(fingerprint) on first use"), receiver.log)
        let pins = try String(contentsOfFile: Configs.receiverStateDirectory(device) + "/known_hosts", encoding: .utf8)
        XCTAssertEqual(pins, "127.0.0.1:\(port) \(fingerprint)\n")
        XCTAssertGreaterThan(scratch.recorded(device).count, 48_000, "audio arrived over TLS")
    }

    func testAReceiverRefusesAHostWhoseKeyIsNotTheOneItKnows() throws {
        let scratch = try Scratch("tls-changed")
        let port = freePort()
        let device = "changed-\(port)"
        let state = Configs.receiverStateDirectory(device)
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        // Pinned earlier: a host at this address whose key was another.
        let old = String(repeating: "ab:", count: 31) + "ab"
        try "127.0.0.1:\(port) \(old)\n".write(toFile: state + "/known_hosts", atomically: true, encoding: .utf8)
        _ = scratch.recordingPCM(device)
        let host = try Daemon("mshost", config: try scratch.write("host.json", Configs.host(port: port, source: "tone:440")), scratch: scratch)
        XCTAssertTrue(host.waitFor("listening on port"), host.log)
        let receiver = try Daemon("msrecv", config: try scratch.write("recv.json", Configs.receiver(port: port, device: device)), scratch: scratch)
        XCTAssertTrue(receiver.waitFor("presented a different certificate"), receiver.log)
        XCTAssertTrue(receiver.log.contains("from the one pinned on first use (\(old), in \(state)/known_hosts)"), receiver.log)
        XCTAssertFalse(receiver.log.contains("event=Connected"), "no session with an unknown key: \(receiver.log)")
        XCTAssertEqual(scratch.recorded(device).count, 0, "nothing played")
        XCTAssertTrue(receiver.process.isRunning, "it keeps trying, in case the host comes back with its old key")
        receiver.signal(SIGTERM)
        XCTAssertEqual(receiver.waitForExit(), 0)

        // receiving.host_fingerprint names the host's real key: accepted, whatever was pinned.
        let fingerprint = try printedFingerprint("mshost", config: try scratch.write("host2.json", Configs.host(port: port, source: "tone")))
        let named = try Daemon(
            "msrecv",
            config: try scratch.write(
                "recv2.json",
                Configs.receiver(
                    port: port, device: device,
                    extra: ", \"host_fingerprint\": \"\(fingerprint.uppercased())\"")), scratch: scratch,
            name: "msrecv2")
        XCTAssertTrue(named.waitFor("event=Connected"), named.log)
        named.signal(SIGTERM)
        XCTAssertEqual(named.waitForExit(), 0)
        host.signal(SIGTERM)
        _ = host.waitForExit()
    }

    func testEndsThatDisagreeOnEncryptionSaySo() throws {
        let scratch = try Scratch("tls-mismatch")
        let port = freePort()
        _ = scratch.recordingPCM("speaker")
        let host = try Daemon(
            "mshost", config: try scratch.write("host.json", Configs.host(port: port, source: "tone:440", extra: ", \"encryption\": \"none\"")),
            scratch: scratch)
        XCTAssertTrue(host.waitFor("listening on port"), host.log)
        XCTAssertTrue(host.log.contains("warning: sharing.encryption is \"none\""), host.log)
        let receiver = try Daemon("msrecv", config: try scratch.write("recv.json", Configs.receiver(port: port, device: "speaker")), scratch: scratch)
        XCTAssertTrue(receiver.waitFor("same encryption setting"), receiver.log)
        receiver.signal(SIGTERM)
        XCTAssertEqual(receiver.waitForExit(), 0)
        host.signal(SIGTERM)
        _ = host.waitForExit()

        // The other way round: a plaintext receiver at a TLS host.
        let tlsPort = freePort()
        let tlsHost = try Daemon(
            "mshost", config: try scratch.write("host2.json", Configs.host(port: tlsPort, source: "tone:440")), scratch: scratch, name: "mshost2")
        XCTAssertTrue(tlsHost.waitFor("listening on port"), tlsHost.log)
        let plain = try Daemon(
            "msrecv", config: try scratch.write("recv2.json", Configs.receiver(port: tlsPort, device: "speaker", extra: ", \"encryption\": \"none\"")),
            scratch: scratch, name: "msrecv2")
        XCTAssertTrue(plain.log.contains("warning: receiving.encryption is \"none\"") || plain.waitFor("warning: receiving.encryption"), plain.log)
        XCTAssertTrue(tlsHost.waitFor("same encryption setting"), tlsHost.log)
        XCTAssertFalse(plain.log.contains("event=Connected"), plain.log)
        plain.signal(SIGTERM)
        XCTAssertEqual(plain.waitForExit(), 0)
        tlsHost.signal(SIGTERM)
        _ = tlsHost.waitForExit()
    }
}

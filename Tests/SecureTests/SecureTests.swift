import CMbedTLS
import Core
import Foundation
import Platform
import Secure
import Transport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

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
            XCTAssertEqual(
                (error as? IdentityError)?.description,
                "\(directory)/receiver.key is there but \(directory)/receiver.crt is not; restore it, or remove both to make a new identity (peers "
                    + "that pinned the old one will refuse the new)"
            )
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
        let address = try SocketAddress.resolve(host: "127.0.0.1", port: listener.port)[0]
        client = try XCTUnwrap(try clientTransport.connect(to: address) as? TLSChannel)
        let deadline = SystemClock().now() + 5_000_000
        var clientDone = false
        var serverDone = false
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

    func testBothEndsExportTheSameKeyingMaterialAndEachSessionItsOwn() throws {
        let pair = try Pair("exporter")
        let server = try XCTUnwrap(pair.server)
        let label = "EXPORTER-moosync-test"
        let client = try XCTUnwrap(pair.client.exportKeyingMaterial(label: label, context: [1, 2, 3], length: 32))
        XCTAssertEqual(client.count, 32)
        XCTAssertEqual(server.exportKeyingMaterial(label: label, context: [1, 2, 3], length: 32), client)
        XCTAssertNotEqual(server.exportKeyingMaterial(label: label, context: nil, length: 32), client, "no context is not an empty one")
        XCTAssertNotEqual(server.exportKeyingMaterial(label: label + "2", context: [1, 2, 3], length: 32), client)
        let other = try Pair("exporter2")
        XCTAssertNotEqual(other.client.exportKeyingMaterial(label: label, context: [1, 2, 3], length: 32), client, "another session, other keys")
    }

    func testTheExporterIsRFC5705AsOpenSSLComputesIt() throws {
        let listener = try boundListener()
        let directory = temporaryDirectory("openssl-exporter")
        let transport = TLSTransport(
            configuration: try TLSConfiguration(role: .server, identity: try TLSIdentity(directory: directory, name: "host", commonName: "h")))
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = ["s_client", "-connect", "127.0.0.1:\(listener.port)", "-keymatexport", "EXPORTER-moosync-test", "-keymatexportlen", "32"]
        let pipe = Pipe()
        openssl.standardOutput = pipe
        openssl.standardError = FileHandle(forWritingAtPath: "/dev/null")
        // Kept open until the server has its value: s_client leaves when its input ends.
        let input = Pipe()
        openssl.standardInput = input
        try openssl.run()
        var server: (any ByteChannel)?
        var done = false
        let deadline = SystemClock().now() + 5_000_000
        while !done && SystemClock().now() < deadline {
            if server == nil { server = transport.accept(from: listener) }
            if let server {
                switch server.handshake() {
                case .done: done = true
                case .failed(let e): throw e
                case .wouldBlock: usleep(500)
                }
            } else {
                usleep(500)
            }
        }
        let ours = try XCTUnwrap(server?.exportKeyingMaterial(label: "EXPORTER-moosync-test", context: nil, length: 32))
        try input.fileHandleForWriting.close()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        openssl.waitUntilExit()
        let line = try XCTUnwrap(output.split(separator: "\n").first { $0.contains("Keying material:") }, output)
        let theirs = line.split(separator: ":").last!.trimmingCharacters(in: .whitespaces).lowercased()
        XCTAssertEqual(ours.map { String(format: "%02x", $0) }.joined(), theirs)
    }

    func testAPeerThatDoesNotSpeakTLSIsToldSo() throws {
        let listener = try boundListener()
        let directory = temporaryDirectory("plaintext")
        let transport = TLSTransport(
            configuration: try TLSConfiguration(role: .client, identity: try TLSIdentity(directory: directory, name: "receiver", commonName: "r")))
        let client = try transport.connect(to: try SocketAddress.resolve(host: "127.0.0.1", port: listener.port)[0])
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

    /// A host never met is allowed, and written down only when pinned (once its session was
    /// welcomed); then only its own key is accepted.
    func testTheFirstCertificateIsPinnedOnceWelcomedAndAnotherRefusedWithWhatToDo() throws {
        let directory = temporaryDirectory("pins")
        let pins = HostPins(directory: directory, configured: nil)
        XCTAssertEqual(pins.check(host: "10.0.0.2:8080", presented: first), .firstUse)
        XCTAssertFalse(FileManager.default.fileExists(atPath: pins.file), "checking writes nothing")
        XCTAssertEqual(pins.pin(host: "10.0.0.2:8080", fingerprint: first), .pinned)
        XCTAssertEqual(pins.pin(host: "10.0.0.2:8080", fingerprint: first), .known)
        XCTAssertEqual(pins.check(host: "10.0.0.2:8080", presented: first), .known)
        XCTAssertEqual(pins.pin(host: "10.0.0.3:8080", fingerprint: second), .pinned, "another host has its own pin")
        guard case .refused(let why) = pins.check(host: "10.0.0.2:8080", presented: second) else { return XCTFail("a changed key must be refused") }
        XCTAssertTrue(why.contains("presented a different certificate (\(second))"), why)
        XCTAssertTrue(why.contains("delete the line for 10.0.0.2:8080 from that file"), why)
        XCTAssertTrue(why.contains("mshost --fingerprint"), why)
        guard case .refused = pins.pin(host: "10.0.0.2:8080", fingerprint: second) else { return XCTFail("a changed key is not pinned either") }
        XCTAssertEqual(pins.check(host: "10.0.0.2:8080", presented: nil), .refused("host \"10.0.0.2:8080\" presented no certificate"))
        // Pins outlive the process: a new reader of the same directory knows both hosts.
        XCTAssertEqual(HostPins(directory: directory, configured: nil).check(host: "10.0.0.3:8080", presented: second), .known)
        XCTAssertEqual(try String(contentsOfFile: pins.file, encoding: .utf8).split(separator: "\n").count, 2)
    }

    func testAConfiguredFingerprintIsTheOnlyOneAccepted() throws {
        let pins = HostPins(directory: temporaryDirectory("configured"), configured: Fingerprint(hex: first.description.uppercased()))
        XCTAssertEqual(pins.check(host: "h:1", presented: first), .known)
        XCTAssertEqual(pins.pin(host: "h:1", fingerprint: first), .known, "nothing to write down")
        guard case .refused(let why) = pins.check(host: "h:1", presented: second) else { return XCTFail("only the configured one") }
        XCTAssertTrue(why.contains("not the one receiving.host_fingerprint names"), why)
        XCTAssertNil(Fingerprint(hex: "abc"))
    }

    /// A pin file that cannot be read trusts no host (it used to read as first use, and then
    /// any key was accepted and appended): a symbolic link, one over 1 MiB, a directory.
    func testAPinFileThatCannotBeReadTrustsNoHost() throws {
        for (name, make) in [
            ("link", { (file: String) in try FileManager.default.createSymbolicLink(atPath: file, withDestinationPath: "/etc/hostname") }),
            ("large", { (file: String) in try Data(count: (1 << 20) + 1).write(to: URL(fileURLWithPath: file)) }),
            ("directory", { (file: String) in try FileManager.default.createDirectory(atPath: file, withIntermediateDirectories: false) }),
        ]
            as [(String, (String) throws -> Void)]
        {
            let pins = HostPins(directory: temporaryDirectory("unreadable-" + name), configured: nil)
            try make(pins.file)
            guard case .refused(let why) = pins.check(host: "10.0.0.2:8080", presented: first) else { return XCTFail("\(name): a host was trusted") }
            XCTAssertTrue(why.contains("no host is trusted until it can be read"), "\(name): \(why)")
            guard case .refused = pins.pin(host: "10.0.0.2:8080", fingerprint: first) else { return XCTFail("\(name): a host was pinned") }
            XCTAssertFalse(pins.isPinned("10.0.0.2:8080"))
        }
    }

    /// A host id (an advertised device_id) that would break a pin line or add one is refused,
    /// and the file stops growing at `maxHosts` hosts.
    func testHostIdsThatBreakALineAreRefusedAndThePinsAreCapped() throws {
        let pins = HostPins(directory: temporaryDirectory("names"), configured: nil)
        for id in ["", "two words", "evil\n10.0.0.2:8080 " + second.description, "tab\t", String(repeating: "x", count: 256), "zero\u{200B}width"] {
            guard case .refused(let why) = pins.check(host: id, presented: first) else { return XCTFail("\(id.debugDescription) was allowed") }
            XCTAssertTrue(why.contains("not trusted"), why)
            XCTAssertFalse(why.contains("\n"), "the reason is one line: \(why)")
        }
        XCTAssertEqual(pins.check(host: "speaker-2f3a.über", presented: first), .firstUse, "letters of any script are fine")
        for i in 0..<HostPins.maxHosts { XCTAssertEqual(pins.pin(host: "host-\(i)", fingerprint: first), .pinned) }
        guard case .refused(let why) = pins.pin(host: "one-more", fingerprint: first) else { return XCTFail("the pins grew past the cap") }
        XCTAssertTrue(why.contains("holds \(HostPins.maxHosts) hosts already"), why)
        XCTAssertEqual(pins.check(host: "host-7", presented: first), .known, "the hosts it holds are still known")
    }
}

/// RFC 9383 Appendix C, SPAKE2+-P256-SHA256-HKDF-SHA256-HMAC-SHA256, and then our use of it.
final class SPAKE2PlusTests: XCTestCase {
    private func bytes(_ text: String) -> [UInt8] { unhex(text)! }

    /// What `mshost passwd` writes reads back; a w0 at or above the group's order n (which no
    /// derivation makes) is refused, so `mshost --check` says so.
    func testAVerifierReadsBackAndAW0BeyondTheOrderIsRefused() throws {
        let verifier = try PasswordVerifier(password: "correct horse", iterations: 1_000)
        XCTAssertEqual(PasswordVerifier(encoded: verifier.description), verifier)
        var fields = verifier.description.split(separator: ":").map(String.init)
        for w0 in ["ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", String(repeating: "ff", count: 32)] {
            fields[3] = w0
            XCTAssertNil(PasswordVerifier(encoded: fields.joined(separator: ":")), w0)
        }
    }

    /// A share of any length but a point's is refused where the curve code reads it (which
    /// used to read 65 bytes from a 1-byte share), whatever checked it before.
    func testAShareOfTheWrongLengthIsRefusedWhereTheCurveReadsIt() throws {
        let keys = try SPAKE2Plus.derive(password: "correct horse", salt: Array(0..<16), iterations: 1_000)
        let L = try SPAKE2Plus.registration(w1: keys.w1)
        let prover = try SPAKE2PlusProver(w0: keys.w0, w1: keys.w1, context: [1])
        for share in [[], [4], Array(prover.shareP.dropLast()), prover.shareP + [0]] as [[UInt8]] {
            XCTAssertThrowsError(try SPAKE2PlusVerifier(w0: keys.w0, L: L, context: [1], shareP: share), "\(share.count) bytes") {
                XCTAssertEqual($0 as? SPAKE2Plus.Failure, .invalidShare)
            }
        }
        let verifier = try SPAKE2PlusVerifier(w0: keys.w0, L: L, context: [1], shareP: prover.shareP)
        XCTAssertThrowsError(try prover.finish(shareV: Array(verifier.shareV.prefix(33)), confirmV: verifier.confirmV)) {
            XCTAssertEqual($0 as? SPAKE2Plus.Failure, .invalidShare)
        }
        XCTAssertNoThrow(try prover.finish(shareV: verifier.shareV, confirmV: verifier.confirmV))
    }

    /// The secret scalars (w0, x, y) are multiplied by a blinded `mbedtls_ecp_mul`, which draws
    /// on the random generator to randomize its coordinates, never by `mbedtls_ecp_muladd`,
    /// whose header says it is not constant-time. Shown with a generator that stops working
    /// after its seeding: every multiplication by a secret then fails, where an unblinded one
    /// would never have asked it for a byte.
    func testSecretMultiplicationsAreBlindedByTheRandomGenerator() throws {
        let drbg = UnsafeMutablePointer<mbedtls_ctr_drbg_context>.allocate(capacity: 1)
        let works = UnsafeMutablePointer<Bool>.allocate(capacity: 1)
        works.initialize(to: true)
        mbedtls_ctr_drbg_init(drbg)
        defer {
            mbedtls_ctr_drbg_free(drbg)
            drbg.deallocate()
            works.deallocate()
        }
        let entropy: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutablePointer<UInt8>?, Int) -> Int32 = { flag, out, count in
            guard flag!.load(as: Bool.self) else { return MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED }
            out!.update(repeating: 0x5A, count: count)
            return 0
        }
        XCTAssertEqual(mbedtls_ctr_drbg_seed(drbg, entropy, works, nil, 0), 0)
        // Every draw reseeds from the entropy source, so the draw after it fails is seen.
        mbedtls_ctr_drbg_set_prediction_resistance(drbg, MBEDTLS_CTR_DRBG_PR_ON)
        let k = [UInt8](repeating: 0, count: 31) + [7]
        var point = [UInt8](repeating: 0, count: 65)
        var out = [UInt8](repeating: 0, count: 65)
        XCTAssertEqual(cmbedtls_p256_multiply(&point, k, 32, nil, 0, drbg), 0)
        XCTAssertEqual(cmbedtls_p256_multiply(&out, k, 32, point, 65, drbg), 0)
        XCTAssertEqual(cmbedtls_p256_combine(&out, k, 32, nil, 0, k, 32, point, 65, drbg), 0)
        works.pointee = false
        XCTAssertEqual(cmbedtls_p256_multiply(&out, k, 32, nil, 0, drbg), MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED, "k·G")
        XCTAssertEqual(cmbedtls_p256_multiply(&out, k, 32, point, 65, drbg), MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED, "k·P")
        XCTAssertEqual(cmbedtls_p256_combine(&out, k, 32, nil, 0, k, 32, point, 65, drbg), MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED, "a·G + b·Q")
    }

    /// The proof is bound to its TLS session by the exporter's keying material; a TLS session
    /// that cannot give it (here: its handshake not done) fails closed instead of proving over
    /// an unbound context, which a relay could pass between two sessions. Plain TCP (encryption
    /// off) has no session to bind to, and proves over the protocol's name alone.
    func testAProofOverTLSWithoutItsSessionsKeysFailsClosed() throws {
        let listener = try boundListener()
        let directory = temporaryDirectory("unbound")
        let transport = TLSTransport(
            configuration: try TLSConfiguration(role: .client, identity: try TLSIdentity(directory: directory, name: "receiver", commonName: "r")))
        let address = try SocketAddress.resolve(host: "127.0.0.1", port: listener.port)[0]
        let unfinished = try transport.connect(to: address)
        XCTAssertNil(unfinished.exportKeyingMaterial(label: "EXPORTER-moosync-spake2plus", context: nil, length: 32))
        XCTAssertThrowsError(try SPAKE2Plus.context(of: unfinished)) { XCTAssertEqual($0 as? SPAKE2Plus.Failure, .unboundSession) }
        let plain = try TCPTransport().connect(to: address)
        XCTAssertEqual(try SPAKE2Plus.context(of: plain), Array("moosync-audio-share/1 SPAKE2+".utf8))
    }

    func testTheRFCVectorsComeOutExactly() throws {
        let context = Array("SPAKE2+-P256-SHA256-HKDF-SHA256-HMAC-SHA256 Test Vectors".utf8)
        let idProver = Array("client".utf8)
        let idVerifier = Array("server".utf8)
        let w0 = bytes("bb8e1bbcf3c48f62c08db243652ae55d3e5586053fca77102994f23ad95491b3")
        let w1 = bytes("7e945f34d78785b8a3ef44d0df5a1a97d6b3b460409a345ca7830387a74b1dba")
        let L = bytes("04eb7c9db3d9a9eb1f8adab81b5794c1f13ae3e225efbe91ea487425854c7fc00f00bfedcbd09b2400142d40a14f2064ef31dfaa903b91d1faea7093d835966efd")
        XCTAssertEqual(try SPAKE2Plus.registration(w1: w1), L)
        let prover = try SPAKE2PlusProver(
            w0: w0, w1: w1, context: context, idProver: idProver, idVerifier: idVerifier,
            x: bytes("d1232c8e8693d02368976c174e2088851b8365d0d79a9eee709c6a05a2fad539"))
        XCTAssertEqual(
            prover.shareP,
            bytes("04ef3bd051bf78a2234ec0df197f7828060fe9856503579bb1733009042c15c0c1de127727f418b5966afadfdd95a6e4591d171056b333dab97a79c7193e341727"))
        let verifier = try SPAKE2PlusVerifier(
            w0: w0, L: L, context: context, shareP: prover.shareP, idProver: idProver, idVerifier: idVerifier,
            y: bytes("717a72348a182085109c8d3917d6c43d59b224dc6a7fc4f0483232fa6516d8b3"))
        XCTAssertEqual(
            verifier.shareV,
            bytes("04c0f65da0d11927bdf5d560c69e1d7d939a05b0e88291887d679fcadea75810fb5cc1ca7494db39e82ff2f50665255d76173e09986ab46742c798a9a68437b048"))
        XCTAssertEqual(verifier.confirmV, bytes("9747bcc4f8fe9f63defee53ac9b07876d907d55047e6ff2def2e7529089d3e68"))
        XCTAssertEqual(verifier.sharedKey, bytes("0c5f8ccd1413423a54f6c1fb26ff01534a87f893779c6e68666d772bfd91f3e7"))
        let (confirmP, sharedKey) = try prover.finish(shareV: verifier.shareV, confirmV: verifier.confirmV)
        XCTAssertEqual(confirmP, bytes("926cc713504b9b4d76c9162ded04b5493e89109f6d89462cd33adc46fda27527"))
        XCTAssertEqual(sharedKey, verifier.sharedKey)
        XCTAssertTrue(verifier.accepts(confirmP: confirmP))
    }

    func testAWrongPasswordOrAnotherSessionFailsTheConfirmation() throws {
        let salt = [UInt8](repeating: 7, count: 16)
        let right = try SPAKE2Plus.derive(password: "correct horse", salt: salt, iterations: 1_000)
        let wrong = try SPAKE2Plus.derive(password: "correct hose", salt: salt, iterations: 1_000)
        let L = try SPAKE2Plus.registration(w1: right.w1)
        let context = Array("session A".utf8)
        // The right password: both confirm, one shared key.
        let prover = try SPAKE2PlusProver(w0: right.w0, w1: right.w1, context: context)
        let verifier = try SPAKE2PlusVerifier(w0: right.w0, L: L, context: context, shareP: prover.shareP)
        let finished = try prover.finish(shareV: verifier.shareV, confirmV: verifier.confirmV)
        XCTAssertTrue(verifier.accepts(confirmP: finished.confirmP))
        XCTAssertEqual(finished.sharedKey, verifier.sharedKey)
        // A wrong password: the receiver sees the host's confirmation fail before it sends its own.
        let guesser = try SPAKE2PlusProver(w0: wrong.w0, w1: wrong.w1, context: context)
        let answer = try SPAKE2PlusVerifier(w0: right.w0, L: L, context: context, shareP: guesser.shareP)
        XCTAssertThrowsError(try guesser.finish(shareV: answer.shareV, confirmV: answer.confirmV)) {
            XCTAssertEqual($0 as? SPAKE2Plus.Failure, .confirmationMismatch)
        }
        // The right password relayed into another session (another TLS exporter value): refused.
        let relayed = try SPAKE2PlusVerifier(w0: right.w0, L: L, context: Array("session B".utf8), shareP: prover.shareP)
        XCTAssertThrowsError(try prover.finish(shareV: relayed.shareV, confirmV: relayed.confirmV))
        // A share that is not a point.
        var bogus = prover.shareP
        bogus[40] ^= 1
        XCTAssertThrowsError(try SPAKE2PlusVerifier(w0: right.w0, L: L, context: context, shareP: bogus)) {
            XCTAssertEqual($0 as? SPAKE2Plus.Failure, .invalidShare)
        }
        XCTAssertThrowsError(try SPAKE2PlusVerifier(w0: right.w0, L: L, context: context, shareP: [4] + [UInt8](repeating: 0, count: 64)))
    }
}

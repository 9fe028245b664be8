import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Password authentication (issue 11): SPAKE2+ inside TLS. The host keeps a verifier, a
/// receiver proves the password without sending it, and a wrong one is refused on both sides.
final class PasswordTests: XCTestCase {
    func testTheRightPasswordPlaysAndAWrongOrMissingOneIsRefusedOnBothSides() throws {
        let scratch = try Scratch("password")
        let port = freePort()
        for device in ["right", "wrong", "none"] { _ = scratch.recordingPCM(device) }
        let host = try Daemon.toneHost(scratch, port: port, extra: ", \"password\": \"correct horse\"")
        XCTAssertTrue(host.log.contains("warning: sharing.password is in plaintext"), host.log)
        // The test's files are 0644: every user of the machine could read the password.
        XCTAssertTrue(host.log.contains("holds the password (or its verifier) and any user of this machine can read it (mode 644): chmod o-r"), host.log)

        let right = try Daemon(
            "msrecv",
            config: try scratch.write(
                "right.json",
                Configs.receiver(
                    port: port, device: "right",
                    extra: ", \"password\": \"correct horse\"")), scratch: scratch, name: "right")
        XCTAssertTrue(right.waitFor("event=Connected"), right.log)
        XCTAssertTrue(right.log.contains("holds receiving.password and any user of this machine can read it (mode 644)"), right.log)
        let wrong = try Daemon(
            "msrecv",
            config: try scratch.write(
                "wrong.json",
                Configs.receiver(
                    port: port, device: "wrong",
                    extra: ", \"password\": \"correct hose\"")), scratch: scratch, name: "wrong")
        XCTAssertTrue(wrong.waitFor("error=AuthenticationFailed"), wrong.log)
        XCTAssertTrue(wrong.log.contains("does not know receiving.password"), wrong.log)
        XCTAssertTrue(wrong.log.contains("reconnecting to 127.0.0.1:\(port) in 30s"), "it waits before trying again: \(wrong.log)")
        let none = try Daemon("msrecv", config: try scratch.write("none.json", Configs.receiver(port: port, device: "none")), scratch: scratch, name: "none")
        XCTAssertTrue(none.waitFor("requires a password: set receiving.password"), none.log)
        XCTAssertTrue(host.waitFor("error=AuthenticationFailed", times: 2), host.log)
        XCTAssertEqual(host.count("left during the password proof"), 2, host.log)
        Thread.sleep(forTimeInterval: 1)
        for receiver in [right, wrong, none] {
            receiver.signal(SIGTERM)
            XCTAssertEqual(receiver.waitForExit(), 0, receiver.log)
        }
        host.signal(SIGTERM)
        _ = host.waitForExit()
        XCTAssertGreaterThan(scratch.recorded("right").count, 48_000, "the right password plays")
        XCTAssertEqual(scratch.recorded("wrong").count, 0, "a wrong password plays nothing")
        XCTAssertEqual(scratch.recorded("none").count, 0, "no password plays nothing")
        XCTAssertFalse(wrong.log.contains("event=Connected"), wrong.log)
        // The password itself never crosses the wire, in plaintext or in the log.
        XCTAssertFalse(host.log.contains("correct hose"))
    }

    func testMshostPasswdWritesOnlyAVerifierThatTheHostThenUses() throws {
        let scratch = try Scratch("passwd")
        let port = freePort()
        _ = scratch.recordingPCM("speaker")
        let config = try scratch.write("host.json", Configs.host(port: port, source: "tone:440", extra: ", \"password\": \"old secret\""))
        XCTAssertEqual(chmod(config, 0o600), 0)
        // A temporary file someone left where mshost passwd writes its own is not written through.
        XCTAssertEqual(symlink(scratch.file("elsewhere"), config + ".mshost-passwd"), 0)
        let (refused, refusal) = try runToCompletion("mshost", ["passwd", "--config", config], stdin: "open sesame\n")
        XCTAssertEqual(refused, 1, refusal)
        XCTAssertTrue(refusal.contains("cannot write \(config): File exists"), refusal)
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.file("elsewhere")), "nothing written through the link")
        XCTAssertEqual(unlink(config + ".mshost-passwd"), 0)
        // Nor through a hard link to another file (no link to follow, so only O_EXCL keeps it out).
        let victim = try scratch.write("victim.txt", "someone else's file\n")
        XCTAssertEqual(link(victim, config + ".mshost-passwd"), 0)
        let (refusedAgain, againRefusal) = try runToCompletion("mshost", ["passwd", "--config", config], stdin: "open sesame\n")
        XCTAssertEqual(refusedAgain, 1, againRefusal)
        XCTAssertTrue(againRefusal.contains("cannot write \(config): File exists"), againRefusal)
        XCTAssertEqual(try String(contentsOfFile: victim, encoding: .utf8), "someone else's file\n", "nothing written into the other file")
        XCTAssertEqual(unlink(config + ".mshost-passwd"), 0)
        let passwd = Process()
        passwd.executableURL = URL(fileURLWithPath: binDirectory + "/mshost")
        passwd.arguments = ["passwd", "--config", config]
        let input = Pipe()
        let output = Pipe()
        passwd.standardInput = input
        passwd.standardOutput = output
        passwd.standardError = output
        try passwd.run()
        input.fileHandleForWriting.write(Data("open sesame\n".utf8))
        try input.fileHandleForWriting.close()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        passwd.waitUntilExit()
        XCTAssertEqual(passwd.terminationStatus, 0, printed)
        XCTAssertTrue(printed.contains("sharing.password_verifier written"), printed)
        let written = try String(contentsOfFile: config, encoding: .utf8)
        XCTAssertTrue(written.contains("\"password_verifier\": \"spake2+p256:20000:"), written)
        XCTAssertTrue(written.contains("\"password\": \"\""), "the plaintext password is gone: \(written)")
        XCTAssertFalse(written.contains("open sesame") || written.contains("old secret"), written)
        XCTAssertTrue(written.contains("\"device_name\": \"test host\""), "the rest as it was: \(written)")

        let host = try Daemon("mshost", config: config, scratch: scratch)
        XCTAssertTrue(host.waitFor("listening on port"), host.log)
        XCTAssertFalse(host.log.contains("warning: sharing.password"), host.log)
        XCTAssertFalse(host.log.contains("any user of this machine can read it"), "the config is 0600, kept so by mshost passwd: \(host.log)")
        let receiver = try Daemon(
            "msrecv",
            config: try scratch.write(
                "recv.json",
                Configs.receiver(
                    port: port, device: "speaker",
                    extra: ", \"password\": \"open sesame\"")), scratch: scratch)
        XCTAssertTrue(receiver.waitFor("event=Connected"), receiver.log)
        receiver.signal(SIGTERM)
        XCTAssertEqual(receiver.waitForExit(), 0)
        host.signal(SIGTERM)
        _ = host.waitForExit()
    }

    func testAllowedCertificatesAreAdmittedAndOthersRefusedOrAskedForThePassword() throws {
        let scratch = try Scratch("allowlist")
        let port = freePort()
        func fingerprint(_ device: String) throws -> String {
            try printedFingerprint("msrecv", config: try scratch.write(device + "-fp.json", Configs.receiver(port: port, device: device)))
        }
        let listed = "listed-\(port)"
        let stranger = "stranger-\(port)"
        for device in [listed, stranger] { _ = scratch.recordingPCM(device) }
        let allowed = try fingerprint(listed)
        let unknown = try fingerprint(stranger)
        XCTAssertEqual(allowed.count, 95, allowed)
        // Only the list: the listed receiver plays, the other is refused and the host names its certificate.
        let host = try Daemon.toneHost(scratch, port: port, extra: ", \"allowed_clients\": [\"\(allowed.uppercased())\"]")
        let one = try Daemon("msrecv", config: try scratch.write("one.json", Configs.receiver(port: port, device: listed)), scratch: scratch, name: "one")
        XCTAssertTrue(one.waitFor("event=Connected"), one.log)
        let other = try Daemon(
            "msrecv", config: try scratch.write("other.json", Configs.receiver(port: port, device: stranger)), scratch: scratch, name: "other")
        XCTAssertTrue(other.waitFor("error=AuthenticationFailed"), other.log)
        XCTAssertTrue(host.waitFor("its certificate \(unknown) is not in sharing.allowed_clients"), host.log)
        other.signal(SIGTERM)
        XCTAssertEqual(other.waitForExit(), 0)
        host.signal(SIGTERM)
        _ = host.waitForExit()
        one.signal(SIGTERM)
        _ = one.waitForExit()

        // The list and a password: either admits.
        let both = try Daemon.toneHost(
            scratch, port: port, extra: ", \"allowed_clients\": [\"\(allowed)\"], \"password\": \"pw\"", file: "both.json", name: "both")
        let listedAgain = try Daemon(
            "msrecv", config: try scratch.write("one.json", Configs.receiver(port: port, device: listed)), scratch: scratch, name: "one-again")
        let withPassword = try Daemon(
            "msrecv", config: try scratch.write("pw.json", Configs.receiver(port: port, device: stranger, extra: ", \"password\": \"pw\"")),
            scratch: scratch, name: "with-password")
        XCTAssertTrue(listedAgain.waitFor("event=Connected"), listedAgain.log)
        XCTAssertTrue(withPassword.waitFor("event=Connected"), withPassword.log)
        for receiver in [listedAgain, withPassword] {
            receiver.signal(SIGTERM)
            XCTAssertEqual(receiver.waitForExit(), 0)
        }
        // A listed receiver that has the password too is asked for it (it plays only a host
        // that proves it knows the password), and plays.
        let listedWithPassword = try Daemon(
            "msrecv", config: try scratch.write("one-pw.json", Configs.receiver(port: port, device: listed, extra: ", \"password\": \"pw\"")),
            scratch: scratch, name: "listed-with-password")
        XCTAssertTrue(listedWithPassword.waitFor("event=Connected"), listedWithPassword.log)
        XCTAssertFalse(listedWithPassword.log.contains("without proving"), listedWithPassword.log)
        listedWithPassword.signal(SIGTERM)
        XCTAssertEqual(listedWithPassword.waitForExit(), 0)
        both.signal(SIGTERM)
        _ = both.waitForExit()
    }
}

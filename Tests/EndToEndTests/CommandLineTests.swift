import Core
import Foundation
import Secure
import XCTest

/// What a person sees from `--check`, `--version` and a broken config.
final class CommandLineTests: XCTestCase {
    func testCheckAcceptsTheShippedConfigs() throws {
        let checks = [("moosync.json", ["msrecv", "mshost"]), ("host.example.json", ["mshost"]), ("receiver.example.json", ["msrecv"])]
        for (file, binaries) in checks {
            let path = packageRoot + "/config/" + file
            for binary in binaries {
                let (status, output) = try runToCompletion(binary, ["--config", path, "--check"])
                XCTAssertEqual(status, 0, "\(binary) --check \(file): \(output)")
                XCTAssertTrue(output.contains("OK"), output)
            }
        }
    }

    func testCheckListsEveryErrorWithKeyPathAndExitsNonZero() throws {
        let scratch = try Scratch("cli")
        let path = try scratch.write(
            "bad.json",
            """
            {
              "receiving": {"bufer_size": "2s", "buffer_size": "fast", "host": "a:1"},
              "sharing": {"port": 70000}
            }
            """)
        for binary in ["msrecv", "mshost"] {
            let (status, output) = try runToCompletion(binary, ["--config", path, "--check"])
            XCTAssertEqual(status, 1)
            let lines = output.split(separator: "\n").map(String.init)
            XCTAssertEqual(
                lines,
                [
                    "\(binary): error: \(path): line 2, column 17: receiving.bufer_size: unknown key; did you mean \"buffer_size\"?",
                    "\(binary): error: \(path): line 2, column 52: receiving.buffer_size: expected a duration like \"2s\" or \"150ms\", got \"fast\"",
                    "\(binary): error: \(path): line 3, column 23: sharing.port: expected a whole number from 1 to 65535, got 70000",
                ])
        }
    }

    /// A verifier whose w0 is the curve's order n (reduced, it is 0: every guess's blinding
    /// cancels) used to be taken; `--check` refuses it, as it refuses `password_required` with
    /// an empty `allowed_clients` (which would admit everyone).
    func testCheckRefusesAVerifierBeyondTheOrderAndARequiredPasswordThatIsNot() throws {
        let scratch = try Scratch("check-secrets")
        let salt = [UInt8](repeating: 0xab, count: 16)
        let keys = try SPAKE2Plus.derive(password: "correct horse", salt: salt, iterations: 20_000)
        let L = try SPAKE2Plus.registration(w1: keys.w1)
        let n = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"
        for (w0, valid) in [(hex(keys.w0), true), (n, false)] {
            let path = try scratch.write(
                "host.json",
                Configs.host(
                    port: 9000, source: "tone:440",
                    extra: ", \"password_verifier\": \"spake2+p256:20000:\(hex(salt)):\(w0):\(hex(L))\""))
            let (status, output) = try runToCompletion("mshost", ["--config", path, "--check"])
            XCTAssertEqual(status, valid ? 0 : 1, output)
            if !valid { XCTAssertTrue(output.contains("sharing.password_verifier: not a verifier `mshost passwd` wrote"), output) }
        }
        let open = try scratch.write("open.json", Configs.host(port: 9000, source: "tone:440", extra: ", \"password_required\": true, \"allowed_clients\": []"))
        let (status, output) = try runToCompletion("mshost", ["--config", open, "--check"])
        XCTAssertEqual(status, 1, output)
        XCTAssertTrue(output.contains("sharing.password_required: true, but there is no password and no allowed_clients"), output)
    }

    func testMissingFileAndInvalidJSONAreOneLineEach() throws {
        let (status, output) = try runToCompletion("msrecv", ["--config", "/nonexistent.json", "--check"])
        XCTAssertEqual(status, 1)
        XCTAssertEqual(output, "msrecv: error: /nonexistent.json: cannot read config file: No such file or directory\n")

        let scratch = try Scratch("json")
        let path = try scratch.write("broken.json", "{\"receiving\": {\"host\": \"a:1\"\n")
        let (status2, output2) = try runToCompletion("mshost", ["--config", path, "--check"])
        XCTAssertEqual(status2, 1)
        XCTAssertEqual(output2, "mshost: error: \(path): line 2, column 1: invalid JSON: unexpected end of input, expected ',' or '}'\n")
    }

    /// `--check` opens what it can without side effects: a WAV source that is missing or is not
    /// a WAV is an error naming the key.
    func testCheckOpensTheWAVSource() throws {
        let scratch = try Scratch("checkwav")
        let missing = try scratch.write("missing.json", Configs.host(port: 9000, source: "wav:/nonexistent/song.wav"))
        let (status, output) = try runToCompletion("mshost", ["--config", missing, "--check"])
        XCTAssertEqual(status, 1)
        XCTAssertEqual(output, "mshost: error: \(missing): cannot read /nonexistent/song.wav (sharing.source): No such file or directory\n")
        let notWAV = try scratch.write("song.wav", "not a wav")
        let bad = try scratch.write("bad.json", Configs.host(port: 9000, source: "wav:" + notWAV))
        let (status2, output2) = try runToCompletion("mshost", ["--config", bad, "--check"])
        XCTAssertEqual(status2, 1)
        XCTAssertTrue(output2.hasPrefix("mshost: error: \(bad): \(notWAV) (sharing.source): "), output2)
        let good = try scratch.write("good.json", Configs.host(port: 9000, source: "wav:" + (try scratch.write("a.wav", bytes: ClickTrack.wav()))))
        XCTAssertEqual(try runToCompletion("mshost", ["--config", good, "--check"]).0, 0)
    }

    func testCheckReadsThePasswordVerifier() throws {
        let scratch = try Scratch("checkverifier")
        // The shape of one, but L is not a point of the curve.
        let forged =
            "spake2+p256:20000:" + String(repeating: "ab", count: 16) + ":" + String(repeating: "01", count: 32) + ":04" + String(repeating: "02", count: 64)
        let path = try scratch.write("host.json", Configs.host(port: 9000, source: "tone", extra: ", \"password_verifier\": \"\(forged)\""))
        let (status, output) = try runToCompletion("mshost", ["--config", path, "--check"])
        XCTAssertEqual(status, 1)
        XCTAssertEqual(
            output,
            "mshost: error: \(path): sharing.password_verifier: not a verifier `mshost passwd` wrote (its point L is not on the curve, or a field is "
                + "out of range); run mshost passwd again\n"
        )
    }

    func testAReceiverWithoutAHostFindsOneOverMDNSUnlessDiscoveryIsOff() throws {
        let scratch = try Scratch("nohost")
        let path = try scratch.write("r.json", "{\"receiving\": {\"host_name\": \"Lounge\"}}")
        let (status, output) = try runToCompletion("msrecv", ["--config", path, "--check"])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("OK (receiver: host found over mDNS by name \"Lounge\""), output)
        let off = try scratch.write("off.json", "{\"receiving\": {\"auto_discover\": false}}")
        let (offStatus, offOutput) = try runToCompletion("msrecv", ["--config", off, "--check"])
        XCTAssertEqual(offStatus, 1)
        XCTAssertTrue(offOutput.contains("receiving.host: required when receiving.auto_discover is false"), offOutput)
        let both = try scratch.write("both.json", "{\"receiving\": {\"host\": \"10.0.0.2:8080\", \"host_id\": \"x\"}}")
        let (bothStatus, bothOutput) = try runToCompletion("msrecv", ["--config", both, "--check"])
        XCTAssertEqual(bothStatus, 1)
        XCTAssertTrue(bothOutput.contains("receiving.host_id: picks among the hosts discovered, but receiving.host names one"), bothOutput)
        let (usageStatus, usage) = try runToCompletion("msrecv", ["discover", "--timeout", "soon"])
        XCTAssertEqual(usageStatus, 2)
        XCTAssertEqual(usage, "msrecv: error: --timeout: expected a duration such as 3s or 500ms (at most 10 min), got \"soon\"\n")
    }

    func testVersionAndUsage() throws {
        let (status, output) = try runToCompletion("msrecv", ["--version"])
        XCTAssertEqual(status, 0)
        XCTAssertTrue(output.hasPrefix("msrecv 0.1.0 (protocol 1.0; opus "), output)
        XCTAssertTrue(output.contains("alsa-lib"), output)
        let (hostStatus, hostOutput) = try runToCompletion("mshost", ["--version"])
        XCTAssertEqual(hostStatus, 0)
        XCTAssertTrue(hostOutput.hasPrefix("mshost 0.1.0"), hostOutput)
        let (badStatus, badOutput) = try runToCompletion("mshost", ["--volume", "11"])
        XCTAssertEqual(badStatus, 2)
        XCTAssertEqual(badOutput, "mshost: error: unknown option --volume (see mshost --help)\n")
    }

    /// `--help` names every command a binary has, and each command's own `--help` is its whole
    /// page: every option it takes.
    func testHelpNamesEveryCommandAndEachCommandHasItsPage() throws {
        let expected = ["msrecv": ["status", "discover"], "mshost": ["passwd", "clients", "kick", "volume", "mute", "events", "now-playing"]]
        for (binary, commands) in expected {
            let (status, help) = try runToCompletion(binary, ["--help"])
            XCTAssertEqual(status, 0, help)
            XCTAssertTrue(help.contains("usage: \(binary) [--config PATH] [--check | --fingerprint]"), help)
            for option in ["--config PATH", "--check", "--fingerprint", "--version"] { XCTAssertTrue(help.contains("  \(option)"), "\(option): \(help)") }
            for command in commands {
                XCTAssertTrue(help.contains("\n  \(binary) \(command) "), "\(binary) --help names \(command): \(help)")
                let (pageStatus, page) = try runToCompletion(binary, [command, "--help"])
                XCTAssertEqual(pageStatus, 0, page)
                XCTAssertTrue(page.hasPrefix("usage: \(binary) \(command)"), page)
            }
        }
        let (_, kick) = try runToCompletion("mshost", ["kick", "-h"])
        XCTAssertEqual(
            kick,
            """
            usage: mshost kick ID [--for DURATION] [--config PATH]
              send a receiver away (it does not come back until the host restarts)
              ID              the receiver's ID, as `mshost clients` lists it
              --for DURATION  it may come back after this long, such as 10m or 2h (1 s to a year)
              --config PATH   the JSON config file (default /etc/moosync.json)

            """)
    }
}

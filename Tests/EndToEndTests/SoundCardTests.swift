import Core
import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The sound card comes and goes (issue 10): missing at boot, held by another process, unplugged
/// mid-stream. Each time msrecv logs one line, keeps its session and its clock sync, opens the
/// card again on a backoff timer, and plays on the host's schedule once it is back; SIGTERM is
/// served within a second whatever the card does.
final class SoundCardTests: XCTestCase {
    func testACardMissingBusyOrUnpluggedIsPlayedAgainOnScheduleWhenItReturns() throws {
        let scratch = try Scratch("cardgone")
        let wav = try scratch.write("clicks.wav", bytes: ClickTrack.wav())
        let port = freePort()
        let state = scratch.file("card.state")
        func card(_ word: String?) {
            if let word { try? word.write(toFile: state, atomically: true, encoding: .utf8) } else { unlink(state) }
        }
        card("gone")
        let recording = try scratch.virtualCard("card", delayMicroseconds: 1_000, state: state)
        let host = try Daemon("mshost", config: try scratch.write("host.json", Configs.host(port: port, source: "wav:" + wav, loop: true)), scratch: scratch)
        XCTAssertTrue(host.waitFor("listening on port"))
        let receiver = try Daemon("msrecv", config: try scratch.write("recv.json", Configs.receiver(port: port, device: "card")), scratch: scratch)

        // Not there at boot: one line, and the session stays up.
        XCTAssertTrue(receiver.waitFor("cannot open audio output \"card\" (receiving.audio_output.device_id): snd_pcm_open: No such device"), receiver.log)
        XCTAssertTrue(receiver.waitFor("event=Connected"), receiver.log)
        // Held by another process: still the one line (an outage is logged once).
        card("busy")
        Thread.sleep(forTimeInterval: 1.5)
        // Back: playing within the backoff (at most 4 s; here within 1 s of the last try).
        card(nil)
        XCTAssertTrue(receiver.waitFor("audio output \"card\" is back after", timeout: 6), receiver.log)
        Thread.sleep(forTimeInterval: 3)

        // Unplugged mid-stream, back 1.5 s later.
        card("gone")
        XCTAssertTrue(receiver.waitFor("audio output \"card\" failed: ", timeout: 3), receiver.log)
        Thread.sleep(forTimeInterval: 1.5)
        card(nil)
        XCTAssertTrue(receiver.waitFor("audio output \"card\" is back after", times: 2, timeout: 6), receiver.log)
        Thread.sleep(forTimeInterval: 5)

        // Gone again, and the speaker is switched off meanwhile: SIGTERM within a second.
        card("gone")
        XCTAssertTrue(receiver.waitFor("audio output \"card\" failed: ", times: 2, timeout: 3), receiver.log)
        let asked = Date()
        receiver.signal(SIGTERM)
        XCTAssertEqual(receiver.waitForExit(), 0)
        let served = Date().timeIntervalSince(asked)
        host.signal(SIGTERM)
        _ = host.waitForExit()

        print(
            "sound card: \(receiver.log.split(separator: "\n").filter { $0.contains("audio output") }.joined(separator: " | ")); SIGTERM served in "
                + "\(Int(served * 1000)) ms"
        )
        XCTAssertLessThan(served, 1.0)
        XCTAssertEqual(receiver.count("cannot open audio output"), 1, "one line per outage: \(receiver.log)")
        XCTAssertEqual(receiver.count("event=Connected"), 1, "the session stayed up: \(receiver.log)")
        XCTAssertEqual(receiver.count("reconnecting"), 0, receiver.log)
        XCTAssertEqual(receiver.count("audio output \"card\" failed: playback: No such device"), 2, receiver.log)
        // The session, and with it the clock sync, went on through the outages: the card, opened
        // afresh, played on the host's schedule from its first click (the recording is its last
        // opening).
        let clicks = try ClickTrack.times(recording: recording)
        let errors = ClickTrack.errors(clicks, streamStart: try ClickTrack.streamStart(hostLog: host.log), latency: 200_000)
            .sorted { $0.key < $1.key }.map(\.value)
        print("sound card: clicks after the second return, errors (µs) \(errors.map { Int($0) })")
        XCTAssertGreaterThanOrEqual(errors.count, 4, "the card played after it came back")
        for e in errors { XCTAssertLessThan(abs(e), 500, "on schedule from the first click after the return: \(errors)") }
    }

    /// Without the right to real-time priority the audio thread still plays, and the log says
    /// once what to do about it.
    /// A 44.1 kHz stream plays at 44.1 kHz (the tone at its pitch); a card that runs at 48 kHz
    /// alone says which rates it takes and what to do, and the session goes on.
    func testA44100HzStreamPlaysAndACardThatCannotSaysWhatItTakes() throws {
        let scratch = try Scratch("rates")
        let port = freePort()
        let den = try scratch.virtualCard("den")
        _ = try scratch.virtualCard("fixed", rate: 48_000)
        let hostConfig = try scratch.write("host.json", Configs.host(port: port, source: "tone", rate: 44_100, frameMilliseconds: 10))
        let host = try Daemon("mshost", config: hostConfig, scratch: scratch)
        XCTAssertTrue(host.waitFor("listening on port"), host.log)
        let speaker = try Daemon("msrecv", config: try scratch.write("den.json", Configs.receiver(port: port, device: "den")), scratch: scratch, name: "den")
        let fixed = try Daemon(
            "msrecv", config: try scratch.write("fixed.json", Configs.receiver(port: port, device: "fixed")), scratch: scratch, name: "fixed")
        XCTAssertTrue(speaker.waitFor("pcm 44100 Hz"), speaker.log)
        XCTAssertTrue(
            fixed.waitFor(
                "cannot open audio output \"fixed\" (receiving.audio_output.device_id): it cannot play the stream's 44100 Hz (it plays 48000 Hz): "
                    + "play through a device that converts, \"plughw:…\" or a plug PCM in asound.conf"
            ), fixed.log)
        Thread.sleep(forTimeInterval: 2)
        stopAll([speaker, fixed, host])
        XCTAssertEqual(try VirtualCard.sidecar(den)["rate"], 44_100)
        // The tone's pitch: 440 Hz counted over the last second, in rising zero crossings of the left channel.
        let left = scratch.samples("den.wav").dropFirst(22).enumerated().filter { $0.offset % 2 == 0 }.map(\.element).suffix(44_100)
        XCTAssertEqual(left.count, 44_100)
        let crossings = zip(left, left.dropFirst()).filter { $0 < 0 && $1 >= 0 }.count
        XCTAssertEqual(crossings, 440, accuracy: 2, "a 440 Hz tone played at 44.1 kHz")
        XCTAssertTrue(fixed.log.contains("event=Connected"), "the session went on without the card: \(fixed.log)")
    }

    func testARefusedRealtimePriorityIsLoggedOnceWithWhatToDo() throws {
        let scratch = try Scratch("rtprio")
        let port = freePort()
        _ = scratch.recordingPCM("speaker")
        let host = try Daemon("mshost", config: try scratch.write("host.json", Configs.host(port: port, source: "tone")), scratch: scratch)
        XCTAssertTrue(host.waitFor("listening on port"))
        // Root may raise its priority whatever RLIMIT_RTPRIO says: take CAP_SYS_NICE away too.
        let config = try scratch.write("recv.json", Configs.receiver(port: port, device: "speaker"))
        let receiver = try Daemon(
            command: [
                "/usr/bin/prlimit", "--rtprio=0", "/usr/bin/setpriv", "--bounding-set=-sys_nice", "--inh-caps=-sys_nice",
                binDirectory + "/msrecv", "--config", config,
            ], scratch: scratch, name: "msrecv")
        XCTAssertTrue(receiver.waitFor("event=Connected"), receiver.log)
        XCTAssertTrue(receiver.waitFor("SCHED_FIFO was refused (RLIMIT_RTPRIO is 0)"), receiver.log)
        XCTAssertTrue(receiver.log.contains("LimitRTPRIO="), receiver.log)
        XCTAssertTrue(receiver.log.contains("audio thread normal priority"), receiver.log)
        Thread.sleep(forTimeInterval: 1)
        receiver.signal(SIGTERM)
        XCTAssertEqual(receiver.waitForExit(), 0)
        host.signal(SIGTERM)
        _ = host.waitForExit()
        XCTAssertEqual(receiver.count("SCHED_FIFO was refused"), 1, receiver.log)
        XCTAssertTrue(receiver.log.contains("msrecv: played "), receiver.log)
        XCTAssertFalse(receiver.log.contains("msrecv: played 0 packets"), "it played at normal priority: \(receiver.log)")
    }
}

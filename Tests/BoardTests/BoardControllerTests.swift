import Core
import Foundation
import Platform
import XCTest

@testable import Board

#if canImport(Glibc)
import Glibc
#endif

/// The board on simulated lines (`sim:DIR`, files holding each line's physical level), on a
/// stepped clock: presses go in as a person's fingers would make them, and the LEDs and the
/// amplifier line are read back from the files over time.
final class BoardControllerTests: XCTestCase {
    private var chip = ""
    private var logFile = ""
    private var log: Logger!

    override func setUpWithError() throws {
        chip = NSTemporaryDirectory() + "moosync-board-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: chip, withIntermediateDirectories: true)
        logFile = chip + ".log"
        let fd = open(logFile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        log = Logger(program: "test", descriptor: fd)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: chip)
        try? FileManager.default.removeItem(atPath: logFile)
    }

    private var logged: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    /// Buttons wired to ground with pull-ups (active low), LEDs and the amplifier active high.
    private func board(_ extra: (inout BoardSettings) -> Void = { _ in }) throws -> BoardController {
        var settings = BoardSettings()
        for (role, offset) in [("volume_up", 5), ("volume_down", 6), ("play_mute", 13)] {
            settings.buttons[role] = GPIOLineSpec(chip: "sim:" + chip, offset: offset, activeLow: true, bias: .pullUp)
        }
        settings.statusLED = GPIOLineSpec(chip: "sim:" + chip, offset: 20)
        settings.bufferLED = GPIOLineSpec(chip: "sim:" + chip, offset: 21)
        settings.amplifierPower = GPIOLineSpec(chip: "sim:" + chip, offset: 26)
        settings.amplifierIdle = 60_000_000
        extra(&settings)
        return try XCTUnwrap(BoardController.open(settings, log: log))
    }

    /// The physical level of line `offset`, as its file holds it.
    private func level(_ offset: Int) -> String {
        ((try? String(contentsOfFile: chip + "/\(offset)", encoding: .utf8)) ?? "?").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A finger on button line `offset` (active low: pressed pulls it to 0).
    private func finger(_ offset: Int, down: Bool) throws {
        try (down ? "0\n" : "1\n").write(toFile: chip + "/\(offset)", atomically: false, encoding: .utf8)
    }

    private func index(_ board: BoardController, _ role: ButtonRole) -> Int {
        board.inputs.firstIndex { $0?.role == role }!
    }

    /// Plays `touches` (ms, line, down) and runs the board's deadlines every millisecond, as the
    /// reactor would; what the buttons asked, with when (ms).
    private func play(_ board: BoardController, _ touches: [(ms: Int, offset: Int, down: Bool)], until end: Int) throws -> [(ms: Int, action: ButtonAction)] {
        let roles: [Int: ButtonRole] = [5: .volumeUp, 6: .volumeDown, 13: .playMute]
        var out: [(Int, ButtonAction)] = []
        var pending = touches[...]
        for ms in 0...end {
            let now = Microseconds(ms) * 1000
            while let touch = pending.first, touch.ms == ms {
                try finger(touch.offset, down: touch.down)
                let line = try XCTUnwrap(board.inputs[index(board, roles[touch.offset]!)]?.line.descriptor)
                var poll = pollfd(fd: line, events: Int16(POLLIN), revents: 0)
                XCTAssertEqual(Glibc.poll(&poll, 1, 1000), 1, "the line's descriptor wakes for the change")
                out += try XCTUnwrap(board.inputReady(index(board, roles[touch.offset]!), now: now)).map { (ms, $0) }
                pending = pending.dropFirst()
            }
            if let due = board.nextDeadline, due <= now { out += board.poll(now).map { (ms, $0) } }
        }
        return out
    }

    func testPressesThroughTheLinesAreDebouncedRepeatedAndALongPressMutes() throws {
        XCTAssertEqual(try board().inputs.count, 3)
        XCTAssertEqual(level(5), "1", "a button at rest reads its pull-up")
        // A bouncing press on volume up: one step once it has held 20 ms.
        let bounce = try play(board(), [(10, 5, true), (12, 5, false), (13, 5, true), (100, 5, false), (102, 5, true), (103, 5, false)], until: 300)
        XCTAssertEqual(bounce.map(\.action), [.volumeStep(1)])
        XCTAssertEqual(bounce.map(\.ms), [33])
        // A double press: two steps, 200 ms apart.
        let double = try play(board(), [(0, 5, true), (80, 5, false), (200, 5, true), (280, 5, false)], until: 600)
        XCTAssertEqual(double.map(\.action), [.volumeStep(1), .volumeStep(1)])
        XCTAssertEqual(double.map(\.ms), [20, 220])
        // Held: repeats; held on volume down for 2 s: mute, giving back the steps it took.
        let held = try play(board(), [(0, 6, true), (2_500, 6, false)], until: 2_600)
        XCTAssertEqual(held.last?.action, .mute(restoringSteps: 11), "\(held)")
        XCTAssertEqual(held.last?.ms, 2_000)
        // Play/mute toggles, once per press.
        let toggles = try play(board(), [(0, 13, true), (100, 13, false), (400, 13, true), (500, 13, false)], until: 600)
        XCTAssertEqual(toggles.map(\.action), [.toggleMute, .toggleMute])
    }

    /// The LED's level (0 or 1) every `step` ms from `from` to `to`, polling the board at its
    /// deadlines in between.
    private func watch(_ board: BoardController, _ offset: Int, from: Int, to: Int, step: Int) -> String {
        var seen = ""
        var ms = from
        while ms <= to {
            let now = Microseconds(ms) * 1000
            while let due = board.nextDeadline, due <= now { _ = board.poll(due) }
            seen += level(offset)
            ms += step
        }
        return seen
    }

    func testTheStatusLEDShowsWhatTheSpeakerDoes() throws {
        let board = try board()
        board.show(SpeakerState(activity: .idle), now: 0)
        XCTAssertEqual(level(20), "0", "idle: off")
        board.show(SpeakerState(activity: .searching), now: 1_000_000)
        // 1 Hz: lit for the first half of each second, from when searching began.
        XCTAssertEqual(watch(board, 20, from: 1_000, to: 3_750, step: 250), "110011001100")
        board.show(SpeakerState(activity: .connecting), now: 4_000_000)
        // 4 Hz.
        XCTAssertEqual(watch(board, 20, from: 4_000, to: 4_875, step: 125), "10101010")
        board.show(SpeakerState(activity: .authenticationFailed), now: 5_000_000)
        XCTAssertEqual(watch(board, 20, from: 5_000, to: 5_375, step: 125), "1010")
        board.show(SpeakerState(activity: .playing, bufferHealth: 0.9), now: 6_000_000)
        XCTAssertEqual(watch(board, 20, from: 6_000, to: 8_000, step: 250), "111111111", "playing: solid")
    }

    func testTheBufferLEDBlinksAfterAnUnderrunAndGoesOutWhenTheBufferRunsLow() throws {
        let board = try board()
        board.show(SpeakerState(activity: .searching), now: 0)
        XCTAssertEqual(level(21), "0", "no stream: off")
        board.show(SpeakerState(activity: .playing, bufferHealth: 0.9, underruns: 0), now: 1_000_000)
        XCTAssertEqual(level(21), "1", "healthy: solid")
        board.show(SpeakerState(activity: .playing, bufferHealth: 0.9, underruns: 1), now: 2_000_000)
        XCTAssertEqual(watch(board, 21, from: 2_000, to: 3_750, step: 250), "11001100", "an underrun: blinking")
        // Ten seconds after the underrun it is solid again.
        _ = watch(board, 21, from: 3_750, to: 11_900, step: 50)
        board.show(SpeakerState(activity: .playing, bufferHealth: 0.9, underruns: 1), now: 12_100_000)
        XCTAssertEqual(level(21), "1")
        board.show(SpeakerState(activity: .playing, bufferHealth: 0.2, underruns: 1), now: 13_000_000)
        XCTAssertEqual(level(21), "0", "below a quarter full: off")
    }

    func testTheAmplifierIsOnBeforeTheStreamAndOffAfterItsIdleTime() throws {
        let board = try board()
        board.show(SpeakerState(activity: .searching), now: 0)
        XCTAssertEqual(level(26), "0", "nothing played yet: off")
        board.show(SpeakerState(activity: .playing, bufferHealth: 0), now: 1_000_000)
        XCTAssertEqual(level(26), "1", "on as the stream starts")
        board.show(SpeakerState(activity: .searching), now: 5_000_000)
        XCTAssertEqual(
            watch(board, 26, from: 5_000, to: 65_000, step: 1_000), String(repeating: "1", count: 60) + "0",
            "on for amp_idle (60 s) of silence after the stream, to the second")
        // A stream that comes back within the idle time keeps it on throughout.
        board.show(SpeakerState(activity: .playing), now: 70_000_000)
        board.show(SpeakerState(activity: .searching), now: 80_000_000)
        board.show(SpeakerState(activity: .playing), now: 100_000_000)
        XCTAssertEqual(watch(board, 26, from: 100_000, to: 200_000, step: 5_000), String(repeating: "1", count: 21))
    }

    func testActiveLowOutputsAreDrivenLowWhenLit() throws {
        let board = try board { $0.statusLED?.activeLow = true }
        board.show(SpeakerState(activity: .idle), now: 0)
        XCTAssertEqual(level(20), "1", "an LED to the supply is off when its line is high")
        board.show(SpeakerState(activity: .playing), now: 1_000_000)
        XCTAssertEqual(level(20), "0")
    }

    func testLinesThatCannotBeHadAreNamedAndTheRestWork() throws {
        let board = try board {
            $0.buttons["volume_up"] = GPIOLineSpec(chip: "gpiochip97", offset: 5)
            $0.buttons["play_mute"] = GPIOLineSpec(chip: "pinctrl-bcm2711", offset: 13)
            $0.bufferLED = GPIOLineSpec(chip: "sim:/nonexistent/moosync", offset: 21)
        }
        let text = logged
        XCTAssertTrue(
            text.contains("error: board.buttons.volume_up: no GPIO chip \"gpiochip97\" (/dev/gpiochip97 does not exist); the speaker plays without it"), text)
        XCTAssertTrue(text.contains("error: board.buttons.play_mute: no GPIO chip labelled \"pinctrl-bcm2711\""), text)
        XCTAssertTrue(text.contains("error: board.leds.buffer: no simulated GPIO chip \"/nonexistent/moosync\""), text)
        XCTAssertEqual(board.inputs.compactMap { $0?.role }, [.volumeDown], "the button that could be had works")
        board.show(SpeakerState(activity: .playing), now: 0)
        XCTAssertEqual(level(20), "1", "the status LED works")
    }

    /// libgpiod's own errors, on what this machine has: no GPIO chip at all.
    func testTheLibgpiodBackendSaysWhatIsWrong() throws {
        func failure(_ chip: String, output: Bool = false) -> String {
            do {
                _ = try openGPIOLine(GPIOLineSpec(chip: chip, offset: 3), output: output, consumer: "test")
                return "opened"
            } catch {
                return error.description
            }
        }
        XCTAssertEqual(failure("gpiochip9"), "no GPIO chip \"gpiochip9\" (/dev/gpiochip9 does not exist)")
        XCTAssertEqual(failure("4", output: true), "no GPIO chip \"4\" (/dev/gpiochip4 does not exist)")
        XCTAssertEqual(failure("/dev/null"), "/dev/null is not a GPIO chip")
        XCTAssertTrue(failure("raspberrypi-exp-gpio").hasPrefix("no GPIO chip labelled \"raspberrypi-exp-gpio\""))
        // The messages for what a real chip can refuse, as libgpiod reports it by errno.
        let refusals = [
            (EBUSY, "line 17 of gpiochip0 is in use by another program (see gpioinfo)"),
            (EACCES, "no permission to use /dev/gpiochip0: run msrecv as a member of the group owning it (\"gpio\" on Raspberry Pi OS and Debian's image)"),
            (EINVAL, "gpiochip0 has no line 17"),
        ]
        for (code, message) in refusals {
            XCTAssertEqual(GPIOError(Errno(code), chip: "gpiochip0", path: "/dev/gpiochip0", offset: 17).description, message)
        }
    }
}

import Board
import Core
import XCTest

/// The buttons as people press them, on a stepped clock: bounce, a press, a hold, a long press,
/// a double press.
final class ButtonsTests: XCTestCase {
    /// Feeds levels at the given times (ms) and polls every millisecond in between, as the
    /// reactor would at each deadline; the actions, with when they came (ms).
    private func run(_ buttons: inout Buttons, _ levels: [(ms: Int, role: ButtonRole, pressed: Bool)], until end: Int) -> [(ms: Int, action: ButtonAction)] {
        var out: [(Int, ButtonAction)] = []
        var pending = levels[...]
        for ms in 0...end {
            let now = Microseconds(ms) * 1000
            while let next = pending.first, next.ms == ms {
                out += buttons.level(next.role, pressed: next.pressed, at: now).map { (ms, $0) }
                pending = pending.dropFirst()
            }
            if let due = buttons.nextDeadline, due <= now { out += buttons.poll(now).map { (ms, $0) } }
        }
        return out
    }

    func testABouncingPressIsOneStepWhenItHasSettled() {
        var buttons = Buttons()
        // Contacts chatter for 6 ms, then hold for 100 ms; the release bounces too.
        let bounce: [(Int, ButtonRole, Bool)] = [
            (10, .volumeUp, true), (12, .volumeUp, false), (13, .volumeUp, true), (16, .volumeUp, false),
            (16, .volumeUp, true), (116, .volumeUp, false), (118, .volumeUp, true), (119, .volumeUp, false),
        ]
        let actions = run(&buttons, bounce.map { (ms: $0.0, role: $0.1, pressed: $0.2) }, until: 400)
        XCTAssertEqual(actions.map(\.action), [.volumeStep(1)])
        XCTAssertEqual(actions.first?.ms, 36, "once it has held 20 ms")
    }

    func testHoldingRepeatsAndALongPressOnVolumeDownMutes() {
        var buttons = Buttons()
        let up = run(&buttons, [(0, .volumeUp, true), (1_000, .volumeUp, false)], until: 1_200)
        // One step once the press has settled (20 ms), repeats from half a second after it began,
        // every 150 ms, until the release at 1 s.
        XCTAssertEqual(up.map(\.ms), [20, 500, 650, 800, 950])
        XCTAssertTrue(up.allSatisfy { $0.action == .volumeStep(1) })

        var down = Buttons()
        let held = run(&down, [(0, .volumeDown, true), (3_000, .volumeDown, false)], until: 3_200)
        let steps = held.filter { $0.action == .volumeStep(-1) }
        XCTAssertEqual(held.last?.action, .mute(restoringSteps: 11), "the steps it took are given back: \(held)")
        XCTAssertEqual(held.last?.ms, 2_000)
        XCTAssertEqual(steps.count, 11, "one at once, ten repeats before the long press: \(held)")
        XCTAssertFalse(held.contains { $0.ms > 2_000 }, "muted: no more steps while it is held")
    }

    func testPlayMuteTogglesOnEachPressAndADoublePressIsTwo() {
        var buttons = Buttons()
        let actions = run(&buttons, [(0, .playMute, true), (80, .playMute, false), (200, .playMute, true), (260, .playMute, false)], until: 400)
        XCTAssertEqual(actions.map(\.action), [.toggleMute, .toggleMute])
        XCTAssertEqual(actions.map(\.ms), [20, 220])
    }

    func testNothingIsDueWhileNothingIsHeld() {
        var buttons = Buttons()
        XCTAssertNil(buttons.nextDeadline)
        _ = buttons.level(.volumeUp, pressed: true, at: 0)
        XCTAssertEqual(buttons.nextDeadline, 20_000)
        _ = buttons.poll(20_000)
        XCTAssertEqual(buttons.nextDeadline, 500_000)
        _ = buttons.level(.volumeUp, pressed: false, at: 100_000)
        _ = buttons.poll(120_000)
        XCTAssertNil(buttons.nextDeadline)
    }
}

final class LEDTests: XCTestCase {
    /// The LED's level sampled every 50 ms over a second, from when the pattern began.
    private func sampled(_ pattern: LEDPattern) -> String {
        (0..<20).map { pattern.isLit(at: Microseconds($0) * 50_000 + 7_000_000, since: 7_000_000) ? "#" : "." }.joined()
    }

    func testEachActivityHasItsPattern() {
        XCTAssertEqual(sampled(SpeakerActivity.idle.statusLED), "....................")
        XCTAssertEqual(sampled(SpeakerActivity.searching.statusLED), "##########..........", "1 Hz")
        XCTAssertEqual(sampled(SpeakerActivity.connecting.statusLED), "###..###..###..###..", "4 Hz")
        XCTAssertEqual(SpeakerActivity.authenticationFailed.statusLED, .fastBlink)
        XCTAssertEqual(sampled(SpeakerActivity.playing.statusLED), "####################")
        XCTAssertEqual(LEDPattern.fastBlink.nextChange(after: 7_130_000, since: 7_000_000), 7_250_000)
        XCTAssertNil(LEDPattern.on.nextChange(after: 0, since: 0))
    }

    func testTheBufferLEDShowsHealthUnderrunsAndAStarvingBuffer() {
        var led = BufferHealthLED()
        XCTAssertEqual(led.pattern(health: nil, underruns: 0, now: 0), .off, "no stream")
        XCTAssertEqual(led.pattern(health: 0.6, underruns: 0, now: 1_000_000), .on)
        XCTAssertEqual(led.pattern(health: 0.6, underruns: 1, now: 2_000_000), .slowBlink, "an underrun")
        XCTAssertEqual(led.pattern(health: 0.6, underruns: 1, now: 11_000_000), .slowBlink)
        XCTAssertEqual(led.pattern(health: 0.6, underruns: 1, now: 12_000_000), .on, "ten seconds later")
        XCTAssertEqual(led.pattern(health: 0.2, underruns: 1, now: 13_000_000), .off, "below a quarter")
    }

    func testTheAmplifierIsOnBeforeTheFirstSoundAndOffAfterItsIdleTime() {
        var amp = AmplifierPower(idle: 300_000_000)
        XCTAssertFalse(amp.isOn)
        amp.sound()
        XCTAssertTrue(amp.isOn)
        XCTAssertNil(amp.nextDeadline)
        amp.silence(at: 10_000_000)
        amp.silence(at: 20_000_000)
        XCTAssertEqual(amp.nextDeadline, 310_000_000, "from when the silence began")
        amp.poll(309_000_000)
        XCTAssertTrue(amp.isOn)
        amp.poll(310_000_000)
        XCTAssertFalse(amp.isOn)
    }
}

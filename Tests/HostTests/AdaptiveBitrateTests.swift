import Codec
import Config
import Core
import ProtocolMessages
import Transport
import XCTest

@testable import Host

/// The adaptive host's two halves: the controller that moves a receiver among the Opus tiers
/// on what its STATUS and send queue say, and the encoder whose tiers a receiver's one decoder
/// can be switched between without a click.
final class AdaptiveBitrateTests: XCTestCase {
    private let tiers = [256_000, 128_000, 64_000, 32_000]

    private func status(loss: Double = 0, rtt: Int = 5_000, underruns: Int = 0) -> Status {
        var s = Status()
        s.packetLoss = loss
        s.roundTripMicroseconds = rtt
        s.underruns = underruns
        return s
    }

    func testLossOverFivePercentStepsDownATierAtMostEveryThreeSecondsToTheLast() {
        var c = BitrateController(bitrates: tiers)
        XCTAssertNil(c.observe(status(loss: 0.05), queued: 0, now: 0), "5 % is not over the limit")
        XCTAssertEqual(c.observe(status(loss: 0.08), queued: 0, now: 1_000_000), .init(tier: 1, why: "8 % of its packets lost or late"))
        // What was queued at the old bitrate is still late for a while.
        XCTAssertNil(c.observe(status(loss: 0.2), queued: 0, now: 2_000_000))
        XCTAssertNil(c.observe(status(loss: 0.2), queued: 0, now: 3_999_999))
        XCTAssertEqual(c.observe(status(loss: 0.2), queued: 0, now: 4_000_000)?.tier, 2)
        XCTAssertEqual(c.observe(status(loss: 0.2), queued: 0, now: 7_000_000)?.tier, 3)
        XCTAssertNil(c.observe(status(loss: 0.9), queued: 0, now: 10_000_000), "there is no tier below the last")
        XCTAssertEqual(c.bitrate, 32_000)
    }

    func testALongRoundTripAndAQueueThePathDoesNotTakeStepDownAndACardRunDryDoesNot() {
        var c = BitrateController(bitrates: tiers)
        XCTAssertNil(c.observe(status(rtt: 200_000), queued: 250_000, now: 0), "at the limits, not over")
        XCTAssertEqual(c.observe(status(rtt: 250_000), queued: 0, now: 1_000_000)?.why, "round trip 250ms")
        XCTAssertEqual(c.observe(status(), queued: 400_000, now: 5_000_000)?.why, "400ms of audio waiting for the path")
        XCTAssertNil(c.observe(status(underruns: 5), queued: 0, now: 9_000_000), "the speaker's own trouble, not the path's")
        XCTAssertEqual(c.tier, 2)
    }

    func testACleanPathStepsUpAfterTenSecondsAndAStepUpThatFailsDoublesTheWait() {
        var c = BitrateController(bitrates: tiers)
        XCTAssertEqual(c.observe(status(loss: 0.1), queued: 0, now: 0)?.tier, 1)
        // Clean from 1 s; a second of 2 % loss (not trouble, not clean) starts the count again.
        for t in 1...5 { XCTAssertNil(c.observe(status(), queued: 0, now: Microseconds(t) * 1_000_000)) }
        XCTAssertNil(c.observe(status(loss: 0.02), queued: 0, now: 6_000_000))
        for t in 7...16 { XCTAssertNil(c.observe(status(), queued: 0, now: Microseconds(t) * 1_000_000), "\(t)") }
        XCTAssertEqual(c.observe(status(), queued: 0, now: 17_000_000), .init(tier: 0, why: "the path has been clean for 10s"))
        // The best tier is too much: trouble within 30 s of the step up.
        XCTAssertEqual(c.observe(status(loss: 0.3), queued: 0, now: 20_000_000)?.tier, 1)
        XCTAssertEqual(c.upHold, 20_000_000)
        for t in 21...40 { XCTAssertNil(c.observe(status(), queued: 0, now: Microseconds(t) * 1_000_000), "\(t)") }
        XCTAssertEqual(c.observe(status(), queued: 0, now: 41_000_000)?.tier, 0)
        // A round trip over 100 ms is not clean either (the hysteresis under the 200 ms limit).
        XCTAssertEqual(c.observe(status(loss: 0.3), queued: 0, now: 100_000_000)?.tier, 1, "trouble long after a step up")
        XCTAssertEqual(c.upHold, 20_000_000, "the step up had held: the wait stays")
        for t in 101...140 { XCTAssertNil(c.observe(status(rtt: 120_000), queued: 0, now: Microseconds(t) * 1_000_000)) }
    }

    /// A decoder fed one tier and then another plays the tone through the switch with no more
    /// error than either tier has anyway, once the new tier's encoder has run for the warm-up;
    /// fed a tier at its first frame, it clicks (what the warm-up prevents).
    func testSwitchingTiersAfterTheWarmUpMakesNoClick() throws {
        var settings = SharingSettings()
        settings.adaptiveBitrate = true
        settings.bitrate = 128_000
        let encoder = try FrameEncoder(settings: settings)
        XCTAssertEqual(encoder.opusBitrates, [128_000, 64_000, 32_000])
        let frame = encoder.frameSamples
        let decoder = try OpusDecoderHandle(sampleRate: 48_000, channels: 2)
        let out = UnsafeMutableBufferPointer<Float>.allocate(capacity: 5_760 * 2)
        defer { out.deallocate() }
        func source(_ i: Int) -> Int16 {
            let t = Double(i) / 48_000
            return Int16((0.3 * sin(2 * .pi * 440 * t) + 0.2 * sin(2 * .pi * 1234.5 * t) + 0.1 * sin(2 * .pi * 5000 * t)) * 20_000)
        }
        // Frame 0–99 tier 0; 100–149 tier 1 (encoding from 98, warm at 100); 150–199 tier 0
        // again; 200–249 tier 2, encoded from its first frame at 200 (cold).
        var errors: [Double] = []
        for sequence in 0..<250 {
            for i in 0..<frame {
                let s = source(sequence * frame + i)
                encoder.pcm[2 * i] = s
                encoder.pcm[2 * i + 1] = s
            }
            var tiers = SmallSet()
            tiers.insert(0)
            if (98..<150).contains(sequence) { tiers.insert(1) }
            if sequence >= 200 { tiers.insert(2) }
            let frames = encoder.encode(sequence: UInt64(sequence), for: SmallSet([.opus]), tiers: tiers)
            XCTAssertEqual(encoder.isWarm(1, at: UInt64(sequence)), (100..<150).contains(sequence), "\(sequence)")
            let tier = (100..<150).contains(sequence) ? 1 : sequence >= 200 ? 2 : 0
            let packet = try XCTUnwrap(frames[.opus, tier: tier])
            let body = UnsafeRawBufferPointer(rebasing: packet[WireProtocol.frameHeaderSize...])
            let payload = UnsafeRawBufferPointer(rebasing: body[try XCTUnwrap(AudioPacketHeader.extensions(of: body, flags: packet[1])).dataOffset...])
            XCTAssertEqual(decoder.decode(payload, into: out, maxFrames: 5_760), Int32(frame))
            var worst = 0.0
            for i in 0..<frame {
                let at = sequence * frame + i - encoder.opusDelay
                worst = max(worst, abs(Double(out[2 * i]) - (at >= 0 ? Double(source(at)) / 32_768 : 0)))
            }
            errors.append(worst)
        }
        let steady = (errors[50..<100] + errors[120..<150] + errors[170..<200]).max()!
        let atSwitches = [errors[100], errors[101], errors[150], errors[151]]
        print(
            "tier switch: worst error at the switches \(atSwitches.map { String(format: "%.3f", $0) }), steady \(String(format: "%.3f", steady)), "
                + "cold \(String(format: "%.3f", errors[200]))"
        )
        XCTAssertLessThan(atSwitches.max()!, steady * 1.2, "no click at a warm switch")
        XCTAssertGreaterThan(errors[200], steady * 4, "the instrument hears the click of a cold one")
    }
}

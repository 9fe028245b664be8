import Audio
import Core
import Foundation
import Platform
import XCTest

/// Low latency holds up, and drift compensation is inaudible (issue 4 §4 and §5): real mshost
/// and msrecv, the real ALSA backend on the virtual card.
final class LatencyAndPurityTests: XCTestCase {
    /// 30 ms from the host's clock to the DAC: 10 ms frames, a 20 ms device buffer. A VM that
    /// stops every thread for half the device buffer can make any player run dry, and the host
    /// late. A watcher at real-time priority records such stalls, and the run may lose only
    /// what they explain: each underrun of the card falls in a stall or within the 30 ms after
    /// it (while the host catches up), one at most per stall, and the packets lost (concealed, or skipped as late
    /// once playing; the host's recent past already due at the start is passed over, not lost) are
    /// at most those a stall held up: one per 10 ms of it, plus the two in flight. A run without
    /// stalls loses nothing.
    func testThirtyMillisecondsOfLatencyPlaysAMinuteWithoutAnUnderrun() throws {
        let seconds = Double(ProcessInfo.processInfo.environment["MOOSYNC_LATENCY_SECONDS"] ?? "") ?? 60
        let scratch = try Scratch("latency")
        let port = freePort()
        let recording = try scratch.virtualCard("card", ppm: 100, delayMicroseconds: 500)
        let watch = StallWatch(reportingLongerThan: 10_000)
        let (_, receiver) = try stream(
            for: seconds, host: Configs.host(port: port, source: "tone:440", codec: "opus", frameMilliseconds: 10),
            receiver: Configs.receiver(port: port, device: "card", buffer: "30ms"), scratch: scratch)
        let stalls = watch.stop()
        let sidecar = try VirtualCard.sidecar(recording)
        let played = try XCTUnwrap(sidecar["frames"]) / 48_000
        let cardUnderruns = Int(try XCTUnwrap(sidecar["underruns"]))
        let summary = String(receiver.log.split(separator: "\n").last { $0.contains("played ") } ?? "")
        let lost = try XCTUnwrap(Self.count("concealed", in: summary), summary) + XCTUnwrap(Self.count("late", in: summary), summary)
        let reportedUnderruns = try XCTUnwrap(Self.count("underruns", in: summary), summary)
        let unexplained = try VirtualCard.underrunTimes(recording).filter { dry in
            !stalls.contains { $0.start <= dry && dry <= $0.end + 30_000 }
        }
        let explained = stalls.reduce(0) { $0 + Int(($1.end - $1.start) / 10_000) + 2 }
        print(
            "latency 30 ms, \(Int(seconds)) s: card played \(played) s, card underruns \(cardUnderruns); \(summary); "
                + "stalls of this machine over 10 ms (µs): \(stalls.map { $0.end - $0.start }); the longest \(watch.longestStall) µs")

        XCTAssertGreaterThan(played, seconds - 2)
        XCTAssertEqual(unexplained, [], "the card ran dry only while this machine stood still: \(summary)")
        XCTAssertLessThanOrEqual(cardUnderruns, stalls.count, "at most one underrun per stall: \(summary)")
        XCTAssertEqual(reportedUnderruns, cardUnderruns, "msrecv noticed every underrun")
        XCTAssertLessThanOrEqual(lost, explained, "packets were lost only when a stall held them up: \(summary)")
    }

    /// The number after `name ` in msrecv's summary line.
    private static func count(_ name: String, in summary: String) -> Int? {
        guard let range = summary.range(of: name + " ") else { return nil }
        return Int(summary[range.upperBound...].prefix { $0.isNumber })
    }

    func testASinePlayedThroughACardThreeHundredPPMFastStaysPure() throws {
        try playSine(ppm: 300)
    }

    func testASinePlayedThroughACardThreeHundredPPMSlowStaysPure() throws {
        try playSine(ppm: -300)
    }

    /// 1 kHz at −12 dBFS, looped seamlessly (1000 whole cycles a second), PCM so that the
    /// resampler is the only thing between source and card.
    private func playSine(ppm: Double) throws {
        let scratch = try Scratch("purity")
        let amplitude = 8_000.0
        let hz = 1_000.0
        let left = try playLooped(TestAudio.sine(hz: hz, seconds: 1, rate: 48_000, channels: 2), throughCardAt: ppm, scratch: scratch)
        // From 5 s on, while the controller is still steering.
        XCTAssertGreaterThan(left.count, 12 * 48_000)
        let steady = Array(left[(5 * 48_000)..<(12 * 48_000)])
        let largestStep = zip(steady, steady.dropFirst()).map { abs($1 - $0) }.max() ?? 0
        // The sine's own steepest step, plus a least significant bit of rounding either side and
        // one of dither either side (the card takes S16).
        let sineStep = amplitude * 2 * sin(Double.pi * hz / 48_000) + 4
        var worstSpur = -Double.infinity
        for segment in 0..<4 {
            let start = segment * 65_536
            worstSpur = max(worstSpur, Spectrum.largestSpur(Array(steady[start..<(start + 65_536)]), excluding: hz, rate: 48_000))
        }
        print(
            "purity \(ppm) ppm: largest sample step \(Int(largestStep)) (the sine's own \(Int(sineStep))), largest spur "
                + "\(String(format: "%.1f", worstSpur)) dBFS"
        )
        XCTAssertLessThanOrEqual(largestStep, sineStep, "no click")
        XCTAssertLessThan(worstSpur, -90, "no spur above −90 dBFS")
    }
}

/// Loops one second of 48 kHz stereo from mshost to msrecv (PCM, 200 ms) for 13 s, through a
/// virtual card `ppm` fast with a 1 ms delay, and returns the left channel it played.
func playLooped(_ samples: [Int16], throughCardAt ppm: Double, scratch: Scratch) throws -> [Double] {
    let wav = try scratch.write("loop.wav", bytes: WAVAudio(sampleRate: 48_000, channels: 2, samples: samples).encoded())
    let port = freePort()
    let recording = try scratch.virtualCard("card", ppm: ppm, delayMicroseconds: 1_000)
    _ = try stream(
        for: 13, host: Configs.host(port: port, source: "wav:" + wav, loop: true),
        receiver: Configs.receiver(port: port, device: "card", buffer: "200ms"), scratch: scratch)
    let recorded = try WAVAudio.parse(Array(try Data(contentsOf: URL(fileURLWithPath: recording))))
    return stride(from: 0, to: recorded.samples.count, by: 2).map { Double(recorded.samples[$0]) }
}

/// The drift resampler across the band (issue 10): four tones at once through cards at ±300 ppm,
/// each tone's worst sideband from 10 Hz to 300 Hz away, relative to the tone, and how much the
/// controller's ratio wobbles (from the 18 kHz tone's phase, 100 ms at a time). Goal: −90 dBc up
/// to 12 kHz and −80 dBc at 18 kHz; libsamplerate's sinc converters hold about −97 dB.
final class BandPurityTests: XCTestCase {
    static let tones = [1_000.0, 6_000.0, 12_000.0, 18_000.0]

    func testFourTonesThroughACardThreeHundredPPMFast() throws { try playTones(ppm: 300) }

    func testFourTonesThroughACardThreeHundredPPMSlow() throws { try playTones(ppm: -300) }

    private func playTones(ppm: Double) throws {
        let scratch = try Scratch("band")
        // Whole cycles in a second, so the one-second loop is seamless; −20 dBFS each.
        var samples = [Int16](repeating: 0, count: 48_000 * 2)
        for f in 0..<48_000 {
            let v = Self.tones.reduce(0.0) { $0 + 3_277 * sin(2 * .pi * $1 * Double(f) / 48_000) }
            samples[2 * f] = Int16(v.rounded())
            samples[2 * f + 1] = Int16(v.rounded())
        }
        let left = try playLooped(samples, throughCardAt: ppm, scratch: scratch)
        let n = 1 << 18  // 5.5 s: 0.18 Hz a bin
        XCTAssertGreaterThan(left.count, 5 * 48_000 + n)
        let steady = Array(left[(5 * 48_000)..<(5 * 48_000 + n)])
        let spectrum = Spectrum.levels(steady)
        var report: [String] = []
        var highest = 0.0
        for hz in Self.tones {
            let (tone, sideband, toneHz) = Spectrum.worstSideband(spectrum, near: hz, rate: 48_000, from: 10, to: 300)
            highest = toneHz
            report.append("\(Int(hz / 1000)) kHz \(String(format: "%.1f", sideband - tone)) dBc")
            XCTAssertLessThan(sideband - tone, hz <= 12_000 ? -90 : -80, "\(Int(hz)) Hz at \(ppm) ppm: \(report)")
        }
        // Where the 18 kHz tone is in the recording: the card's rate is not the nominal one.
        let wobble = Spectrum.frequencyWobble(steady, hz: highest, rate: 48_000, block: 4_800)
        print(
            "band purity \(ppm) ppm: worst sideband 10–300 Hz from each tone: \(report.joined(separator: ", ")); ratio wobble (18 kHz phase in 100 "
                + "ms blocks, trend removed) rms \(String(format: "%.2f", wobble.rms)) ppm, peak \(String(format: "%.2f", wobble.peak)) ppm"
        )
    }
}

/// Records when this machine stops running a real-time thread: on each CPU, pinned there, a
/// thread sleeps 1 ms at a time at SCHED_FIFO priority and keeps every overshoot longer than a
/// threshold, on CLOCK_MONOTONIC. A VM's host may take all its CPUs away or one, and a daemon's
/// thread may be on any.
final class StallWatch: @unchecked Sendable {
    struct Stall { var start: Microseconds, end: Microseconds }

    private let stopFlag = StopFlag()
    private let lock = NSLock()
    private var stalls: [Stall] = []
    /// The longest any watcher overslept, reported or not, µs.
    var longestStall: Microseconds { lock.withLock { longest } }
    private var longest: Microseconds = 0
    private let done = DispatchSemaphore(value: 0)
    private let cpus = max(sysconf(Int32(_SC_NPROCESSORS_ONLN)), 1)
    /// sched_setaffinity(2), which Swift's Glibc module leaves out (it needs _GNU_SOURCE).
    private static let setAffinity = dlsym(nil, "sched_setaffinity").map {
        unsafeBitCast($0, to: (@convention(c) (pid_t, Int, UnsafePointer<cpu_set_t>) -> Int32).self)
    }

    init(reportingLongerThan threshold: Microseconds) {
        for cpu in 0..<cpus {
            let thread = Thread { [self] in
                var mask = cpu_set_t()
                withUnsafeMutableBytes(of: &mask) { $0[cpu / 8] = UInt8(1) << (cpu % 8) }
                _ = withUnsafePointer(to: &mask) { StallWatch.setAffinity?(0, MemoryLayout<cpu_set_t>.size, $0) }
                var param = sched_param(sched_priority: 10)
                _ = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param)
                let clock = SystemClock()
                while !stopFlag.isSet {
                    let start = clock.now()
                    clock.sleep(until: start + 1_000)
                    let end = clock.now()
                    let overshoot = end - start - 1_000
                    lock.withLock {
                        longest = max(longest, overshoot)
                        if overshoot > threshold { stalls.append(Stall(start: start, end: end)) }
                    }
                }
                done.signal()
            }
            thread.start()
        }
    }

    /// Stops watching; the stalls seen on any CPU, in order, those that overlap (one stall of
    /// the whole machine, seen on each CPU) as one.
    func stop() -> [Stall] {
        stopFlag.set()
        for _ in 0..<cpus { done.wait() }
        var merged: [Stall] = []
        for stall in lock.withLock({ stalls }).sorted(by: { $0.start < $1.start }) {
            if let last = merged.last, stall.start <= last.end {
                merged[merged.count - 1].end = max(last.end, stall.end)
            } else {
                merged.append(stall)
            }
        }
        return merged
    }
}

/// The spectrum of a recording, for purity checks: a radix-2 FFT under a 4-term
/// Blackman-Harris window (side lobes −92 dB), levels in dBFS (a full-scale sine is 0).
enum Spectrum {
    /// The loudest bin away from DC and from the tone at `excluding` Hz, dBFS.
    static func largestSpur(_ samples: [Double], excluding hz: Double, rate: Double) -> Double {
        precondition(samples.count > 0 && samples.count & (samples.count - 1) == 0, "a power of two")
        let spectrum = levels(samples)
        let toneBin = Int((hz / rate * Double(samples.count)).rounded())
        return (8..<spectrum.count).filter { abs($0 - toneBin) > 8 }.map { spectrum[$0] }.max() ?? -.infinity
    }

    /// Magnitudes of a windowed FFT, dBFS per bin (first half).
    static func levels(_ samples: [Double]) -> [Double] {
        let n = samples.count
        var re = [Double](repeating: 0, count: n)
        var im = [Double](repeating: 0, count: n)
        var gain = 0.0
        for i in 0..<n {
            let x = 2 * Double.pi * Double(i) / Double(n)
            let w = 0.35875 - 0.48829 * cos(x) + 0.14128 * cos(2 * x) - 0.01168 * cos(3 * x)
            re[i] = samples[i] * w
            gain += w
        }
        fft(&re, &im)
        let fullScale = 32_768 * gain / 2
        // In steps: Swift 6.0.3 cannot type-check it as one expression in reasonable time.
        return (0..<(n / 2)).map { bin -> Double in
            let magnitude: Double = (re[bin] * re[bin] + im[bin] * im[bin]).squareRoot() / fullScale
            return 20 * log10(max(magnitude, 1e-12))
        }
    }

    /// The tone's level (its loudest bin within 20 Hz of `hz`) and the loudest bin between
    /// `from` and `to` Hz away from it on either side, dBFS.
    static func worstSideband(_ levels: [Double], near hz: Double, rate: Double, from: Double, to: Double) -> (tone: Double, sideband: Double, toneHz: Double) {
        let binHz = rate / Double(levels.count * 2)
        let guess = Int(hz / binHz)
        let search = Int(20 / binHz)
        let peak = ((guess - search)...(guess + search)).max { levels[$0] < levels[$1] }!
        var worst = -Double.infinity
        for bin in (peak - Int(to / binHz))...(peak + Int(to / binHz)) where abs(bin - peak) >= Int(from / binHz) && bin > 0 && bin < levels.count {
            worst = max(worst, levels[bin])
        }
        return (levels[peak], worst, Double(peak) * binHz)
    }

    /// How the frequency of the tone near `hz` moves, block by block (its phase advance against
    /// the straight line through all of them), in ppm: rms and peak.
    static func frequencyWobble(_ samples: [Double], hz: Double, rate: Double, block: Int) -> (rms: Double, peak: Double) {
        var phases: [Double] = []
        var start = 0
        while start + block <= samples.count {
            var re = 0.0
            var im = 0.0
            for i in start..<(start + block) {
                let a = 2 * Double.pi * hz * Double(i) / rate
                re += samples[i] * cos(a)
                im -= samples[i] * sin(a)
            }
            phases.append(atan2(im, re))
            start += block
        }
        var advances = zip(phases, phases.dropFirst()).map { pair -> Double in
            var d = pair.1 - pair.0
            while d > Double.pi { d -= 2 * Double.pi }
            while d < -Double.pi { d += 2 * Double.pi }
            return d
        }
        // Against the straight line through them: a controller still converging is a slope, not
        // a wobble.
        let count = Double(max(advances.count, 2))
        let xs = advances.indices.map(Double.init)
        let mx = xs.reduce(0, +) / count
        let my = advances.reduce(0, +) / count
        let sxx = xs.map { ($0 - mx) * ($0 - mx) }.reduce(0, +)
        let sxy = zip(xs, advances).map { ($0 - mx) * ($1 - my) }.reduce(0, +)
        let slope = sxx > 0 ? sxy / sxx : 0
        advances = zip(xs, advances).map { ($1 - my - slope * ($0 - mx)) / (2 * Double.pi * Double(block) / rate) / hz * 1e6 }
        let rms = (advances.map { $0 * $0 }.reduce(0, +) / Double(max(advances.count, 1))).squareRoot()
        return (rms, advances.map(abs).max() ?? 0)
    }

    static func fft(_ re: inout [Double], _ im: inout [Double]) {
        let n = re.count
        var j = 0
        for i in 1..<n {
            var bit = n >> 1
            while j & bit != 0 {
                j ^= bit
                bit >>= 1
            }
            j |= bit
            if i < j {
                re.swapAt(i, j)
                im.swapAt(i, j)
            }
        }
        var length = 2
        while length <= n {
            let angle = -2 * Double.pi / Double(length)
            for start in stride(from: 0, to: n, by: length) {
                for k in 0..<(length / 2) {
                    let wr = cos(angle * Double(k))
                    let wi = sin(angle * Double(k))
                    let a = start + k
                    let b = a + length / 2
                    let tr = re[b] * wr - im[b] * wi
                    let ti = re[b] * wi + im[b] * wr
                    re[b] = re[a] - tr
                    im[b] = im[a] - ti
                    re[a] += tr
                    im[a] += ti
                }
            }
            length <<= 1
        }
    }
}

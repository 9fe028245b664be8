import Audio
import Core
import Foundation
import XCTest

/// A stream of sharp clicks, one a second, and when each of them left a virtual card's DAC: the
/// measure of every sync test (issue 4). Click m of the stream is due at the DAC at
/// `streamStart + m s + latency` on the host's clock.
enum ClickTrack {
    /// One second with a one-sample click at its start, stereo, as a WAV: silence otherwise, or
    /// a quiet 1 kHz tone (`bed` > 0), so that every frame is sound, and white noise of peak
    /// `noise` on both channels (what makes Opus spend every bit of its bitrate).
    static func wav(bed: Double = 0, noise: Int = 0) -> [UInt8] {
        var samples = [Int16](repeating: 0, count: 48_000 * 2)
        var seed: UInt32 = 1
        func random() -> Int {
            seed = seed &* 1_664_525 &+ 1_013_904_223
            return Int(seed >> 16) % (2 * noise + 1) - noise
        }
        for f in 0..<48_000 where bed > 0 || noise > 0 {
            let v = Int(bed * sin(2 * .pi * 1_000 * Double(f) / 48_000))
            samples[2 * f] = Int16(v + (noise > 0 ? random() : 0))
            samples[2 * f + 1] = Int16(v + (noise > 0 ? random() : 0))
        }
        samples[0] = 20_000
        samples[1] = 20_000
        return WAVAudio(sampleRate: 48_000, channels: 2, samples: samples).encoded()
    }

    /// When each click left the card, µs on the test's CLOCK_MONOTONIC. `monotonicOffset`: the
    /// card ran in a time namespace that many seconds ahead (its sidecar's t0 is on that clock).
    static func times(recording: String, monotonicOffset: Int = 0) throws -> [Double] {
        let sidecar = try VirtualCard.sidecar(recording)
        let t0 = try XCTUnwrap(sidecar["t0_monotonic_ns"]) / 1000 - Double(monotonicOffset) * 1e6
        let rate = try XCTUnwrap(sidecar["effective_rate"])
        let wav = try WAVAudio.parse(Array(try Data(contentsOf: URL(fileURLWithPath: recording))))
        var times: [Double] = []
        var f = 1
        let frames = wav.frameCount
        while f < frames - 1 {
            let v = Int(wav.samples[f * 2])
            if v > 5_000 && v >= Int(wav.samples[(f - 1) * 2]) && v >= Int(wav.samples[(f + 1) * 2]) {
                // Parabolic refinement around the peak: the resampler spreads a click over a few samples.
                let a = Double(wav.samples[(f - 1) * 2])
                let b = Double(v)
                let c = Double(wav.samples[(f + 1) * 2])
                let shift = (a - c) / (2 * (a - 2 * b + c))
                times.append(t0 + (Double(f) + (shift.isFinite ? shift : 0)) / rate * 1e6)
                f += 24_000
            } else {
                f += 1
            }
        }
        return times
    }

    /// The host's stream start, from its `StreamStarted` log line.
    static func streamStart(hostLog: String) throws -> Double {
        let field = try XCTUnwrap(hostLog.split(whereSeparator: { $0 == " " || $0 == "\n" }).first { $0.hasPrefix("stream_start_us=") })
        return try XCTUnwrap(Double(field.dropFirst("stream_start_us=".count).prefix { $0.isNumber }))
    }

    /// Each click's error against its due time (µs, positive late), by click number.
    static func errors(_ times: [Double], streamStart: Double, latency: Double) -> [Int: Double] {
        var byClick: [Int: Double] = [:]
        for t in times {
            let m = ((t - streamStart - latency) / 1e6).rounded()
            byClick[Int(m)] = t - (streamStart + m * 1e6 + latency)
        }
        return byClick
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }
}

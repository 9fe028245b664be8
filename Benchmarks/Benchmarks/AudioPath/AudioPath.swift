// The receiver's steady-state audio path, one 20 ms Opus packet per iteration:
// frame parsing → packet pool → jitter buffer → Opus decode → gain → sink, with the same code
// msrecv runs (AudioPathHarness). Mallocs per packet must be 0.
import AudioPathHarness
import Benchmark

nonisolated(unsafe) var harness: AudioPathHarness!

let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .instructions, .mallocCountTotal],
        warmupIterations: 500,
        maxDuration: .seconds(60),
        maxIterations: 10_000
    )

    // What the framework itself allocates around one iteration, to subtract from the next.
    Benchmark("Baseline: an empty iteration", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(harness) }
    } setup: {
        harness = try AudioPathHarness()
    }

    Benchmark(
        "Receiver audio path, one 20 ms Opus packet (48 kHz stereo, 128 kbit/s)",
        configuration: configuration
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            harness.run(packets: 1)
        }
    } setup: {
        harness = try AudioPathHarness()
    }
}

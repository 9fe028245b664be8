import AudioPathHarness

// Runs the receiver's audio path for the counted-allocation test: warms up, then counts heap
// allocations over N packets with the malloc counter that the test preloads (LD_PRELOAD).
#if canImport(Glibc)
import Glibc
#endif

typealias SetCounting = @convention(c) (CInt) -> Void
typealias ReadCount = @convention(c) () -> CLong

let packets = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 10_000 : 10_000
// `calibrate` also makes one heap allocation per packet, to prove the counter sees them.
let calibrate = CommandLine.arguments.dropFirst(2).first == "calibrate"
// `flac` runs a FLAC stream instead of Opus.
let flac = CommandLine.arguments.dropFirst(2).first == "flac"
// `resync` steps the host's clock forward and back by 12.3 ms, a third and two thirds of the
// way through: two resyncs, each a drop or an insert between fades.
let resync = CommandLine.arguments.dropFirst(2).first == "resync"
// `latency` has the host move the playout latency from 60 to 90 ms and back, likewise.
let latency = CommandLine.arguments.dropFirst(2).first == "latency"
guard let onSymbol = dlsym(nil, "moosync_alloc_counting"), let countSymbol = dlsym(nil, "moosync_alloc_count") else {
    print("audio-path-probe: no malloc counter loaded (run with LD_PRELOAD=libmalloccount.so)")
    exit(2)
}
let setCounting = unsafeBitCast(onSymbol, to: SetCounting.self)
let readCount = unsafeBitCast(countSymbol, to: ReadCount.self)

let harness = try AudioPathHarness(codec: flac ? .flac : .opus)
harness.run(packets: 500)  // warm-up: lazy runtime metadata, first decoder state
if resync {
    // The resync path's own first use, as the steady path's above.
    for step in [12_300, -12_300] {
        harness.stepHostClock(by: step)
        harness.run(packets: 250)
    }
}
if latency {
    for to in [90_000, 60_000] {
        harness.changeLatency(to: to)
        harness.run(packets: 250)
    }
}
let before = readCount()
setCounting(1)
if calibrate {
    for _ in 0..<packets {
        harness.run(packets: 1)
        let box = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        box.deallocate()
    }
} else if resync {
    // The steps themselves are the control thread's (the clock estimate): not counted.
    harness.run(packets: packets / 3)
    setCounting(0)
    harness.stepHostClock(by: 12_300)
    setCounting(1)
    harness.run(packets: packets / 3)
    setCounting(0)
    harness.stepHostClock(by: -12_300)
    setCounting(1)
    harness.run(packets: packets - 2 * (packets / 3))
} else if latency {
    harness.run(packets: packets / 3)
    harness.changeLatency(to: 90_000)
    harness.run(packets: packets / 3)
    harness.changeLatency(to: 60_000)
    harness.run(packets: packets - 2 * (packets / 3))
} else {
    harness.run(packets: packets)
}
setCounting(0)
let allocations = readCount() - before
print(
    "packets=\(packets) played=\(harness.packetsPlayed) concealed=\(harness.packetsConcealed) frames=\(harness.framesPlayed) "
        + "resyncs=\(harness.resyncs) latency_changes=\(harness.latencyChanges) allocations=\(allocations) checksum=\(harness.checksum)"
)

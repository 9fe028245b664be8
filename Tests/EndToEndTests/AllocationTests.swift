import Foundation
import XCTest

/// The receiver's steady-state audio path (frame parsing → pool → jitter buffer → Opus decode →
/// gain → sink) makes no heap allocation: counted by a malloc interposer this test builds.
final class AllocationTests: XCTestCase {
    private func buildCounter(_ scratch: Scratch) throws -> String {
        let library = scratch.file("libmalloccount.so")
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/cc")
        cc.arguments = ["-shared", "-fPIC", "-O2", "-o", library, packageRoot + "/Tests/Fixtures/malloc_counter.c"]
        try cc.run()
        cc.waitUntilExit()
        XCTAssertEqual(cc.terminationStatus, 0, "building the malloc counter")
        return library
    }

    private func probe(_ library: String, _ arguments: [String]) throws -> [String: Int] {
        let process = Process()
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: binDirectory + "/audio-path-probe")
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["LD_PRELOAD"] = library
        process.environment = env
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, output)
        var fields: [String: Int] = [:]
        for pair in output.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let kv = pair.split(separator: "=")
            if kv.count == 2, let v = Int(kv[1]) { fields[String(kv[0])] = v }
        }
        return fields
    }

    func testSteadyStateAudioPathMakesNoHeapAllocation() throws {
        let scratch = try Scratch("alloc")
        let library = try buildCounter(scratch)
        let result = try probe(library, ["10000"])
        XCTAssertEqual(result["packets"], 10_000)
        XCTAssertEqual(result["concealed"], 0)
        // The first packet of all only primes the decoder.
        XCTAssertEqual(result["played"], 10_500 - 1)
        // Every packet decoded to a full frame and resampled for a card 120 ppm fast, which the
        // controller followed from a start on schedule, without a resync.
        XCTAssertEqual(Double(result["frames"] ?? 0), Double((10_500 - 1) * 960) * (1 + 120e-6), accuracy: 2_000)
        XCTAssertEqual(result["resyncs"], 0)
        XCTAssertEqual(result["allocations"], 0, "allocations on the audio path")
    }

    /// The same path with FLAC, whose decoder sets up its buffers with the first frame.
    func testSteadyStateFLACPathMakesNoHeapAllocation() throws {
        let scratch = try Scratch("alloc-flac")
        let library = try buildCounter(scratch)
        let result = try probe(library, ["10000", "flac"])
        XCTAssertEqual(result["concealed"], 0)
        XCTAssertEqual(result["played"], 10_500, "every packet decoded (FLAC needs no priming)")
        XCTAssertEqual(result["resyncs"], 0)
        XCTAssertEqual(result["allocations"], 0, "allocations on the audio path")
    }

    /// Two resyncs (the host's clock stepped 12.3 ms forward, then back): the drop, the insert
    /// and the fades around them allocate nothing either. The process's first two make 9
    /// allocations between them (measured: the first use of that code, as the warm-up is for
    /// the steady path), so the probe resyncs twice while it warms up.
    func testAResyncOnTheAudioPathMakesNoHeapAllocation() throws {
        let scratch = try Scratch("alloc-resync")
        let library = try buildCounter(scratch)
        let result = try probe(library, ["3000", "resync"])
        XCTAssertEqual(result["resyncs"], 4, "a drop and an insert while warming up, and again counted")
        XCTAssertEqual(result["concealed"], 0)
        XCTAssertEqual(result["allocations"], 0, "allocations on the audio path")
    }

    /// The host moves the playout latency 30 ms up and back down (its group's delay moved):
    /// the silence inserted, the audio dropped and the fades allocate nothing.
    func testALatencyChangeOnTheAudioPathMakesNoHeapAllocation() throws {
        let scratch = try Scratch("alloc-latency")
        let library = try buildCounter(scratch)
        let result = try probe(library, ["3000", "latency"])
        XCTAssertEqual(result["latency_changes"], 4, "up and down while warming up, and again counted")
        XCTAssertEqual(result["resyncs"], 0, "the moves were the changes', not the drift controller's")
        XCTAssertEqual(result["concealed"], 0)
        XCTAssertEqual(result["allocations"], 0, "allocations on the audio path")
    }

    func testTheCounterSeesAllocations() throws {
        let scratch = try Scratch("calibrate")
        let library = try buildCounter(scratch)
        let result = try probe(library, ["1000", "calibrate"])
        XCTAssertEqual(result["allocations"], 1000)
    }
}

import Foundation
import XCTest

/// The soak (issue 18 §7), run by `scripts/soak.sh`, not by the suite: three rooms for 30
/// minutes (`MOOSYNC_SOAK_SECONDS`), the kitchen behind a 10 ± 8 ms jittery path that stalls 2 %
/// of its chunks by 100 ms more. Every daemon's RSS once settled and at the end (flat within
/// 1 MB), the audio threads' heap allocations in between (none: counted by a preloaded counter
/// in each receiver), no crash (each exits 0 on SIGTERM), and the skew after 30 s.
final class SoakTests: XCTestCase {
    func testThreeRoomsForHalfAnHour() throws {
        guard let seconds = ProcessInfo.processInfo.environment["MOOSYNC_SOAK_SECONDS"].flatMap(Double.init) else {
            throw XCTSkip("MOOSYNC_SOAK_SECONDS runs it (scripts/soak.sh)")
        }
        let scratch = try Scratch("soak-counter")
        let counter = scratch.file("libthreadallocs.so")
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/cc")
        cc.arguments = ["-shared", "-fPIC", "-O2", "-o", counter, packageRoot + "/Tests/Fixtures/malloc_counter.c", "-lpthread"]
        try cc.run()
        cc.waitUntilExit()
        XCTAssertEqual(cc.terminationStatus, 0, "building the allocation counter")
        let reports = scratch.file("allocs")

        var rss: [String: (settled: Int, end: Int)] = [:]
        var audioAllocations: [String: (settled: Int, end: Int)] = [:]
        let run = try MultiRoomSyncTests.playTogether(
            relayed: ["kitchen"], path: NetworkPath.jittery + ["--stall-percent", "2", "--stall-ms", "100"], settle: 30, seconds: seconds,
            buffer: "500ms", environment: ["LD_PRELOAD": counter, "MOOSYNC_ALLOC_REPORT": reports],
            observe: { settled, daemons in
                for daemon in daemons {
                    let kb = procStatus(daemon.pid, "VmRSS") ?? -1
                    rss[daemon.name] = settled ? (kb, kb) : (rss[daemon.name]?.settled ?? kb, kb)
                    guard daemon.name != "mshost" else { continue }
                    let count = Self.audioThreadAllocations(reports + ".\(daemon.pid)")
                    audioAllocations[daemon.name] = settled ? (count, count) : (audioAllocations[daemon.name]?.settled ?? count, count)
                }
            }, label: "soak")
        for (name, kb) in rss.sorted(by: { $0.key < $1.key }) {
            print("soak \(name): RSS \(kb.settled) KB at 30 s, \(kb.end) KB at the end (\(kb.end - kb.settled) KB)")
            XCTAssertLessThan(abs(kb.end - kb.settled), 1024, "\(name)'s memory is flat")
        }
        for (name, count) in audioAllocations.sorted(by: { $0.key < $1.key }) {
            print("soak \(name): audio thread heap allocations \(count.settled) at 30 s, \(count.end) at the end")
            XCTAssertGreaterThanOrEqual(count.settled, 0, "\(name)'s audio thread was counted")
            XCTAssertEqual(count.end, count.settled, "\(name)'s audio thread allocated while playing")
        }
        XCTAssertLessThan(run.skewP99, 200, "skew against the direct rooms")
        for (room, refused) in zip(run.rooms, run.refusedFraction) { XCTAssertLessThanOrEqual(refused, 0.10, room.name) }
    }

    /// The allocations the counter saw on the thread named "audio" (-1: no such thread counted).
    static func audioThreadAllocations(_ report: String) -> Int {
        let text = (try? String(contentsOfFile: report, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line -> Int? in
            let fields = line.split(separator: " ")
            return fields.count == 3 && fields[1] == "audio" ? Int(fields[2]) : nil
        }.reduce(-1) { max($0, 0) + $1 }
    }
}

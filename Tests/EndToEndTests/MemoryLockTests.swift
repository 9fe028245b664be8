import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Real-time hygiene (issue 10): once a stream plays, msrecv locks the pages it runs in, so
/// memory pressure cannot evict them and make the audio thread wait for a page to be read back
/// from an SD card. Only what is resident is locked: its memory does not grow.
final class MemoryLockTests: XCTestCase {
    /// Page faults a thread has taken (minor, major), from /proc.
    private func faults(_ pid: pid_t, thread: String) -> (minor: Int, major: Int)? {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        for tid in tasks {
            guard let comm = try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/comm", encoding: .utf8),
                comm.trimmingCharacters(in: .whitespacesAndNewlines) == thread
            else { continue }
            // minflt and majflt: fields 10 and 12 of stat(5).
            guard let fields = procStat("/proc/\(pid)/task/\(tid)/stat"), let minor = Int(fields[10]), let major = Int(fields[12]) else { return nil }
            return (minor, major)
        }
        return nil
    }

    private func pageOut(_ pid: pid_t) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [packageRoot + "/Tests/Fixtures/pageout.py", String(pid)]
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "pageout.py \(pid)")
    }

    func testTheAudioThreadTakesNoPageFaultUnderMemoryPressure() throws {
        let scratch = try Scratch("mlock")
        let port = freePort()
        _ = try scratch.virtualCard("card", delayMicroseconds: 1_000)
        let host = try Daemon("mshost", config: try scratch.write("host.json", Configs.host(port: port, source: "tone", codec: "opus")), scratch: scratch)
        XCTAssertTrue(host.waitFor("listening on port"))
        let receiver = try Daemon("msrecv", config: try scratch.write("recv.json", Configs.receiver(port: port, device: "card")), scratch: scratch)
        let rssBefore = { () -> Int in
            Thread.sleep(forTimeInterval: 2.5)
            return procStatus(receiver.pid, "VmRSS") ?? 0
        }()
        XCTAssertTrue(receiver.waitFor("memory: locked the", timeout: 6), receiver.log)
        let locked = procStatus(receiver.pid, "VmLck") ?? 0
        let rssAfter = procStatus(receiver.pid, "VmRSS") ?? 0

        // The instrument first: mshost locks nothing, and pressure makes its thread fault.
        let hostBefore = try XCTUnwrap(faults(host.pid, thread: "mshost"))
        try pageOut(host.pid)
        Thread.sleep(forTimeInterval: 1)
        let hostAfter = try XCTUnwrap(faults(host.pid, thread: "mshost"))
        let audioBefore = try XCTUnwrap(faults(receiver.pid, thread: "audio"))
        try pageOut(receiver.pid)
        Thread.sleep(forTimeInterval: 2)
        let audioAfter = try XCTUnwrap(faults(receiver.pid, thread: "audio"))
        receiver.signal(SIGTERM)
        XCTAssertEqual(receiver.waitForExit(), 0)
        host.signal(SIGTERM)
        _ = host.waitForExit()

        let hostFaults = hostAfter.minor + hostAfter.major - hostBefore.minor - hostBefore.major
        let audioFaults = audioAfter.minor + audioAfter.major - audioBefore.minor - audioBefore.major
        print(
            "memory lock: \(locked) KB locked, RSS \(rssBefore) KB before the lock and \(rssAfter) KB after; after reclaim, mshost's thread took "
                + "\(hostFaults) faults, msrecv's audio thread \(audioFaults)"
        )
        XCTAssertGreaterThan(hostFaults, 10, "the reclaim makes a thread that did not lock its pages fault")
        XCTAssertEqual(audioFaults, 0, "the audio thread ran on locked pages")
        XCTAssertGreaterThan(locked, 1_000)
        XCTAssertLessThan(rssAfter, rssBefore + 256, "locking faulted nothing in")
        XCTAssertTrue(receiver.log.contains("concealed 0"), receiver.log)
    }
}

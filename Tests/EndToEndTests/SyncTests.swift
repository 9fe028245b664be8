import Config
import Core
import Foundation
import Platform
import ProtocolMessages
import TestSupport
import Transport
import XCTest

/// Receivers on virtual cards whose crystals are off play on the host's schedule: when each
/// click left each card (from its recording and sidecar) against when the host said it is due.
final class SyncTests: XCTestCase {
    func testAReceiverOnACardThreeHundredPPMFastStaysOnTheHostsSchedule() throws {
        try playClicks(ppm: 300)
    }

    func testAReceiverOnACardThreeHundredPPMSlowStaysOnTheHostsSchedule() throws {
        try playClicks(ppm: -300)
    }

    /// Opus delays its output by its look-ahead (6.5 ms); the host says so and the receiver
    /// takes it off the schedule.
    func testOpusIsOnScheduleToo() throws {
        try playClicks(ppm: 150, codec: "opus")
    }

    private func playClicks(ppm: Double, codec: String = "pcm") throws {
        let scratch = try Scratch("drift")
        let wav = try scratch.write("clicks.wav", bytes: ClickTrack.wav())
        let port = freePort()
        let recording = try scratch.virtualCard("card", ppm: ppm, delayMicroseconds: 1_500)
        let (host, receiver) = try stream(
            for: 15, host: Configs.host(port: port, source: "wav:" + wav, codec: codec, loop: true),
            receiver: Configs.receiver(port: port, device: "card", buffer: "200ms"), scratch: scratch)

        let clicks = try ClickTrack.times(recording: recording)
        XCTAssertGreaterThan(clicks.count, 10)
        let errors = ClickTrack.errors(clicks, streamStart: try ClickTrack.streamStart(hostLog: host.log), latency: 200_000)
            .sorted { $0.key < $1.key }.map(\.value)
        // After 5 s: on schedule and holding still, however fast the card.
        let converged = Array(errors.dropFirst(5))
        let median = ClickTrack.percentile(converged, 0.5)
        let spread = ClickTrack.percentile(converged, 0.9) - ClickTrack.percentile(converged, 0.1)
        let resyncs = receiver.count("resynced")
        let syncLine = receiver.log.split(separator: "\n").last { $0.contains("sync: host clock offset") } ?? ""
        print("sync \(ppm) ppm: \(syncLine); card underruns \(try VirtualCard.sidecar(recording)["underruns"] ?? -1)")
        print(
            "sync \(ppm) ppm \(codec): click errors (µs) \(errors.map { Int($0) }); after 5 s median \(Int(median)) µs, p10–p90 spread "
                + "\(Int(spread)) µs; \(resyncs) resyncs"
        )
        XCTAssertLessThan(abs(median), 100)
        XCTAssertLessThan(spread, 200)
        XCTAssertEqual(resyncs, 0, "the start is on schedule: no resync")
    }
}

/// Three rooms, one host: cards at +150, −150 and 0 ppm with different hardware delays, one
/// receiver in a time namespace whose monotonic clock is 500 s ahead, all playing the same
/// clicks (issue 4 §5). `MOOSYNC_SYNC_SECONDS` sets the length (default 90 s);
/// `scripts/bench-sync.sh` runs these longer and collects the figures they print.
final class MultiRoomSyncTests: XCTestCase {
    struct Room {
        let name: String
        let ppm: Double
        let delay: Int
        let monotonicOffset: Int?
    }

    static let rooms = [
        Room(name: "kitchen", ppm: 150, delay: 1_500, monotonicOffset: nil),
        Room(name: "lounge", ppm: -150, delay: 500, monotonicOffset: 500),
        Room(name: "study", ppm: 0, delay: 3_000, monotonicOffset: nil),
    ]

    static var seconds: Double { Double(ProcessInfo.processInfo.environment["MOOSYNC_SYNC_SECONDS"] ?? "") ?? 90 }

    func testThreeRoomsPlayAsOne() throws {
        let run = try Self.playTogether(burst: 1)
        run.assertOnTheDirectTargets()
    }

    /// Real cards move their hardware pointer a DMA burst at a time, not frame by frame.
    func testThreeRoomsPlayAsOneOnCardsThatMoveInDMABursts() throws {
        let run = try Self.playTogether(burst: 64)
        run.assertOnTheDirectTargets()
    }

    /// What one run of the rooms measured.
    struct Run {
        let label: String
        let rooms: [Room]
        /// Each room's click errors against the host's schedule, by click.
        let errors: [[Int: Double]]
        /// Clicks every room played, from `settle` s on.
        let settled: [Int]
        let skewMedian: Double, skewP99: Double
        let medians: [Double]
        /// From which click on each room stayed within 200 µs of the schedule.
        let convergedAt: [Int]
        let resyncsAfterSettling: [Int]
        /// Clock replies each receiver refused, over those it got.
        let refusedFraction: [Double]
        let receiverLogs: [String]
        let seconds: Double

        func assertOnTheDirectTargets(file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertGreaterThan(Double(settled.count), seconds - 8, "clicks heard in every room", file: file, line: line)
            XCTAssertLessThan(skewMedian, 50, file: file, line: line)
            XCTAssertLessThan(skewP99, 200, file: file, line: line)
            for (room, median) in zip(rooms, medians) { XCTAssertLessThan(abs(median), 100, room.name, file: file, line: line) }
            for (room, seconds) in zip(rooms, convergedAt) { XCTAssertLessThanOrEqual(seconds, 5, room.name, file: file, line: line) }
            XCTAssertEqual(resyncsAfterSettling, [0, 0, 0], "no hard resync after convergence", file: file, line: line)
        }
    }

    /// The rooms play one host's clicks for `seconds`; those named in `relayed` reach the host
    /// through a `NetworkPath` of their own with `path`'s options. Skews count from `settle` s on.
    /// `environment` is added to the daemons'; `observe` is called with the host and the
    /// receivers once settled and again just before they stop.
    static func playTogether(
        burst: Int = 1, relayed: Set<String> = [], path: [String] = [], settle: Int = 5, seconds: Double = MultiRoomSyncTests.seconds,
        buffer: String = "200ms", environment: [String: String] = [:], observe: ((_ settled: Bool, _ daemons: [Daemon]) -> Void)? = nil,
        label: String? = nil
    ) throws -> Run {
        let scratch = try Scratch("rooms")
        scratch.environmentOverrides.merge(environment) { $1 }
        let wav = try scratch.write("clicks.wav", bytes: ClickTrack.wav())
        let port = freePort()
        let rooms = Self.rooms
        let recordings = try rooms.map { try scratch.virtualCard($0.name, ppm: $0.ppm, delayMicroseconds: $0.delay, burst: burst) }
        let host = try Daemon("mshost", config: try scratch.write("host.json", Configs.host(port: port, source: "wav:" + wav, loop: true)), scratch: scratch)
        XCTAssertTrue(host.waitFor("listening on port"))
        let paths = try rooms.map { room in
            relayed.contains(room.name) ? try NetworkPath(to: port, options: path, scratch: scratch, name: "relay-" + room.name) : nil
        }
        let receivers = try zip(rooms, paths).map { room, path in
            try Daemon(
                "msrecv", config: try scratch.write(room.name + ".json", Configs.receiver(port: path?.port ?? port, device: room.name, buffer: buffer)),
                scratch: scratch, name: room.name, monotonicOffset: room.monotonicOffset)
        }
        for r in receivers { XCTAssertTrue(r.waitFor("event=Connected"), r.log) }
        // Resyncs belong to the start: none once converged.
        Thread.sleep(forTimeInterval: Double(settle))
        let resyncsAtSettling = receivers.map { $0.count("resynced") }
        observe?(true, [host] + receivers)
        Thread.sleep(forTimeInterval: seconds - Double(settle))
        observe?(false, [host] + receivers)
        for r in receivers {
            r.signal(SIGTERM)
            XCTAssertEqual(r.waitForExit(), 0, r.log)
        }
        host.signal(SIGTERM)
        XCTAssertEqual(host.waitForExit(), 0, host.log)
        let relayCounts = paths.compactMap { $0?.stop() }

        let streamStart = try ClickTrack.streamStart(hostLog: host.log)
        var errors: [[Int: Double]] = []
        let latency = Double(try XCTUnwrap(parseDuration(buffer)))
        for (room, recording) in zip(rooms, recordings) {
            let times = try ClickTrack.times(recording: recording, monotonicOffset: room.monotonicOffset ?? 0)
            errors.append(ClickTrack.errors(times, streamStart: streamStart, latency: latency))
            XCTAssertEqual(try VirtualCard.sidecar(recording)["underruns"], 0, "\(room.name) ran dry")
        }
        // Every room played from its first click on; the first seconds are convergence.
        let common = errors.map { Set($0.keys) }.reduce(Set(errors[0].keys)) { $0.intersection($1) }.sorted()
        let first = common.first ?? 0
        let settled = common.filter { $0 >= first + settle }
        let skews = settled.map { m in errors.map { $0[m]! }.max()! - errors.map { $0[m]! }.min()! }
        let medians = errors.map { e in ClickTrack.percentile(settled.map { e[$0]! }, 0.5) }
        let convergedAt = errors.map { e -> Int in
            let byClick = e.sorted { $0.key < $1.key }
            let lastOff = byClick.lastIndex { abs($0.value) >= 200 }
            return lastOff.map { byClick[$0].key + 1 - byClick[0].key } ?? 0
        }
        let run = Run(
            label: label ?? "multiroom burst=\(burst)", rooms: rooms, errors: errors, settled: settled,
            skewMedian: ClickTrack.percentile(skews, 0.5), skewP99: ClickTrack.percentile(skews, 0.99), medians: medians,
            convergedAt: convergedAt, resyncsAfterSettling: zip(receivers, resyncsAtSettling).map { $0.count("resynced") - $1 },
            refusedFraction: receivers.map { ClockReport.last(in: $0.log)?.refusedFraction ?? 1 },
            receiverLogs: receivers.map(\.log), seconds: seconds)
        let names = rooms.map { "\($0.name) \(Int($0.ppm)) ppm" + (relayed.contains($0.name) ? " (relayed)" : "") }
        for (name, e) in zip(names, errors) { print("\(run.label) \(name): click errors (µs) \(e.sorted { $0.key < $1.key }.map { Int($0.value) })") }
        for (name, log) in zip(names, run.receiverLogs) { print("\(run.label) \(name): \(ClockReport.last(in: log)?.line ?? "no sync line")") }
        for counts in relayCounts { print("\(run.label) \(counts)") }
        print(
            """
            \(run.label) \(Int(seconds)) s, \(settled.count) clicks after \(settle) s: \
            inter-room skew median \(Int(run.skewMedian)) µs, p99 \(Int(run.skewP99)) µs, max \(Int(skews.max() ?? 0)) µs; \
            vs schedule median \(zip(names, medians).map { "\($0) \(Int($1)) µs" }.joined(separator: ", ")); \
            converged after \(convergedAt.map { "\($0) s" }.joined(separator: " / ")); resyncs after \(settle) s \(run.resyncsAfterSettling); \
            clock replies refused \(run.refusedFraction.map { "\(Int(($0 * 100).rounded())) %" }.joined(separator: " / "))
            """)
        return run
    }
}

/// The receiver's periodic `sync:` line: its clock estimate and what it made of the replies.
struct ClockReport {
    let line: String
    let replies: Int
    let refused: Int
    var refusedFraction: Double { replies > 0 ? Double(refused) / Double(replies) : 1 }

    static func last(in log: String) -> ClockReport? {
        guard let line = log.split(separator: "\n").last(where: { $0.contains("sync: host clock offset") }) else { return nil }
        func count(_ word: String) -> Int? {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "(" || $0 == "," })
            guard let i = words.firstIndex(of: Substring(word)), i > 0 else { return nil }
            return Int(words[i - 1])
        }
        guard let replies = count("replies"), let refused = count("refused") else { return nil }
        return ClockReport(line: String(line), replies: replies, refused: refused)
    }
}

/// The same three rooms played by Snapcast (Debian's snapserver and snapclients, PCM so that the
/// clicks stay sharp, the server's default 1 s buffer), for the benchmark's side-by-side line:
/// Snapcast's schedule is its own, so only the skew between rooms is compared. Runs when
/// MOOSYNC_SNAPCAST=1 (scripts/bench-sync.sh sets it and installs Snapcast).
final class SnapcastSyncComparisonTests: XCTestCase {
    func testThreeSnapclientsOnTheSameCards() throws {
        try Self.requireSnapcast()
        _ = try Self.playTogether()
    }

    static func requireSnapcast() throws {
        guard ProcessInfo.processInfo.environment["MOOSYNC_SNAPCAST"] == "1" else { throw XCTSkip("MOOSYNC_SNAPCAST=1 runs it (scripts/bench-sync.sh)") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/snapserver"), FileManager.default.isExecutableFile(atPath: "/usr/bin/snapclient") else {
            throw XCTSkip("Snapcast is not installed (apt-get install snapserver snapclient)")
        }
    }

    /// The skew between rooms (median, p99) after `settle` s; the rooms named in `relayed` reach
    /// the server through a `NetworkPath` of their own with `path`'s options.
    static func playTogether(
        relayed: Set<String> = [], path: [String] = [], settle: Int = 5, seconds: Double = MultiRoomSyncTests.seconds,
        label: String = "snapcast multiroom"
    ) throws -> (median: Double, p99: Double) {
        let scratch = try Scratch("snapcast")
        let rooms = MultiRoomSyncTests.rooms
        let recordings = try rooms.map { try scratch.virtualCard($0.name, ppm: $0.ppm, delayMicroseconds: $0.delay) }
        let fifo = scratch.file("clicks.fifo")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let streamPort = freePort()
        let controlPort = freePort()
        let httpPort = freePort()
        let config = try scratch.write(
            "snapserver.conf",
            """
            [server]
            datadir = \(scratch.path)
            [http]
            bind_to_address = 127.0.0.1
            port = \(httpPort)
            [tcp]
            bind_to_address = 127.0.0.1
            port = \(controlPort)
            [stream]
            bind_to_address = 127.0.0.1
            port = \(streamPort)
            source = pipe://\(fifo)?name=clicks&mode=read&codec=pcm&sampleformat=48000:16:2&chunk_ms=20
            """)
        let server = try Daemon(command: ["/usr/bin/snapserver", "-c", config], scratch: scratch, name: "snapserver")
        // The source, written into the server's pipe at real time, 20 ms at a time.
        let stop = StopFlag()
        let feeder = Thread {
            let fd = open(fifo, O_WRONLY)
            guard fd >= 0 else { return }
            let loop = Array(ClickTrack.wav().dropFirst(44))
            let clock = SystemClock()
            var next = clock.now()
            var offset = 0
            while !stop.isSet {
                let chunk = 960 * 4
                let n = loop.withUnsafeBytes { write(fd, $0.baseAddress! + offset, chunk) }
                if n <= 0 { break }
                offset = (offset + chunk) % loop.count
                next += 20_000
                clock.sleep(until: next)
            }
            close(fd)
        }
        feeder.start()
        let paths = try rooms.map { room in
            relayed.contains(room.name) ? try NetworkPath(to: streamPort, options: path, scratch: scratch, name: "relay-" + room.name) : nil
        }
        let clients = try zip(rooms, paths).map { room, path in
            try Daemon(
                command: [
                    "/usr/bin/snapclient", "-h", "127.0.0.1", "-p", "\(path?.port ?? streamPort)", "--hostID", room.name,
                    "--player", "alsa", "-s", room.name, "--logsink", "stderr",
                ],
                scratch: scratch, name: "snapclient-" + room.name, monotonicOffset: room.monotonicOffset)
        }
        Thread.sleep(forTimeInterval: seconds)
        for c in clients {
            c.signal(SIGTERM)
            _ = c.waitForExit()
        }
        stop.set()
        server.signal(SIGTERM)
        _ = server.waitForExit()

        // Clicks matched across rooms by time (they are a second apart, rooms milliseconds).
        let times = try zip(rooms, recordings).map { try ClickTrack.times(recording: $1, monotonicOffset: $0.monotonicOffset ?? 0) }
        var skews: [Double] = []
        for t in times[0] {
            let heard = times.compactMap { room in room.min { abs($0 - t) < abs($1 - t) }.flatMap { abs($0 - t) < 100_000 ? $0 : nil } }
            if heard.count == rooms.count { skews.append(heard.max()! - heard.min()!) }
        }
        for path in paths { _ = path?.stop() }
        let settled = Array(skews.dropFirst(settle))
        XCTAssertGreaterThan(Double(settled.count), seconds - Double(settle) - 10, "clicks heard in every room: \(clients.map(\.log))")
        guard !settled.isEmpty else { return (.infinity, .infinity) }
        let median = ClickTrack.percentile(settled, 0.5)
        let p99 = ClickTrack.percentile(settled, 0.99)
        print(
            """
            \(label) \(Int(seconds)) s, \(settled.count) clicks after \(settle) s: inter-room skew median \(Int(median)) µs, \
            p99 \(Int(p99)) µs, max \(Int(settled.max()!)) µs
            """)
        return (median, p99)
    }
}

/// Tells a feeding thread to stop.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

/// A host whose clock jumps mid-stream, and once answers the time impossibly (issue 4, bad
/// input): the receiver refuses the impossible reply, confirms the step over a few exchanges,
/// follows it with one hard resync, and stays on the new schedule.
final class HostClockStepTests: XCTestCase {
    func testAHostClockStepIsFollowedByOneCleanResync() throws {
        let scratch = try Scratch("step")
        let port = freePort()
        let recording = try scratch.virtualCard("card", ppm: 100, delayMicroseconds: 1_000)
        let listener = try TCPListener(port: port)
        let receiver = try Daemon(
            "msrecv", config: try scratch.write("recv.json", Configs.receiver(port: port, device: "card", buffer: "200ms")), scratch: scratch)
        let clock = SystemClock()
        let channel = try FakeHost.accept(listener)

        // The host's clock: the monotonic clock until it jumps back 50 ms (a host suspended
        // for a moment, as its receivers see it).
        let stepBy: Microseconds = -50_000
        var step: Microseconds = 0
        func hostNow() -> Microseconds { clock.now() + step }
        var reader = FrameReader()
        let streamStart = hostNow()
        try FakeHost.welcome(channel, &reader, streamStart: streamStart, hostNow: hostNow)

        let stepAt = clock.now() + 8_000_000
        let end = clock.now() + 22_000_000
        var sequence = 0
        var requests = 0
        while clock.now() < end {
            if step == 0 && clock.now() >= stepAt { step = stepBy }
            // Clicks, paced by the host's clock: one a second, at the start of every 50th packet.
            while streamStart + Microseconds(sequence) * 20_000 <= hostNow() {
                try writeAll(channel, FakeHost.audio(sequence: UInt64(sequence), timestamp: UInt64(sequence) * 20_000, click: sequence % 50 == 0)).get()
                sequence += 1
            }
            // Time requests, answered on the host's clock.
            var reading = true
            while reading {
                switch reader.next(from: channel) {
                case .header: reader.route(.scratch)
                case .frame(let h, let payload):
                    guard h.type == .timeRequest, let request = try? TimeRequest.decode(payload) else { continue }
                    let received = UInt64((channel.lastArrival ?? clock.now()) + step)
                    requests += 1
                    // One impossible reply among them (sent before its request arrived): refused.
                    let sent = requests == 12 ? received - 1_000 : UInt64(hostNow())
                    try writeAll(channel, TimeResponse(t1: request.t1, t2: received, t3: sent).frame).get()
                default: reading = false
                }
            }
            usleep(1_000)
        }
        receiver.signal(SIGTERM)
        XCTAssertEqual(receiver.waitForExit(), 0)
        channel.close()

        // Click m is due at streamStart + m s + latency on the host's clock, which is the local
        // clock before the step and 50 ms behind it after.
        let times = try ClickTrack.times(recording: recording)
        let local = Double(stepAt)
        let before = ClickTrack.errors(times.filter { $0 < local }, streamStart: Double(streamStart), latency: 200_000)
        let after = ClickTrack.errors(times.filter { $0 > local + 6_000_000 }, streamStart: Double(streamStart - stepBy), latency: 200_000)
        let settledBefore = before.filter { $0.key >= 4 }.map(\.value)
        let settledAfter = after.map(\.value)
        let resyncs = receiver.log.split(separator: "\n").filter { $0.contains("resynced") }
        print(
            "host clock step \(stepBy) µs: errors before (µs) \(settledBefore.map { Int($0) }), from 6 s after \(settledAfter.map { Int($0) }); "
                + "\(resyncs.joined(separator: " | "))"
        )
        XCTAssertTrue(receiver.log.contains("clock: the host's clock stepped by"), receiver.log)
        XCTAssertTrue(receiver.log.contains("clock: refused a TIME_RESP (1 so far): host sent its reply before receiving the request (t3 < t2)"), receiver.log)
        XCTAssertEqual(resyncs.count, 1, "one resync, for the step (the start is on schedule): \(receiver.log)")
        // The log writes durations as the config does: "49966us", "50ms", "1s".
        let inserted = resyncs.last.flatMap { line -> Int? in
            guard let token = line.split(separator: " ").first(where: { $0.first?.isNumber == true && $0.last?.isLetter == true }) else { return nil }
            let digits = token.prefix { $0.isNumber }
            let unit = token.dropFirst(digits.count)
            return Int(digits).map { $0 * (unit == "s" ? 1_000_000 : unit == "ms" ? 1_000 : 1) }
        }
        XCTAssertEqual(Double(inserted ?? 0), 50_000, accuracy: 500, "the step put right at once: \(resyncs)")
        XCTAssertGreaterThan(settledBefore.count, 2)
        XCTAssertGreaterThan(settledAfter.count, 6)
        for e in settledBefore + settledAfter { XCTAssertLessThan(abs(e), 200, "on schedule, before and after") }
    }
}

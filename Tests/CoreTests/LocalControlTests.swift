import Core
import Foundation
import Platform
import Transport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The local control socket's line server, without a reactor: what a script on the speaker or
/// the host can do to it.
final class LocalControlTests: XCTestCase {
    private func path(_ name: String) -> String { NSTemporaryDirectory() + "lc-\(getpid())-\(name).sock" }

    private func echo(_ line: UnsafeRawBufferPointer) -> LocalControlServer.Answer {
        LocalControlServer.Answer(Array("you said \(line.count) bytes\n".utf8), follow: line.first == UInt8(ascii: "f"))
    }

    func testASocketInUseIsRefusedAndOnlyItsUserMayOpenIt() throws {
        let at = path("busy")
        let first = try LocalListener(path: at)
        var mode = stat()
        XCTAssertEqual(stat(at, &mode), 0)
        XCTAssertEqual(mode.st_mode & 0o777, 0o600)
        func refusal(_ path: String) -> String? {
            do {
                _ = try LocalListener(path: path)
                return nil
            } catch {
                return error.description
            }
        }
        XCTAssertTrue(refusal(at)?.contains("is in use") == true, refusal(at) ?? "opened twice")
        let long = "/" + String(repeating: "x", count: 200)
        XCTAssertTrue(refusal(long)?.contains("too long") == true, refusal(long) ?? "opened")
        _ = first.fileDescriptor
    }

    /// A daemon that hung up before the tool wrote its request (it was full, or is going away)
    /// is an answer the tool reports; writing to the closed socket would otherwise kill the tool
    /// by SIGPIPE, here the test's own process.
    func testWritingToADaemonThatHungUpIsAnErrorNotASignal() throws {
        let at = path("hung-up")
        let listener = try LocalListener(path: at)
        let client = try LocalControlClient(path: at)
        let accepted = accept(listener.fileDescriptor, nil, nil)
        XCTAssertGreaterThanOrEqual(accepted, 0)
        close(accepted)
        XCTAssertFalse(client.send(Array("status\n".utf8)), "the daemon had hung up")
        XCTAssertNil(client.nextLine(maxLength: 100))
    }

    func testAHalfClosedRequestIsAnsweredAndAnEndlessLineIsCutOff() throws {
        let at = path("lines")
        let server = LocalControlServer(listener: try LocalListener(path: at))
        // A script that writes its request and shuts its side, as `nc -N` does.
        let fd = try LocalListener.connect(path: at)
        defer { close(fd) }
        _ = Array("clients\n".utf8).withUnsafeBytes { writeAll(fd, $0) }
        shutdown(fd, CInt(SHUT_WR))
        let peers = server.acceptAll()
        XCTAssertEqual(peers.count, 1)
        server.ready(peers[0].id, tooLong: Array("too long\n".utf8), answer: echo)
        XCTAssertEqual(server.takeChanges().first?.interest, nil, "answered, flushed and closed")
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        XCTAssertEqual(String(decoding: buffer.prefix(max(n, 0)), as: UTF8.self), "you said 7 bytes\n")

        // One that writes without a newline is told, and dropped, after at most a request's worth.
        let endless = try LocalControlClient(path: at)
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 3000)
        XCTAssertTrue(endless.send(chunk) && endless.send(chunk))
        let second = server.acceptAll()
        server.ready(second[0].id, tooLong: Array("too long\n".utf8), answer: echo)
        XCTAssertEqual(server.takeChanges().first?.interest, nil)
        XCTAssertEqual(endless.nextLine(maxLength: 100).map { String(decoding: $0, as: UTF8.self) }, "too long")
    }

    /// Places cannot be held against the owner's tools: when all sixteen are taken, a newcomer
    /// gets the place of the connection silent longest (a follower only when all follow), and
    /// one silent for ten seconds gives its place up when another comes. Before, the
    /// seventeenth was hung up on, and twenty idle connections locked `mshost clients` out.
    func testANewcomerGetsThePlaceOfTheConnectionSilentLongest() throws {
        let at = path("many")
        let clock = SteppedClock(startingAt: 1_000_000)
        let server = LocalControlServer(listener: try LocalListener(path: at), clock: clock)
        var clients: [LocalControlClient] = []
        var ids: [Int] = []
        func connect() throws {
            clients.append(try LocalControlClient(path: at))
            ids += server.acceptAll().map(\.id)
            clock.advance(by: 1_000)
        }
        for _ in 0..<LocalControlServer.maxPeers { try connect() }
        // The first follows; the second asks something now, so the third is silent longest.
        XCTAssertTrue(clients[0].send(Array("follow\n".utf8)) && clients[1].send(Array("status\n".utf8)))
        server.ready(ids[0], tooLong: [], answer: echo)
        server.ready(ids[1], tooLong: [], answer: echo)
        _ = server.takeChanges()
        try connect()
        XCTAssertEqual(ids.count, LocalControlServer.maxPeers + 1, "the newcomer is served")
        XCTAssertEqual(server.takeChanges().filter { $0.interest == nil }.map(\.id), [ids[2]], "the one silent longest gave its place up")
        XCTAssertNil(clients[2].nextLine(maxLength: 100))
        XCTAssertTrue(clients.last!.send(Array("clients\n".utf8)))
        server.ready(ids.last!, tooLong: [], answer: echo)
        _ = server.takeChanges()
        XCTAssertEqual(clients.last!.nextLine(maxLength: 100).map { String(decoding: $0, as: UTF8.self) }, "you said 7 bytes")
        // Ten seconds on, every connection that asked nothing since gives its place up when
        // another comes; the follower and the newcomer stay.
        clock.advance(by: LocalControlServer.idleTimeout)
        try connect()
        let closed = Set(server.takeChanges().filter { $0.interest == nil }.map(\.id))
        XCTAssertEqual(closed, Set(ids.dropLast()).subtracting([ids[0], ids[2]]))
        XCTAssertNotNil(clients[0].nextLine(maxLength: 100), "the follower's answer is there, and it stays")
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Core
import Foundation
import Transport
import XCTest

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

    func testAHalfClosedRequestIsAnsweredAndAnEndlessLineIsCutOff() throws {
        let at = path("lines")
        let server = LocalControlServer(listener: try LocalListener(path: at))
        // A script that writes its request and shuts its side, as `nc -N` does.
        let fd = try LocalListener.connect(path: at).get()
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

    func testMoreThanSixteenConnectionsAreClosedAsTheyCome() throws {
        let at = path("many")
        let server = LocalControlServer(listener: try LocalListener(path: at))
        var clients: [LocalControlClient] = []
        var accepted = 0
        for _ in 0...LocalControlServer.maxPeers {
            clients.append(try LocalControlClient(path: at))
            accepted += server.acceptAll().count
        }
        XCTAssertEqual(accepted, LocalControlServer.maxPeers)
        XCTAssertNil(clients.last?.nextLine(maxLength: 100), "the seventeenth was hung up on")
    }
}

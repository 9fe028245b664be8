import Core
import Foundation
import Platform
import ProtocolMessages
import TestSupport
import Transport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// `sharing.permissions` (issue 11): every CONTROL and CHAT from a receiver is checked on the
/// host; what is not allowed is refused with the permission it needs, what is becomes an event.
final class PermissionsTests: XCTestCase {
    /// A welcomed receiver played by the test.
    private final class Receiver {
        let channel: any ByteChannel
        private var reader = FrameReader()

        init(port: UInt16) throws {
            channel = try Configs.connect(port: port)
            try writeAll(
                channel,
                Hello(
                    clientID: "test", clientName: "test", audioFormats: ["pcm"], maxBufferSize: "200ms", lowLatency: false,
                    t1: SystemClock().now()
                ).frame
            ).get()
            XCTAssertEqual(try next().type, .welcome)
        }

        /// The next frame from the host that is not AUDIO, within 1 s: its type, and what a CONTROL says.
        func next() throws -> (type: FrameType?, control: Control?) {
            let deadline = Date().addingTimeInterval(1)
            while Date() < deadline {
                switch reader.next(from: channel) {
                case .header: reader.route(.scratch)
                case .frame(let h, let payload) where h.type != .audio:
                    return (h.type, h.type == .control ? try Control.decode(payload) : nil)
                case .frame: continue
                case .wouldBlock: usleep(1_000)
                case .closed, .failed: return (nil, nil)
                }
            }
            return (nil, nil)
        }

        /// Sends `frame`; the host's CONTROL answer, if one comes within 1 s.
        func ask(_ frame: [UInt8]) throws -> Control? {
            try writeAll(channel, frame).get()
            return try next().control
        }
    }

    func testWhatIsNotAllowedIsRefusedWithThePermissionItNeeds() throws {
        let scratch = try Scratch("permissions")
        let port = freePort()
        let host = try Daemon.toneHost(scratch, port: port, extra: ", \"permissions\": {\"allow_chat\": false}")
        let receiver = try Receiver(port: port)
        XCTAssertEqual(
            try receiver.ask(Control(.play).frame)?.action,
            .refused(action: "play", reason: "this host does not allow it (sharing.permissions.allow_playback_control is false)"))
        XCTAssertEqual(
            try receiver.ask(Control(.queueAdd(songID: "song-7")).frame)?.action,
            .refused(action: "queue_add", reason: "this host does not allow it (sharing.permissions.allow_queue_control is false)"))
        XCTAssertEqual(
            try receiver.ask(Chat(text: "hello").frame)?.action,
            .refused(action: "chat", reason: "this host does not allow it (sharing.permissions.allow_chat is false)"))
        // The speaker's own volume needs no permission: it is passed on.
        try writeAll(receiver.channel, Control(.volume(40)).frame).get()
        XCTAssertTrue(host.waitFor("event=ControlRequested client_id=test action=volume value=40"), host.log)
        XCTAssertFalse(host.log.contains("action=play"), "a refused command is never passed on: \(host.log)")
        XCTAssertTrue(host.log.contains("refused play: sharing.permissions.allow_playback_control is false"), host.log)
        receiver.channel.close()
        host.signal(SIGTERM)
        XCTAssertEqual(host.waitForExit(), 0)

        let open = try Daemon.toneHost(
            scratch, port: port, extra: ", \"permissions\": {\"allow_playback_control\": true, \"allow_queue_control\": true}", file: "open.json", name: "open")
        let allowed = try Receiver(port: port)
        try writeAll(allowed.channel, Control(.pause).frame + Control(.queueRemove(songID: "song-7")).frame + Chat(text: "nice song").frame).get()
        XCTAssertTrue(open.waitFor("event=ChatMessage client_id=test text=\"nice song\""), open.log)
        XCTAssertTrue(open.log.contains("event=ControlRequested client_id=test action=pause"), open.log)
        XCTAssertTrue(open.log.contains("event=ControlRequested client_id=test action=queue_remove value=song-7"), open.log)
        XCTAssertNil(try allowed.ask(Control(.next).frame), "nothing refused")
        allowed.channel.close()
        open.signal(SIGTERM)
        XCTAssertEqual(open.waitForExit(), 0)
    }
}

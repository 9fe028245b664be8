import Core
import ProtocolMessages

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One line per message on stderr, with the program's name, for journald and for tests that
/// read what a user sees. Control plane only: it allocates.
public struct Logger: Sendable {
    public let program: String
    /// Where the lines go: stderr, or elsewhere for a tool that runs a daemon's code (a fuzzer).
    private let descriptor: CInt
    /// Who else hears the events (the host's `mshost events` followers).
    public let feed: EventFeed?

    public init(program: String, descriptor: CInt = 2, feed: EventFeed? = nil) {
        self.program = program
        self.descriptor = descriptor
        self.feed = feed
    }

    public func info(_ message: String) { emit(message) }

    public func error(_ message: String) { emit("error: " + message) }

    /// Something works but not as it should on a speaker (an insecure setting, say).
    public func warning(_ message: String) { emit("warning: " + message) }

    public func event(_ event: AudioShareEvent) {
        feed?.listener?(event)
        var line = "event=" + event.name
        for (key, value) in event.fields {
            line += " " + key + "=" + Logger.fieldValue(value)
        }
        emit(line)
    }

    public func failure(_ error: AudioShareError) {
        emit("error=" + error.code + " " + Logger.fieldValue(error.description))
    }

    static func fieldValue(_ value: String) -> String {
        value.isEmpty || value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" }) || hasControlCharacters(value) ? JSONWriter.quoted(value) : value
    }

    private func emit(_ message: String) {
        let line = program + ": " + message + "\n"
        _ = Array(line.utf8).withUnsafeBytes { writeAll(descriptor, $0) }
    }
}

/// The events a daemon logs, passed on as they happen to whoever listens (the host's local
/// control socket, for `mshost events`). Set and called on the control thread only.
public final class EventFeed: @unchecked Sendable {
    public var listener: ((AudioShareEvent) -> Void)?
    public init() {}
}

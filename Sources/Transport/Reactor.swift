import Core
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// Which readiness a descriptor waits for.
public struct Interest: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let read = Interest(rawValue: 1)
    public static let write = Interest(rawValue: 2)

    @inlinable
    var pollEvents: Int16 { (contains(.read) ? Int16(POLLIN) : 0) | (contains(.write) ? Int16(POLLOUT) : 0) }

    public var description: String {
        [contains(.read) ? "read" : nil, contains(.write) ? "write" : nil].compactMap { $0 }.joined(separator: "+")
    }
}

/// A control thread's one event loop (DESIGN §4): every descriptor it serves and every timer it
/// keeps registers here, under a token of the owner's choosing, and `wait()` serves them all
/// with one `poll(2)`. Nothing else on a control thread polls or blocks.
///
/// Tokens, not callbacks: `wait()` returns what happened and the owner's state machine decides,
/// so each phase of a session reads as one `switch`. A token has at most one descriptor and at
/// most one timer. Timers read the clock the reactor was given: tests pass a `SteppedClock`
/// and move it, and `wait(maxWait: 0)` then fires what is due without sleeping.
///
/// A timer may have a tolerance: it fires at the first wake-up at or after its deadline, and
/// wakes the thread itself only when the tolerance has run out. Periodic chores (a STATUS, a
/// clock-sync request) then ride on wake-ups the thread has anyway; on a speaker each wake-up
/// costs tens of µs of CPU, more than most chores.
///
/// Inlinable throughout: specialised for its owner's token type, a wait costs a few µs; left
/// generic across the module boundary, the runtime looked up type metadata at every step.
public struct Reactor<Token: Hashable> {
    public enum Event: Equatable {
        /// The descriptor of `token` is ready for `ready` (hang-ups and errors count as
        /// readable, so the owner's next read finds them).
        case ready(Token, Interest)
        case timer(Token)
    }

    @usableFromInline
    struct Registration {
        @usableFromInline var fd: CInt
        @usableFromInline var interest: Interest

        @inlinable
        init(fd: CInt, interest: Interest) {
            self.fd = fd
            self.interest = interest
        }
    }

    @usableFromInline
    struct Timer {
        @usableFromInline var deadline: Microseconds
        /// The deadline and its tolerance: the latest the timer fires.
        @usableFromInline var latest: Microseconds

        @inlinable
        init(deadline: Microseconds, latest: Microseconds) {
            self.deadline = deadline
            self.latest = latest
        }
    }

    public let clock: any MonotonicClock
    @usableFromInline var descriptors: [Token: Registration] = [:]
    @usableFromInline var timers: [Token: Timer] = [:]
    /// The poll set, rebuilt only when registrations change.
    @usableFromInline var pollSet: [pollfd] = []
    @usableFromInline var pollTokens: [Token] = []
    @usableFromInline var pollSetStale = false
    /// Reused by every wait.
    @usableFromInline var due: [(token: Token, at: Microseconds)] = []

    @inlinable
    public init(clock: any MonotonicClock = SystemClock()) {
        self.clock = clock
    }

    @inlinable
    public var now: Microseconds { clock.now() }

    /// Serves `fd` under `token` for `interest` (replacing what the token had).
    @inlinable
    public mutating func register(_ token: Token, fd: CInt, interest: Interest) {
        descriptors[token] = Registration(fd: fd, interest: interest)
        pollSetStale = true
    }

    /// Changes what a registered descriptor waits for; an empty interest keeps it registered
    /// but unwatched (a closed socket would otherwise wake every wait with POLLHUP).
    @inlinable
    public mutating func setInterest(_ token: Token, _ interest: Interest) {
        guard var r = descriptors[token], r.interest != interest else { return }
        r.interest = interest
        descriptors[token] = r
        pollSetStale = true
    }

    /// Stops serving the token's descriptor (the owner closes it) and cancels its timer.
    @inlinable
    public mutating func unregister(_ token: Token) {
        if descriptors.removeValue(forKey: token) != nil { pollSetStale = true }
        timers[token] = nil
    }

    /// Fires `.timer(token)` once the clock reaches `deadline`, at the first wake-up after it
    /// within `tolerance` (replacing the token's timer).
    @inlinable
    public mutating func schedule(_ token: Token, at deadline: Microseconds, tolerance: Microseconds = 0) {
        timers[token] = Timer(deadline: deadline, latest: deadline + max(tolerance, 0))
    }

    @inlinable
    public mutating func schedule(_ token: Token, after delay: Microseconds, tolerance: Microseconds = 0) {
        schedule(token, at: clock.now() + delay, tolerance: tolerance)
    }

    @inlinable
    public mutating func cancelTimer(_ token: Token) { timers[token] = nil }

    /// Waits until a descriptor is ready or a timer's tolerance runs out (at most `maxWait`
    /// µs), and returns what happened: readiness first, then due timers in deadline order. A
    /// due timer is removed before it is returned.
    @inlinable
    public mutating func wait(maxWait: Microseconds? = nil) -> [Event] {
        if pollSetStale { rebuildPollSet() }
        let now = clock.now()
        var earliest: Microseconds?
        for timer in timers.values where timer.latest < earliest ?? .max { earliest = timer.latest }
        var wait = earliest.map { max($0 - now, 0) } ?? -1
        if let maxWait { wait = wait < 0 ? maxWait : min(wait, maxWait) }
        // Round up: a timer due in 300 µs must not turn into a busy poll with timeout 0.
        let milliseconds = wait < 0 ? -1 : CInt(min((wait + 999) / 1000, Microseconds(CInt.max)))
        var events: [Event] = []
        let ready = pollSet.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), milliseconds) }
        if ready > 0 {
            for (i, p) in pollSet.enumerated() where p.revents != 0 {
                var interest: Interest = []
                if p.revents & Int16(POLLIN | POLLHUP | POLLERR | POLLNVAL) != 0 { interest.insert(.read) }
                if p.revents & Int16(POLLOUT) != 0 { interest.insert(.write) }
                if p.revents & Int16(POLLERR | POLLHUP) != 0, p.events & Int16(POLLOUT) != 0 { interest.insert(.write) }
                events.append(.ready(pollTokens[i], interest))
                pollSet[i].revents = 0
            }
        }
        let after = clock.now()
        due.removeAll(keepingCapacity: true)
        for (token, timer) in timers where timer.deadline <= after { due.append((token, timer.deadline)) }
        if due.count > 1 { due.sort { $0.at < $1.at } }
        for (token, _) in due {
            timers[token] = nil
            events.append(.timer(token))
        }
        return events
    }

    @inlinable
    mutating func rebuildPollSet() {
        pollSet.removeAll(keepingCapacity: true)
        pollTokens.removeAll(keepingCapacity: true)
        for (token, r) in descriptors where !r.interest.isEmpty {
            pollSet.append(pollfd(fd: r.fd, events: r.interest.pollEvents, revents: 0))
            pollTokens.append(token)
        }
        pollSetStale = false
    }
}

import CMoosyncLinux
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A plain pthread outside Swift concurrency, named so `top -H` shows what it is. The audio
/// thread asks for `SCHED_FIFO` and runs without it where that is not permitted.
public final class NamedThread {
    private let thread: pthread_t
    private var joined = false
    public let realtimeGranted: Bool

    private final class Body {
        let name: String
        let realtime: Bool
        let run: () -> Void
        var granted = false
        init(name: String, realtime: Bool, run: @escaping () -> Void) {
            self.name = name
            self.realtime = realtime
            self.run = run
        }
    }

    public init(name: String, realtime: Bool, _ run: @escaping () -> Void) {
        let body = Body(name: name, realtime: realtime, run: run)
        var ready = pthread_barrier_t()
        pthread_barrier_init(&ready, nil, 2)
        let context = UnsafeMutablePointer<(Body, UnsafeMutablePointer<pthread_barrier_t>)>.allocate(capacity: 1)
        thread = withUnsafeMutablePointer(to: &ready) { barrier in
            context.initialize(to: (body, barrier))
            var tid = pthread_t()
            let rc = pthread_create(
                &tid, nil,
                { raw in
                    let context = raw!.assumingMemoryBound(to: (Body, UnsafeMutablePointer<pthread_barrier_t>).self)
                    let (body, barrier) = context.move()
                    context.deallocate()
                    _ = cmoosync_set_thread_name(String(body.name.prefix(15)))
                    if body.realtime {
                        // Default timer slack (50 µs) delays every wake-up; the audio thread's
                        // sleeps decide when frames reach the device.
                        _ = cmoosync_set_timer_slack(1)
                        var param = sched_param(sched_priority: 50)
                        body.granted = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param) == 0
                    }
                    pthread_barrier_wait(barrier)
                    body.run()
                    return nil
                }, context)
            precondition(rc == 0, "pthread_create: \(Errno(rc))")
            pthread_barrier_wait(barrier)
            return tid
        }
        pthread_barrier_destroy(&ready)
        realtimeGranted = body.granted
    }

    /// Waits for the thread to return (once; later calls return at once).
    public func join() {
        guard !joined else { return }
        joined = true
        pthread_join(thread, nil)
    }

    /// Waits for the thread to return, cutting its sleeps short meanwhile: a thread that sleeps
    /// in a loop checking a stop flag (the audio thread, up to 250 ms at a time) sees the flag
    /// at once. What it is doing besides sleeping (a blocking write) it finishes.
    public func wakeAndJoin() {
        guard !joined else { return }
        joined = true
        _ = cmoosync_wake_and_join(thread)
    }

    /// Lets the thread end on its own: nobody waits for it.
    public func detach() {
        guard !joined else { return }
        joined = true
        pthread_detach(thread)
    }

    deinit { join() }
}

/// Work that may block for seconds (a name lookup, a key derivation) on a thread of its own, so
/// that the control thread never waits for it: `descriptor` turns readable once the value is
/// ready, for a reactor to watch. Dropped unfinished, the work runs to its end and its value is
/// thrown away (the thread holds what it needs).
public final class BackgroundWork<Value: Sendable>: Sendable {
    private let value = Mutex<Value?>(nil)
    /// One byte is written to it when the value is ready; the reactor watches its read end.
    private let pipe: (read: CInt, write: CInt)

    public var descriptor: CInt { pipe.read }

    public init(name: String, _ work: @escaping @Sendable () -> Value) throws(Errno) {
        var ends: [CInt] = [0, 0]
        guard Glibc.pipe(&ends) == 0 else { throw Errno.current }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(ends[0], F_SETFL, O_NONBLOCK)
        pipe = (ends[0], ends[1])
        NamedThread(name: name, realtime: false) { [self] in
            let result = work()
            value.withLock { $0 = result }
            var done: UInt8 = 1
            _ = write(pipe.write, &done, 1)
        }.detach()
    }

    deinit {
        close(pipe.read)
        close(pipe.write)
    }

    /// The value, once `descriptor` is readable; nil before.
    public func take() -> Value? {
        value.withLock { $0 }
    }
}

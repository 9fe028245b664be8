import CMoosyncLinux
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
            let rc = pthread_create(&tid, nil, { raw in
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

    deinit { join() }
}

import Core

/// Catches the moment a sound card's hardware pointer moves, so that the output delay read then
/// is exact. Cards move it a DMA burst at a time (32–64 frames, about a millisecond); between
/// moves the delay they report is up to a burst too long. The first catch waits up to a burst.
/// After two catches the watch knows the burst's size and period, sleeps until just before the
/// next move and waits out only the last stretch, so a catch costs a wake-up and about 100 µs.
/// A pointer that moves frame by frame is caught within a frame; one that moves more coarsely
/// than `longestWait` is read as it is.
public struct PointerStepWatch {
    /// Wake this long before the predicted move: the timer's wake-up latency, with room.
    public static let margin: Microseconds = 100
    /// The most a catch waits for a move it cannot predict.
    public static let longestWait: Microseconds = 2_000

    public let nominalRate: Int
    private var lastStep: Microseconds?
    private var burst = 0
    /// µs between moves, measured over the catches.
    private var period: Double?

    public init(nominalRate: Int) { self.nominalRate = nominalRate }

    /// The delay `readDelay` reports just after the pointer moves (nil when it fails). No frames
    /// may be written meanwhile: the delay only shrinks, by the frames the pointer moved.
    public mutating func delayAtStep<Clock: MonotonicClock>(clock: Clock, readDelay: () -> Int?) -> Int? {
        guard var before = readDelay() else { return nil }
        if let lastStep, let period {
            let now = clock.now()
            let next = lastStep + Microseconds(((Double(now - lastStep) / period).rounded(.down) + 1) * period)
            if next - Self.margin > now {
                clock.sleep(until: next - Self.margin)
                guard let reread = readDelay() else { return nil }
                before = reread
            }
        }
        let giveUp = clock.now() + Self.longestWait
        while true {
            guard let delay = readDelay() else { return nil }
            let now = clock.now()
            if delay != before {
                noteStep(frames: before - delay, at: now)
                return delay
            }
            if now >= giveUp { return delay }
        }
    }

    private mutating func noteStep(frames: Int, at time: Microseconds) {
        // A pointer that moves a frame or two at a time has its next move microseconds away.
        guard frames > 2 else {
            lastStep = nil
            period = nil
            return
        }
        if let lastStep, frames == burst {
            // Whole bursts since the last catch: the nominal period is within a few hundred ppm
            // of the real one, far less than half a burst over a second.
            let nominal = Double(frames) * 1e6 / Double(nominalRate)
            let bursts = (Double(time - lastStep) / nominal).rounded()
            period = bursts >= 1 ? Double(time - lastStep) / bursts : nil
        } else {
            period = nil
        }
        burst = frames
        lastStep = time
    }
}

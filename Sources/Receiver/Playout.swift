import Audio
import Codec
import Config
import Core
import Resample

/// The audio side of a session: the speaker's device opened for the stream with the buffer
/// policy below, and the real-time audio thread that plays into it (DESIGN §4). The control
/// thread starts it once the host welcomed us and stops it when the session ends.
final class Playout {
    let counters = PlayoutCounters()
    let realtimeGranted: Bool
    private let thread: NamedThread

    enum Failure: Error {
        case device(AlsaError)
        case decoder(OpusError)
    }

    /// The ALSA buffer: half the playout buffer, from 20 ms to 200 ms. The rest of the playout
    /// buffer absorbs network jitter; a bigger device buffer lets the audio thread sleep longer.
    static func deviceBufferTime(latency: Microseconds) -> Microseconds { min(max(latency / 2, 20_000), 200_000) }

    /// How long the control loop leaves received packets in the socket before reading them all
    /// at once: a quarter of the time a packet has between its arrival and its write to the
    /// device (the playout buffer less the device's), at most 250 ms. Each wake-up costs CPU
    /// (on a 1 s buffer, 5 a second instead of 10 took the thread from 0.88 to 0.61 ms of CPU a
    /// second); a packet only has to be in the jitter buffer well before it is written.
    static func readInterval(latency: Microseconds) -> Microseconds {
        min(max(latency - deviceBufferTime(latency: latency), 0) / 4, 250_000)
    }

    init(output: AudioOutputSettings, format: StreamFormat, schedule: PlayoutSchedule, pool: PacketPool, incoming: SPSCRing,
         clockMapping: SharedClockMapping) throws(Failure) {
        counters.volumeQ15.store(Gain(volume: output.volume).q15, ordering: .relaxed)
        let sink: AlsaPlayback
        do {
            sink = try AlsaPlayback(device: output.deviceID, sampleRate: format.sampleRate, channels: format.channels,
                                    bufferTime: Int(Self.deviceBufferTime(latency: schedule.latency)))
        } catch { throw .device(error) }
        typealias Engine = PlayoutEngine<AlsaPlayback, SystemClock>
        let decoder: OpusDecoderHandle?
        do { decoder = try Engine.decoder(for: format) } catch { throw .decoder(error) }
        let resampler = DriftResampler(channels: format.channels, maxInputFrames: Engine.maxFrames(for: format))
        let counters = self.counters
        var engine = PlayoutEngine(format: format, decoder: decoder, resampler: resampler, pool: pool, incoming: incoming, sink: sink,
                                   clock: SystemClock(), counters: counters, schedule: schedule, clockMapping: clockMapping)
        thread = NamedThread(name: "audio", realtime: true) {
            runAudioLoop(&engine, counters: counters, clock: SystemClock())
        }
        realtimeGranted = thread.realtimeGranted
    }

    /// Stops the audio thread and waits for it; every packet it held is back in the pool.
    func stop() {
        counters.stopRequested.store(true, ordering: .releasing)
        thread.join()
    }
}

/// The longest the audio thread sleeps between steps: a full pool's drop request (the network
/// side waits up to 250 ms for it) and a stop are seen in time; every other wake-up would only
/// cost CPU.
public let audioThreadLongestSleep: Microseconds = 100_000

/// How long the audio thread sleeps when it holds no packet at all (before the stream starts,
/// or while the host sends nothing).
public let audioThreadIdleSleep: Microseconds = 10_000

/// The audio thread's loop: step the engine, sleep when it has nothing to do before a deadline,
/// at most `audioThreadLongestSleep`.
func runAudioLoop<Sink: AudioSink & ~Copyable, Clock: MonotonicClock>(_ engine: inout PlayoutEngine<Sink, Clock>, counters: PlayoutCounters, clock: Clock) {
    while !counters.stopRequested.load(ordering: .acquiring) {
        switch engine.step() {
        case .played, .concealed, .skippedLate, .primed:
            continue
        case .waiting(let until):
            clock.sleep(until: min(until, clock.now() + audioThreadLongestSleep))
        case .idle:
            clock.sleep(until: clock.now() + audioThreadIdleSleep)
        case .sinkFailed:
            clock.sleep(until: clock.now() + 10_000)
        case .finished:
            counters.finished.store(true, ordering: .releasing)
            while !counters.stopRequested.load(ordering: .acquiring) { clock.sleep(until: clock.now() + 5_000) }
        }
    }
    engine.releaseAll()
}

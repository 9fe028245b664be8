import Config
import Core
import Platform

/// What the audio thread's counters last said in the log, so each change is logged once (on the
/// control thread, once a second and when a session ends).
struct PlayoutReport {
    var underruns = 0
    var overruns = 0
    var resyncs = 0
    var refused = 0
    var sequenceRestarts = 0

    /// Logs what changed since the last call; the summary line too when `summary` is set.
    func log(_ counters: PlayoutCounters, _ log: Logger, summary: Bool = false) -> PlayoutReport {
        var r = self
        let underruns = counters.underruns.load(ordering: .relaxed)
        if underruns > r.underruns {
            log.event(.bufferUnderrun(count: underruns))
            r.underruns = underruns
        }
        let overruns = counters.overruns.load(ordering: .relaxed)
        if overruns > r.overruns {
            log.event(.bufferOverrun(count: overruns))
            r.overruns = overruns
        }
        let resyncs = counters.resyncs.load(ordering: .acquiring)
        if resyncs > r.resyncs {
            let by = counters.lastResync.load(ordering: .relaxed)
            log.event(.syncLost)
            log.info(
                "resynced to the host's schedule: \(by > 0 ? "dropped" : "inserted") \(formatDuration(Microseconds(abs(by)))) of audio (\(resyncs) "
                    + "resync(s) so far)"
            )
            r.resyncs = resyncs
        }
        let refused = counters.packetsRefused.load(ordering: .relaxed)
        if refused > r.refused {
            log.info("refused \(refused) AUDIO packet(s) with a timestamp far from the schedule")
            r.refused = refused
        }
        let restarts = counters.sequenceRestarts.load(ordering: .relaxed)
        if restarts > r.sequenceRestarts {
            log.info("the host's sequence numbers jumped beyond the jitter buffer's span \(restarts) time(s): the stream went on from the new ones")
            r.sequenceRestarts = restarts
        }
        if summary {
            log.info(
                "played \(counters.packetsPlayed.load(ordering: .relaxed)) packets (\(counters.framesPlayed.load(ordering: .relaxed)) frames), "
                    + "concealed \(counters.packetsConcealed.load(ordering: .relaxed)), late \(counters.packetsLate.load(ordering: .relaxed)), "
                    + "underruns \(underruns), overruns \(overruns); passed over \(counters.packetsDueBeforeStart.load(ordering: .relaxed)) "
                    + "already due at the start"
            )
        }
        return r
    }
}

/// Estimates the host's clock from TIME_REQ/TIME_RESP exchanges (DESIGN §6).
///
/// Each exchange gives one sample of each direction's delay: `t2 − t1` is the way up plus the
/// host's offset, `t4 − t3` the way down minus it. Queueing and radio retries only ever add to
/// a delay, so the lowest of many samples of one direction lies close to that direction's
/// floor, and the two lowest need not come from the same exchange: one-way jitter then averages
/// out as 1/N instead of biasing the offset (picking whole exchanges by round trip needs both
/// directions quiet at once). With the drift `d` fitted, the host's offset at the newest sample
/// is the centre of the band the two lower envelopes leave for it:
///
///     F(d) = min(t2 − t1 − d·(t1 − ref)),  B(d) = min(t4 − t3 + d·(t4 − ref))
///     offset = (F − B) / 2,  error bound = (F + B) / 2
///
/// A wrong drift tilts the old samples' floors into the band from one side or the other, so the
/// drift is the `d` under which the samples leave the widest band: F + B is concave in `d`, and
/// a golden-section search finds its top; 0 (or the drift kept across a change of path) where
/// a band nearly as wide leaves it open (see `zeroDriftTolerance`). The bound is what an
/// asymmetry of the two floors could still hide: half the best de-trended round trip.
///
/// Exchanges with impossible times are refused and counted, never trusted; a host clock step
/// is accepted only when several exchanges in a row agree on it.
///
/// The AUDIO frames are samples of the way down too (`addArrival`): the host stamps each with
/// when it queued it, fifty a second. On a path that delays chunks in order, a reply queued
/// behind audio seldom sees the floor, so the replies alone leave the down envelope well above
/// it for the first minute, and the drift fitted to it a few ppm off (simulated: worst error
/// over 30–60 s on the median of 100 paths 53 µs, 27 µs with the arrivals). A frame stamped
/// early or read late only inflates its sample; one whose arrival was misread early would be
/// the floor for minutes, and is refused once the fit can tell (`arrivalTolerance`).
///
/// Only the lowest samples matter, so exchanges are kept in bins of one second, each holding
/// its lowest way up and its lowest way down: a jittery path can be sampled fifty times a
/// second and the window still spans minutes. The drift needs the span: its error is the
/// floors' noise over the window's length, and the offset's is that drift error times the
/// age of the samples that bound it. Through 10 ± 8 ms of jitter, measured on recorded
/// exchanges, a 51 s window (100 ms bins) fitted drifts of ±6 ppm and was up to 270 µs off;
/// 8.5 minutes of 1 s bins, 0.1 ppm and 20 µs.
///
/// Control plane: the drift is searched when a bin opens (once a second), the offset refitted
/// on every exchange, O(window) work each; the storage is a ring allocated once.
public struct ClockEstimator {
    public struct Configuration: Sendable {
        /// Bins kept for the fit: on a jittery path the envelopes need hundreds of samples, over
        /// minutes so that the drift is told apart from the envelopes' noise.
        public var window = 512
        /// Exchanges this close together share a bin. Within one, a drift of 20 ppm moves the
        /// samples by 20 µs at most: the lowest of them stays the floor's best sample.
        public var bin: Microseconds = 1_000_000
        /// A round trip longer than this is not a clock sample (seconds of queueing).
        public var maxRoundTrip: Microseconds = 500_000
        /// A sample this far from the fitted line (beyond what its extra round trip explains)
        /// is an outlier, or a step if it persists.
        public var stepThreshold: Microseconds = 5_000
        /// Consecutive agreeing outliers that make a step.
        public var stepConfirmations = 3
        /// Drift beyond this is not a crystal (±1000 ppm covers every real oscillator).
        public var maxDriftPPM = 1_000.0
        /// The drift is fitted only over a window at least this long: over less, the envelopes'
        /// noise reads as drift (through a middlebox whose Nagle holds most replies, 2 s of
        /// samples gave ±50 ppm), and a wrong drift costs more than none: a crystal's 30 ppm
        /// moves a 10 s window's envelopes by 150 µs at most.
        public var driftSpan: Microseconds = 10_000_000
        /// …and from at least this many exchanges (four a second over those 10 s): a path sampled
        /// once a second for 10 s (after its floors fell, say) gave −5 ppm, 90 µs of error 6 s later.
        public var driftSamples = 40
        /// An exchange this far below either direction's floor (under the fitted drift), once
        /// `driftSamples` exchanges have sampled that floor, means the path itself changed: a queue that
        /// filled the link has drained, a shorter route. Fitted together with the new samples, the
        /// older ones would tilt the envelopes as a drift of hundreds of ppm would (a link that
        /// recovered gave −138, +240 and −142 ppm within 0.3 s): the drift is then fitted only
        /// from the new path's samples, once they span `driftSpan`, and kept meanwhile. The
        /// floors themselves follow at once (the older samples lie above them).
        public var floorDrop: Microseconds = 1_000
        /// The drift stays at its prior (0 in a new session, the drift kept across a change of
        /// path) until the band it leaves is narrower than the widest band's by more than this
        /// (µs) and by more than the floors' noise could account for (`floorNoise`); 0 fits
        /// freely from the first. Where one direction's floor was seen at few moments, the
        /// band is nearly as wide over tens of ppm: through a relay whose Nagle held every reply,
        /// a path's first fit (10 s, its way down near the floor twice in the first 2 s) found
        /// −60 ppm where the band at 0 was 13 µs narrower, and was 700 µs off at once. Both
        /// machines' monotonic clocks follow NTP where they have it, so 0 is the likeliest
        /// drift; one that the samples do show is fitted as before (the simulated 40 and 80 ppm
        /// hosts of `ClockEstimatorTests` alike). Through a link that carried less than the
        /// stream, whose floors sat 2 ms above the path's and wandered with its serialization,
        /// 23.5 ppm widened the band by 25 µs, where the noise allowed 110: fitted, and kept
        /// across the link's recovery, it moved the estimate 190 µs within 10 s.
        public var zeroDriftTolerance: Double = 20
        /// Once the drift is fitted, an AUDIO arrival whose way down is more than this below
        /// what the way up's floor allows (the band it leaves narrower than −this, µs) is a
        /// misread time, not a sample: one such arrival, read 200 µs early, stayed the way down's
        /// floor for the rest of a run and moved a room 105 µs. Before the fit the floors of
        /// seconds ago are tilted by the drift, and only `stepThreshold` holds.
        public var arrivalTolerance: Microseconds = 20

        public init() {}
    }

    public enum Verdict: Equatable, Sendable {
        case accepted
        /// Impossible or useless times: why.
        case refused(String)
        /// Far from the fit; kept aside in case it is the first sign of a step.
        case outlier
        /// The host's clock jumped: the estimate restarted from the new samples.
        case stepped(by: Microseconds)
    }

    private struct Sample {
        var t1: Microseconds
        var t4: Microseconds
        /// t2 − t1: the way up, plus the host's offset.
        var up: Microseconds
        /// t4 − t3: the way down, minus the host's offset.
        var down: Microseconds
        var roundTrip: Microseconds { up + down }
        /// host − local by this exchange alone (the seed's NTP formula), at its midpoint.
        var offset: Microseconds { (up - down) / 2 }
        var midpoint: Microseconds { t1 + (t4 - t1) / 2 }
    }

    /// The lowest way up and way down of the exchanges sent within one `bin` of time, each
    /// with the time it was measured at.
    private struct Bin {
        var slice: Int64
        var sent: Microseconds
        var up: Microseconds
        var arrived: Microseconds
        var down: Microseconds

        init(_ sample: Sample, slice: Int64) {
            self.slice = slice
            (sent, up, arrived, down) = (sample.t1, sample.up, sample.t4, sample.down)
        }

        mutating func take(_ sample: Sample) {
            if sample.up < up { (sent, up) = (sample.t1, sample.up) }
            if sample.down < down { (arrived, down) = (sample.t4, sample.down) }
        }
    }

    public let configuration: Configuration
    private var bins: [Bin] = []
    private var next = 0
    /// The newest bin's index in `bins`.
    private var newest = 0
    /// The newest exchange's arrival: the fit's reference time.
    private var latest: Microseconds = 0
    /// Exchanges accepted since the start, the last step or the last change of path.
    public private(set) var sampleCount = 0
    private var pendingStep: [Sample] = []
    /// The fit.
    public private(set) var mapping = ClockMapping(offset: 0)
    /// How far the fitted offset can be from the host's, µs: half the best de-trended round
    /// trip (what an asymmetry of the two directions' floors could hide).
    public private(set) var errorBound: Microseconds = 0
    /// Smoothed round trip and its mean deviation (RFC 6298's SRTT and RTTVAR), µs, over every
    /// plausible exchange.
    public private(set) var roundTrip: Microseconds = 0
    public private(set) var roundTripJitter: Microseconds = 0
    public private(set) var refused = 0
    /// AUDIO arrivals that set their bin's way down, and those whose times the fit cannot have.
    public private(set) var arrivalsTaken = 0
    public private(set) var arrivalsRefused = 0
    public private(set) var outliers = 0
    public private(set) var steps = 0
    /// Times the path's floors fell, and when they last did: the drift is fitted from the
    /// samples since.
    public private(set) var pathChanges = 0
    private var pathSince = Microseconds.min
    /// The drift this path's samples must rule out before the fit follows them: 0 in a new
    /// session, the drift kept across a change of path; nil once ruled out.
    private var priorDrift: Double? = 0
    /// Reused by every look at the floors' noise.
    private var excess: [Double] = []

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        bins.reserveCapacity(configuration.window)
        excess.reserveCapacity(configuration.window)
        pendingStep.reserveCapacity(configuration.stepConfirmations)
    }

    /// Bins in the window.
    public var binCount: Int { bins.count }

    public func host(fromLocal t: Microseconds) -> Microseconds { mapping.host(fromLocal: t) }
    public func local(fromHost t: Microseconds) -> Microseconds { mapping.local(fromHost: t) }

    /// Takes one exchange: t1 and t4 on the local clock, t2 and t3 on the host's.
    public mutating func add(t1: Microseconds, t2: Microseconds, t3: Microseconds, t4: Microseconds) -> Verdict {
        // Within these, every sum and difference below is exact and far from Int64's ends.
        let times = -largestTime...largestTime
        guard times.contains(t1), times.contains(t2), times.contains(t3), times.contains(t4) else {
            return refuse("times out of range (\(t1), \(t2), \(t3), \(t4))")
        }
        guard t4 >= t1 else { return refuse("reply arrived before the request was sent") }
        guard t3 >= t2 else { return refuse("host sent its reply before receiving the request (t3 < t2)") }
        let sample = Sample(t1: t1, t4: t4, up: t2 - t1, down: t4 - t3)
        guard sample.roundTrip >= 0 else { return refuse("host held the request longer than the round trip took") }
        guard sample.roundTrip <= configuration.maxRoundTrip else {
            return refuse("round trip of \(sample.roundTrip / 1000) ms")
        }
        measure(sample.roundTrip)
        if bins.isEmpty {
            insert(sample)
            return .accepted
        }
        let error = sample.offset - (host(fromLocal: sample.midpoint) - sample.midpoint)
        // The host's offset lies within half its round trip of an exchange's midpoint, and
        // within the bound of the fit: a sample is a step only when the two cannot meet.
        let allowance = configuration.stepThreshold + sample.roundTrip / 2 + errorBound
        if abs(error) > allowance {
            pendingStep.append(sample)
            guard pendingStep.count >= configuration.stepConfirmations else {
                outliers += 1
                return .outlier
            }
            let offsets = pendingStep.map(\.offset)
            guard offsets.max()! - offsets.min()! <= configuration.stepThreshold else {
                pendingStep.removeFirst()
                outliers += 1
                return .outlier
            }
            bins.removeAll(keepingCapacity: true)
            (next, newest, sampleCount) = (0, 0, 0)
            for s in pendingStep { insert(s) }
            pendingStep.removeAll(keepingCapacity: true)
            steps += 1
            return .stepped(by: error)
        }
        pendingStep.removeAll(keepingCapacity: true)
        if sampleCount >= configuration.driftSamples, fellBelowFloors(sample) {
            // Counted afresh, so that the new path is sampled as densely as a new session's.
            pathSince = sample.t1
            priorDrift = mapping.drift
            sampleCount = 0
            pathChanges += 1
        }
        insert(sample)
        return .accepted
    }

    /// Takes an AUDIO frame's send time (host clock) and its arrival (local clock): a sample of
    /// the way down alone, which lowers the down floor of the bin an exchange opened for its
    /// second (no bin is ever without a way up). Returns whether the fit moved.
    ///
    /// Refused and counted: times out of range, and a way down the fit cannot have (arriving
    /// before it was sent, beyond the bound and the step threshold) or longer than any round
    /// trip taken. Far below the established floor it is left to the exchanges to tell a
    /// changed path.
    public mutating func addArrival(sent t3: Microseconds, arrived t4: Microseconds) -> Bool {
        let times = -largestTime...largestTime
        guard times.contains(t3), times.contains(t4) else {
            arrivalsRefused += 1
            return false
        }
        guard !bins.isEmpty, bins[newest].slice == t4 / configuration.bin else { return false }
        // The fit's one-way delay for it; with the bound, what the way up's floor leaves.
        let delay = host(fromLocal: t4) - t3
        let tolerance = driftIsFitted ? configuration.arrivalTolerance : configuration.stepThreshold
        guard delay >= -(errorBound + tolerance), delay <= configuration.maxRoundTrip else {
            arrivalsRefused += 1
            return false
        }
        let down = t4 - t3
        guard down < bins[newest].down, !(sampleCount >= configuration.driftSamples && fellBelowDownFloor(down, arrived: t4)) else { return false }
        (bins[newest].arrived, bins[newest].down) = (t4, down)
        arrivalsTaken += 1
        latest = max(latest, t4)
        fit(searchingDrift: false)
        return true
    }

    /// Whether `sample` lies more than `floorDrop` below either direction's floor, each floor
    /// de-trended with the fitted drift to when that direction of the sample was measured.
    private func fellBelowFloors(_ sample: Sample) -> Bool {
        let up = envelopes(drift: mapping.drift, reference: sample.t1).f
        return Double(sample.up) < up - Double(configuration.floorDrop) || fellBelowDownFloor(sample.down, arrived: sample.t4)
    }

    private func fellBelowDownFloor(_ down: Microseconds, arrived: Microseconds) -> Bool {
        Double(down) < envelopes(drift: mapping.drift, reference: arrived).b - Double(configuration.floorDrop)
    }

    /// The bins measured since the path last changed: what the drift is fitted from.
    private var binsOfThisPath: LazyFilterSequence<[Bin]> {
        let since = pathSince
        return bins.lazy.filter { $0.sent >= since }
    }

    /// Counts an exchange refused before it got here (one that answers no request, say).
    public mutating func refuse(_ why: String) -> Verdict {
        refused += 1
        return .refused(why)
    }

    private mutating func measure(_ rtt: Microseconds) {
        if roundTrip == 0 && roundTripJitter == 0 {
            roundTrip = rtt
            roundTripJitter = rtt / 2
        } else {
            roundTripJitter += (abs(roundTrip - rtt) - roundTripJitter) / 4
            roundTrip += (rtt - roundTrip) / 8
        }
    }

    /// Into its bin (a new one, replacing the oldest, when its time slice is new), and fitted.
    private mutating func insert(_ sample: Sample) {
        sampleCount += 1
        latest = max(latest, sample.t4)
        let slice = sample.t1 / configuration.bin
        if !bins.isEmpty && bins[newest].slice == slice {
            bins[newest].take(sample)
            return fit(searchingDrift: false)
        }
        if bins.count < configuration.window {
            bins.append(Bin(sample, slice: slice))
            newest = bins.count - 1
        } else {
            bins[next] = Bin(sample, slice: slice)
            newest = next
            next = (next + 1) % configuration.window
        }
        fit(searchingDrift: true)
    }

    /// The lower envelopes of the bins measured since `since`, at reference time `ref`: F(d) and B(d).
    private func envelopes(drift d: Double, reference: Microseconds, since: Microseconds = .min) -> (f: Double, b: Double) {
        var f = Double.infinity
        var b = Double.infinity
        for bin in bins where bin.sent >= since {
            f = min(f, Double(bin.up) - d * Double(bin.sent - reference))
            b = min(b, Double(bin.down) + d * Double(bin.arrived - reference))
        }
        return (f, b)
    }

    /// F(d) + B(d) over the bins since the path last changed: the drift search's measure.
    private func width(drift d: Double, reference: Microseconds) -> Double {
        let (f, b) = envelopes(drift: d, reference: reference, since: pathSince)
        return f + b
    }

    /// The prior drift while this path's band under it is within the tolerance of the widest
    /// band's, else `widest`, fitted freely from then on: bands that close can have centres
    /// hundreds of µs apart, and a fit that went back and forth across the tolerance would
    /// step the offset each time; this way there is one step, at the first fit.
    private mutating func priorUnlessRuledOut(widest: Double, reference: Microseconds) -> Double {
        guard let prior = priorDrift else { return widest }
        let tolerance = configuration.zeroDriftTolerance > 0 ? max(configuration.zeroDriftTolerance, floorNoise(drift: widest, reference: reference)) : 0
        guard width(drift: prior, reference: reference) < width(drift: widest, reference: reference) - tolerance else { return prior }
        priorDrift = nil
        return widest
    }

    /// How much a tilt could widen this path's band by chance: the bins lie above the band
    /// its envelopes leave under `drift` (each bin's de-trended round trip less the band) by
    /// amounts that are the floors' noise, and the lowest of n such lie about 2/n of their
    /// median apart, the gap a tilt can close between two of them.
    private mutating func floorNoise(drift d: Double, reference: Microseconds) -> Double {
        let (f, b) = envelopes(drift: d, reference: reference, since: pathSince)
        excess.removeAll(keepingCapacity: true)
        for bin in binsOfThisPath {
            excess.append(Double(bin.up) - d * Double(bin.sent - reference) - f + Double(bin.down) + d * Double(bin.arrived - reference) - b)
        }
        guard !excess.isEmpty else { return 0 }
        excess.sort()
        return 2 * excess[excess.count / 2] / Double(excess.count)
    }

    /// Whether this path's samples are enough to fit the drift from.
    private var driftIsFitted: Bool {
        sampleCount >= configuration.driftSamples && latest - (binsOfThisPath.map(\.sent).min() ?? latest) >= configuration.driftSpan
    }

    private mutating func fit(searchingDrift: Bool) {
        let reference = latest
        var drift = mapping.drift
        if searchingDrift, driftIsFitted {
            // Golden-section search for the widest band: 44 steps shrink ±1000 ppm below 1e-12.
            let limit = configuration.maxDriftPPM / 1e6
            let ratio = (5.0.squareRoot() - 1) / 2
            var low = -limit
            var high = limit
            var a = high - ratio * (high - low)
            var b = low + ratio * (high - low)
            var wa = width(drift: a, reference: reference)
            var wb = width(drift: b, reference: reference)
            for _ in 0..<44 {
                // On a flat top (the samples say nothing of the drift) it stays near the last.
                if wa < wb || (wa == wb && drift > b) {
                    low = a
                    (a, wa) = (b, wb)
                    b = low + ratio * (high - low)
                    wb = width(drift: b, reference: reference)
                } else {
                    high = b
                    (b, wb) = (a, wa)
                    a = high - ratio * (high - low)
                    wa = width(drift: a, reference: reference)
                }
            }
            drift = priorUnlessRuledOut(widest: (low + high) / 2, reference: reference)
        }
        let (f, b) = envelopes(drift: drift, reference: reference)
        mapping = ClockMapping(reference: reference, offset: Microseconds(((f - b) / 2).rounded()), drift: drift)
        errorBound = Microseconds(max(0, (f + b) / 2).rounded())
    }
}

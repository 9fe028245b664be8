import Core
import ProtocolMessages
import Transport

/// The network half of the audio path: AUDIO payloads go straight from the socket into a
/// packet-pool slot, are checked against the negotiated stream and its schedule, and are queued
/// for the audio thread. Runs on the control thread; allocates nothing.
public struct AudioIngest {
    public let format: StreamFormat
    private let schedule: PlayoutSchedule
    private let clockMapping: SharedClockMapping
    private let pool: PacketPool
    private let incoming: SPSCRing
    private let counters: PlayoutCounters
    /// The slot the frame being read goes into. If the session ends mid-frame the pool reset
    /// takes it back.
    private var pendingSlot: Int32?
    /// False while there is no audio thread to play (the device is gone): frames are read and
    /// forgotten, so the session and its clock sync go on.
    public var accepting = true
    /// Since when the pool has been full, while the audio thread is asked to drop.
    private var poolFullSince: Microseconds?
    /// Packets in a row whose timestamps were refused.
    private var refusedInARow = 0
    /// The metadata the last packet accepted carried (`takeMetadata`), copied out of its slot
    /// into room kept for it.
    private var metadata = [UInt8](repeating: 0, count: AudioPacketHeader.maxMetadata)
    private var metadataCount: Int?
    /// The timestamp of the packet that carried it.
    private var metadataTimestamp: UInt64 = 0
    /// How late, at worst, the packets that came after their time were since the last
    /// `takeWorstLateness()`, µs past the end of their turn.
    private var worstLateness: Microseconds = 0

    /// How far a packet's timestamp may be from the stream time now on the host's clock. Ahead:
    /// what a host catching up after a stall sends at once. Behind: what the playout buffer
    /// still holds, and that much again.
    public static let plausibleLead: Microseconds = 5_000_000
    /// A run this long of refused timestamps is not a glitch: the connection ends.
    public static let refusedRunLimit = 10

    public init(
        format: StreamFormat, schedule: PlayoutSchedule, clockMapping: SharedClockMapping, pool: PacketPool, incoming: SPSCRing,
        counters: PlayoutCounters
    ) {
        self.format = format
        self.schedule = schedule
        self.clockMapping = clockMapping
        self.pool = pool
        self.incoming = incoming
        self.counters = counters
    }

    public enum Routing {
        /// Read the payload here (a pool slot, or nowhere when it is the packet lost).
        case read(FrameReader.Destination)
        /// The pool is full and the audio thread was asked to drop its oldest packet: leave the
        /// payload in the socket and route the frame again in a moment.
        case wait
        case invalid(IngestError)
    }

    /// How long a full pool may hold up reading before the new packet is the one lost: the
    /// audio thread sleeps at most `audioThreadLongestSleep` (250 ms) before it honours a drop
    /// request.
    public static let poolFullWait: Microseconds = 400_000

    /// Where an AUDIO frame's payload goes.
    public mutating func route(_ header: FrameHeader, now: Microseconds) -> Routing {
        guard header.length >= AudioPacketHeader.size, header.length <= format.maxAudioPayload else {
            return .invalid(.wrongSize(header.length, allowed: AudioPacketHeader.size...format.maxAudioPayload))
        }
        guard accepting else { return .read(.discard) }
        guard let slot = pool.acquire() else {
            guard let since = poolFullSince else {
                poolFullSince = now
                counters.dropRequests.add(1, ordering: .releasing)
                return .wait
            }
            guard now - since >= Self.poolFullWait else { return .wait }
            // The audio thread did not free a slot in time: this packet is the one lost.
            poolFullSince = nil
            counters.overruns.add(1, ordering: .relaxed)
            return .read(.discard)
        }
        poolFullSince = nil
        pendingSlot = slot
        return .read(.into(pool.storage(slot)))
    }

    /// What the audio thread plays at now (before it runs: the session's start).
    public var playingLatency: Microseconds {
        let playing = Microseconds(counters.playoutLatency.load(ordering: .relaxed))
        return playing > 0 ? playing : schedule.latency
    }

    /// The latency a packet stamped `timestamp` plays at: the host's latest change from its
    /// stream time on; before it, the one the audio thread plays at, or the change's if it is
    /// larger (the audio thread may have reached the change already: judged leniently).
    private func latency(forTimestamp timestamp: Microseconds) -> Microseconds {
        let before = playingLatency
        guard let change = LatencyChange(packed: counters.latencyChange.load(ordering: .acquiring)) else { return before }
        return timestamp >= change.from ? change.latency : max(before, change.latency)
    }

    /// How late the latest late packets were at worst (0: none), and starts counting again.
    public mutating func takeWorstLateness() -> Microseconds {
        defer { worstLateness = 0 }
        return worstLateness
    }

    /// The pool was reclaimed whole (the audio thread stopped): a frame being read finishes into
    /// its old slot and is then forgotten.
    public mutating func forgetPendingSlot() { pendingSlot = nil }

    /// Checks a complete AUDIO payload that arrived at local time `now` and hands it to the
    /// audio thread, or drops it and counts it when its timestamp is far from the schedule.
    /// Returns when the host sent it, on the host's clock, if the frame says.
    public mutating func complete(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer, now: Microseconds) throws(IngestError) -> UInt64? {
        guard let slot = pendingSlot else { return nil }  // discarded: pool full
        pendingSlot = nil
        let packet: AudioPacketHeader
        do throws(AudioPacketHeader.ParseError) { packet = try AudioPacketHeader.parse(payload) } catch {
            pool.releaseFromProducer(slot)
            throw .malformed(error)
        }
        guard let extensions = AudioPacketHeader.extensions(of: payload, flags: header.flags) else {
            pool.releaseFromProducer(slot)
            throw .extensionsOverrun
        }
        guard packet.codec == format.codec, Int(packet.sampleRate) == format.sampleRate, Int(packet.channels) == format.channels else {
            pool.releaseFromProducer(slot)
            throw .formatMismatch(packet, negotiated: format)
        }
        // The control thread is the mapping's only writer, so its own read never overlaps one.
        let streamNow = clockMapping.load()!.host(fromLocal: now) - schedule.streamStart
        let latency = latency(forTimestamp: Microseconds(truncatingIfNeeded: packet.timestamp))
        let earliest = streamNow - latency - Self.plausibleLead
        let latest = streamNow + Self.plausibleLead
        guard packet.timestamp <= UInt64(WireProtocol.maxTime), (earliest...latest).contains(Microseconds(packet.timestamp)) else {
            pool.releaseFromProducer(slot)
            counters.packetsRefused.add(1, ordering: .relaxed)
            refusedInARow += 1
            guard refusedInARow < Self.refusedRunLimit else {
                throw .offSchedule(inARow: refusedInARow, last: packet.timestamp, streamNow: streamNow)
            }
            return extensions.sentAt
        }
        refusedInARow = 0
        // Due and gone before it arrived (a path that froze lets go of seconds at once): the
        // audio thread concealed it already, and seconds of such packets would fill the pool
        // and read as the sequence numbers jumping. Before the first sound it is the host's
        // recent past, sent for a buffer longer than this one plays at: passed over, not lost.
        if Microseconds(packet.timestamp) + format.frameDuration + latency <= streamNow {
            pool.releaseFromProducer(slot)
            if counters.packetsPlayed.load(ordering: .relaxed) > 0 {
                counters.packetsLate.add(1, ordering: .relaxed)
                worstLateness = max(worstLateness, streamNow - (Microseconds(packet.timestamp) + format.frameDuration + latency))
            } else {
                counters.packetsDueBeforeStart.add(1, ordering: .relaxed)
            }
            return extensions.sentAt
        }
        if let metadata = extensions.metadata {
            keepMetadata(UnsafeRawBufferPointer(rebasing: payload[metadata]), timestamp: packet.timestamp)
        }
        // The audio thread finds the codec data right after the fixed header.
        let data = payload.count - extensions.dataOffset
        if extensions.dataOffset > AudioPacketHeader.size && data > 0 {
            UnsafeMutableRawPointer(mutating: payload.baseAddress! + AudioPacketHeader.size).copyMemory(
                from: payload.baseAddress! + extensions.dataOffset, byteCount: data)
        }
        pool.setLength(slot, AudioPacketHeader.size + data)
        let queued = incoming.push(slot)
        precondition(queued, "the incoming ring is as large as the pool")
        return extensions.sentAt
    }
}

extension AudioIngest {
    /// Keeps the metadata a packet carried (the latest is what `takeMetadata` hands on).
    private mutating func keepMetadata(_ bytes: UnsafeRawBufferPointer, timestamp: UInt64) {
        metadata.withUnsafeMutableBytes { $0.copyMemory(from: bytes) }
        metadataCount = bytes.count
        metadataTimestamp = timestamp
    }

    /// The metadata the packets accepted since the last call carried (the latest), with the
    /// stream time of the packet that carried it, if any.
    public mutating func takeMetadata() -> (bytes: [UInt8], timestamp: UInt64)? {
        guard let count = metadataCount else { return nil }
        metadataCount = nil
        return (Array(metadata[0..<count]), metadataTimestamp)
    }
}

/// Why a complete AUDIO frame ends the session.
public enum IngestError: Error, CustomStringConvertible {
    /// Shorter than the header, or longer than the stream's packets can be.
    case wrongSize(Int, allowed: ClosedRange<Int>)
    /// Its fixed header does not parse.
    case malformed(AudioPacketHeader.ParseError)
    /// Its send time or metadata runs past the frame, or its metadata is over the limit.
    case extensionsOverrun
    /// Another codec, rate or channel count than the session negotiated.
    case formatMismatch(AudioPacketHeader, negotiated: StreamFormat)
    /// Too many frames in a row far from the stream's schedule.
    case offSchedule(inARow: Int, last: UInt64, streamNow: Microseconds)

    public var description: String {
        switch self {
        case .wrongSize(let bytes, let allowed):
            "AUDIO frame of \(bytes) bytes (this stream allows \(allowed.lowerBound) to \(allowed.upperBound))"
        case .malformed(let e): "AUDIO frame: \(e)"
        case .extensionsOverrun:
            "AUDIO frame: its send time or metadata runs past the frame, or its metadata is over \(AudioPacketHeader.maxMetadata) bytes"
        case .formatMismatch(let packet, let format):
            "AUDIO frame is \(packet.codec.name) \(packet.sampleRate) Hz \(packet.channels) ch, the session negotiated "
                + "\(format.codec.name) \(format.sampleRate) Hz \(format.channels) ch"
        case .offSchedule(let count, let last, let streamNow):
            "\(count) AUDIO frames in a row with timestamps far from the stream's schedule (the last \(last) µs, stream time now \(streamNow) µs)"
        }
    }
}

import Core
import ProtocolMessages
import Receiver
import Transport
import XCTest

/// AUDIO packets with the host's send time and the seed's metadata, as the control thread takes
/// them into pool slots: both come out, the codec data closes up behind the header where the
/// audio thread reads it, and a length that lies is an invalid packet, never a read past the frame.
final class AudioIngestTests: XCTestCase {
    let format = StreamFormat(codec: .pcm, sampleRate: 48_000, channels: 2, frameSamples: 480, bitrate: 0)

    private func ingest() -> (AudioIngest, PacketPool, SPSCRing) {
        let pool = PacketPool(slotCount: 4, slotCapacity: format.maxAudioPayload)
        let incoming = SPSCRing(capacity: 4)
        let ingest = AudioIngest(
            format: format, schedule: PlayoutSchedule(streamStart: 0, latency: 200_000),
            clockMapping: SharedClockMapping(ClockMapping(offset: 0)), pool: pool, incoming: incoming, counters: PlayoutCounters())
        return (ingest, pool, incoming)
    }

    /// An AUDIO payload at stream time 1 s and the flags it goes with: header, the send time,
    /// `metadata` (its length field says `claimed` if given), then PCM samples counting up.
    private func payload(sentAt: UInt64? = nil, metadata: [UInt8]?, claimed: Int? = nil) -> (flags: UInt8, bytes: [UInt8]) {
        var bytes = [UInt8](repeating: 0, count: AudioPacketHeader.size)
        bytes.withUnsafeMutableBytes {
            AudioPacketHeader(sequence: 50, timestamp: 1_000_000, sampleRate: 48_000, channels: 2, codec: .pcm).encode(into: $0)
        }
        var flags: UInt8 = 0
        if let sentAt {
            flags |= AudioPacketHeader.sentAtFlag
            bytes += (0..<8).reversed().map { UInt8(truncatingIfNeeded: sentAt >> (8 * $0)) }
        }
        if let metadata {
            flags |= AudioPacketHeader.metadataFlag
            let length = claimed ?? metadata.count
            bytes += [UInt8(length >> 8), UInt8(length & 0xff)] + metadata
        }
        return (flags, bytes + (0..<(format.samplesPerPacket * 2)).map { UInt8($0 & 0xff) })
    }

    /// Routes and completes one frame at local time `now` (1.1 s: 100 ms before it is due), as
    /// the session does.
    private func take(_ ingest: inout AudioIngest, _ frame: (flags: UInt8, bytes: [UInt8]), now: Microseconds = 1_100_000) throws(IngestError) -> UInt64? {
        let header = FrameHeader(type: .audio, flags: frame.flags, length: frame.bytes.count)
        guard case .read(.into(let slot)) = ingest.route(header, now: now) else {
            XCTFail("not routed into a slot")
            return nil
        }
        frame.bytes.withUnsafeBytes { slot.copyMemory(from: $0) }
        return try ingest.complete(header, UnsafeRawBufferPointer(rebasing: slot[0..<frame.bytes.count]), now: now)
    }

    /// A path that froze lets go of seconds of packets at once: those whose time has passed go
    /// back to the pool at once, counted late, and never reach the audio thread. Before the
    /// first sound such a packet is the host's recent past, sent for a longer buffer: passed
    /// over, not lost.
    func testAPacketThatArrivesAfterItsTimeIsDroppedAtTheDoor() throws {
        let pool = PacketPool(slotCount: 4, slotCapacity: format.maxAudioPayload)
        let incoming = SPSCRing(capacity: 4)
        let counters = PlayoutCounters()
        var ingest = AudioIngest(
            format: format, schedule: PlayoutSchedule(streamStart: 0, latency: 200_000),
            clockMapping: SharedClockMapping(ClockMapping(offset: 0)), pool: pool, incoming: incoming, counters: counters)
        // Due from 1.2 s to 1.21 s.
        XCTAssertNoThrow(try take(&ingest, payload(metadata: nil), now: 1_210_000))
        XCTAssertEqual(counters.packetsDueBeforeStart.load(ordering: .relaxed), 1)
        XCTAssertEqual(counters.packetsLate.load(ordering: .relaxed), 0)
        counters.packetsPlayed.store(1, ordering: .relaxed)
        for _ in 0..<8 { XCTAssertNoThrow(try take(&ingest, payload(metadata: nil), now: 1_210_000)) }
        XCTAssertNil(incoming.pop())
        XCTAssertEqual(counters.packetsLate.load(ordering: .relaxed), 8)
        // Its last frames can still play: the audio thread decides.
        XCTAssertNoThrow(try take(&ingest, payload(metadata: nil), now: 1_209_000))
        XCTAssertNotNil(incoming.pop())
        XCTAssertEqual(counters.packetsLate.load(ordering: .relaxed), 8)
        // How late, at worst: what a larger buffer would have had to hold.
        XCTAssertEqual(ingest.takeWorstLateness(), 0, "at the end of its turn")
        XCTAssertNoThrow(try take(&ingest, payload(metadata: nil), now: 1_500_000))
        XCTAssertNoThrow(try take(&ingest, payload(metadata: nil), now: 1_300_000))
        XCTAssertEqual(ingest.takeWorstLateness(), 290_000)
        XCTAssertEqual(ingest.takeWorstLateness(), 0, "taken")
    }

    func testMetadataIsTakenOutAndTheCodecDataClosesUp() throws {
        var (ingest, pool, incoming) = ingest()
        let metadata = Array(#"{"song_id":"a","volume":0.5}"#.utf8)
        XCTAssertNoThrow(try take(&ingest, payload(metadata: metadata)))
        let slot = try XCTUnwrap(incoming.pop())
        XCTAssertEqual(Array(pool.contents(slot)), payload(metadata: nil).bytes, "the audio thread sees the packet as if it had carried nothing")
        let taken = try XCTUnwrap(ingest.takeMetadata())
        XCTAssertEqual(taken.bytes, metadata)
        XCTAssertEqual(taken.timestamp, 1_000_000)
        XCTAssertNil(ingest.takeMetadata(), "taken once")
        // Without the flag the same bytes are codec data.
        XCTAssertNoThrow(try take(&ingest, payload(metadata: nil)))
        XCTAssertNil(ingest.takeMetadata())
    }

    /// The host's send time is a clock-sync sample: handed back, and gone from what the audio
    /// thread reads, with or without metadata after it.
    func testTheSendTimeIsHandedBackAndTheCodecDataClosesUp() throws {
        var (ingest, pool, incoming) = ingest()
        XCTAssertEqual(try take(&ingest, payload(sentAt: 1_087_654, metadata: nil)), 1_087_654)
        XCTAssertEqual(Array(pool.contents(try XCTUnwrap(incoming.pop()))), payload(metadata: nil).bytes)
        let metadata = Array(#"{"position":12.5}"#.utf8)
        XCTAssertEqual(try take(&ingest, payload(sentAt: 1_088_000, metadata: metadata)), 1_088_000)
        XCTAssertEqual(Array(pool.contents(try XCTUnwrap(incoming.pop()))), payload(metadata: nil).bytes)
        XCTAssertEqual(ingest.takeMetadata()?.bytes, metadata)
        XCTAssertEqual(try take(&ingest, payload(metadata: nil)), nil, "a host that does not stamp")
        // A flag whose send time the frame is too short to hold.
        var short = payload(metadata: nil)
        short.flags = AudioPacketHeader.sentAtFlag
        short.bytes.removeLast(short.bytes.count - AudioPacketHeader.size - 5)
        XCTAssertThrowsError(try take(&ingest, short), "a cut-short send time was taken") { e in
            XCTAssertEqual("\(e)", "AUDIO frame: its send time or metadata runs past the frame, or its metadata is over 320 bytes")
        }
    }

    func testAMetadataLengthThatLiesIsAnInvalidPacket() {
        var (ingest, _, incoming) = ingest()
        let samples = format.samplesPerPacket * 2
        for claimed in [samples + 100, 0xffff, AudioPacketHeader.maxMetadata + 1] {
            XCTAssertThrowsError(try take(&ingest, payload(metadata: [UInt8](repeating: 0x20, count: 40), claimed: claimed)), "\(claimed) taken") { e in
                XCTAssertEqual("\(e)", "AUDIO frame: its send time or metadata runs past the frame, or its metadata is over 320 bytes")
            }
        }
        XCTAssertNil(incoming.pop(), "nothing reached the audio thread")
        XCTAssertNil(ingest.takeMetadata())
    }
}

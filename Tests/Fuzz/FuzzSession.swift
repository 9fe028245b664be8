import AudioPathHarness
import Codec
import Core
import Platform
import ProtocolMessages
import Transport

@testable import Receiver

// libFuzzer target: the receiver's whole session against a host played from the fuzz input:
// the handshake (HELLO → WELCOME/REJECT), then the stream (frames into the pool, TIME_REQ /
// TIME_RESP clock sync, STATUS, BYE) on the reactor with a stepped clock, and the playout
// engine on a memory sink, stepped in between. The input is the host's byte stream; its first
// bytes set how it is cut up, how fast time passes, and whether the receiver has a password.
// Built by scripts/fuzz.sh.
#if canImport(Glibc)
import Glibc
#endif

/// The receiver's clock when it sends HELLO: a WELCOME must echo it as t1 (the seed corpus does).
let helloTime: Microseconds = 1_000_000
/// With the first byte's top bit set the receiver has a password, so the host's CHALLENGE and
/// AUTH are fuzzed too (its WELCOME then needs a proof no input can make). Shared across inputs:
/// a salt seen before is not derived again.
let password = PasswordKeys("correct horse")
/// What the receiver would log goes nowhere: libFuzzer's own report is on stderr.
let log = Logger(program: "fuzz", descriptor: open("/dev/null", O_WRONLY))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSession(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 3 else { return 0 }
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let perStep = Int(input[1]) * 8 + 1
    let tick = Microseconds(input[2]) * 200 + 100
    let channel = FuzzChannel(bytes: UnsafeRawBufferPointer(rebasing: input[3...]), chunk: Int(input[0] & 0x7f) + 1, releasedUpFront: perStep)
    let clock = SteppedClock(startingAt: helloTime)
    let handshake = HandshakePhase(
        channel: channel,
        hello: { t1 in
            Hello(clientID: "fuzz", clientName: "fuzz", audioFormats: ["opus", "flac", "pcm"], maxBufferSize: "200ms", lowLatency: false, t1: t1)
        }, password: input[0] & 0x80 != 0 ? password : nil, log: log)
    var accepted: HandshakeMessages.Accepted?
    for _ in 0..<64 where accepted == nil {
        switch handshake.advance(clock: clock) {
        case .waiting:
            channel.release(perStep)
            clock.advance(by: tick)
        case .deriving(let descriptor):
            // The keys come from a thread of their own: waited for here (a step is not a reactor).
            var ready = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            _ = poll(&ready, 1, 5_000)
        case .welcomed(let a): accepted = a
        case .unreachable, .failed, .refused: return 0
        }
    }
    guard let accepted, accepted.format.isPlayable else { return 0 }
    stream(accepted, channel: channel, reader: handshake.takeReader(), clock: clock, perStep: perStep, tick: tick)
    return 0
}

private func stream(
    _ accepted: HandshakeMessages.Accepted, channel: FuzzChannel, reader: consuming FrameReader, clock: SteppedClock, perStep: Int,
    tick: Microseconds
) {
    let format = accepted.format
    let latency: Microseconds = 200_000
    let slots = packetPoolSlots(bufferSize: latency, frameDuration: format.frameDuration)
    let pool = PacketPool(slotCount: slots, slotCapacity: format.maxAudioPayload)
    let incoming = SPSCRing(capacity: slots)
    var clockSync = ClockSync()
    clockSync.add(accepted.exchange)
    let clockMapping = SharedClockMapping(clockSync.estimator.mapping)
    let schedule = PlayoutSchedule(streamStart: accepted.welcome.streamStart, latency: latency)
    // An odd tick byte: the device is missing for the first 300 ms.
    let output = SteppedOutput(clock: clock)
    output.card.missingUntil = tick / 100 % 2 == 1 ? clock.now() + 300_000 : 0
    let session = StreamSession(
        channel: channel, reader: reader, format: format, schedule: schedule, pool: pool, incoming: incoming,
        counters: PlayoutCounters(), clockSync: clockSync, clockMapping: clockMapping, readInterval: 20_000,
        buffer: LatencyController(floor: latency, ceiling: 2 * latency, now: clock.now()), output: output, log: log)
    var reactor = Reactor<ReceiverToken>(clock: clock)
    reactor.register(.host, fd: -1, interest: .read)
    var ended = session.start(&reactor, device: output.open(format: format, latency: latency)) != nil
    var steps = 0
    while !ended && steps < 4_000 {
        steps += 1
        channel.release(perStep)
        clock.advance(by: tick)
        for event in reactor.wait(maxWait: 0) where !ended {
            ended = session.handle(event, &reactor) != nil
        }
        output.card.playout?.step()
        if channel.exhausted && steps > 2_000 { break }
    }
    session.end(&reactor)
    precondition(pool.freeCount == pool.slotCount, "every packet back in the pool")
}

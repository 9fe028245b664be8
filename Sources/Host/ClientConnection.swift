import Config
import Core
import Platform
import ProtocolMessages
import Secure
import Transport

/// One receiver's connection on the host, as a state machine: it finishes the channel's handshake
/// (TLS), waits for HELLO, has the receiver prove the password when there is one (SPAKE2+:
/// CHALLENGE, then AUTH both ways), streams once
/// welcomed, and closes after its last REJECT or BYE has left. It reads and answers the frames a
/// receiver may send in each state (TIME_REQ, STATUS, BYE); the engine decides what HELLO gets
/// (the stream it negotiates) and feeds it audio.
final class ClientConnection {
    enum State: Equatable {
        /// The channel's own handshake (TLS); HELLO must still come by the same deadline.
        case securing(deadline: Microseconds)
        case awaitingHello(deadline: Microseconds)
        /// CHALLENGE sent: the receiver's share, then its confirmation, by the same deadline.
        case authenticating(deadline: Microseconds)
        case streaming
        /// Flushing a last REJECT or BYE, then closing.
        case closing(deadline: Microseconds)
        case closed
    }

    /// What the engine answers a HELLO with.
    enum Negotiation {
        /// `backlog`: AUDIO frames of the recent past to send right after the WELCOME.
        case welcome(Welcome, codec: WireCodec, backlog: [[UInt8]], delivery: Delivery = Delivery())
        case reject(AudioShareError, message: String)
        /// Sent away by the host's user (`mshost kick`): REJECT `AuthenticationFailed`, not
        /// counted against the address, since it guessed nothing.
        case sentAway(message: String)
    }

    /// How a welcomed receiver's audio is sent: at which bitrates (Opus tiers it moves among,
    /// best first, when the host adapts; else the one), and how much audio may wait for its
    /// path before a frame is skipped instead of queued (none: no limit).
    struct Delivery {
        var bitrates: [Int] = []
        var queueBudget: Microseconds?
    }

    let id: Int
    let channel: any ByteChannel
    private var reader = FrameReader()
    /// Room for a backlog of PCM (10 s is 1.9 MB) and a second of the live stream besides.
    private var outbox = OutputQueue(capacity: 3 << 20)
    private let log: Logger
    /// Stamps each AUDIO frame with when it was queued: the receiver's samples of the way down.
    private let clock: any MonotonicClock
    private(set) var state: State
    let address: String
    /// Its address without the port: what the host's limits count by.
    let source: String
    let connectedAt: Microseconds
    private(set) var clientID = ""
    private(set) var name = ""
    private(set) var codec = WireCodec.opus
    /// The last STATUS it sent, for the client list.
    private(set) var lastStatus: Status?
    /// The buffer it wants the group to play at, once it has said (a receiver of another
    /// version does not).
    var wantedBuffer: Microseconds? { lastStatus.flatMap { $0.wantedBuffer > 0 ? $0.wantedBuffer : nil } }
    private var delivery = Delivery()
    /// Frames skipped because too much audio waited for the path, and since when every frame was.
    private(set) var skippedFrames = 0
    private var skippingSince: Microseconds?
    /// A receiver whose path takes nothing for this long is let go.
    static let stalledTimeout: Microseconds = 10_000_000
    /// With `adaptive_bitrate`, the Opus tier its path carries; the tier it is sent follows it
    /// once that tier's encoder has warmed up.
    private var bitrateController: BitrateController?
    private(set) var tier = 0
    /// The tier it is to be switched to, if it is not sent the one its path carries.
    var wantedTier: Int? { bitrateController.flatMap { $0.tier == tier ? nil : $0.tier } }
    private var writeWaitsFor: Interest = []
    private var handshakeWaitsFor: Interest = .read
    /// Whether this connection failed to authenticate (the password, the certificate): its
    /// address waits before the next is looked at. A failed TLS handshake is not counted: it
    /// proves nothing wrong about a password, and a burst of them is refused anyway.
    var failedAttempt: Bool { refused || failedProof }
    private var refused = false
    /// The host gave its half of the password proof (shareV and confirmV, from which a guesser
    /// learns whether its guess was right) and no WELCOME followed: however the connection then
    /// ends (a wrong confirmation, BYE, a reset, a malformed frame, the deadline), it was a
    /// guess, and it counts against the address and against the host's `ProofBudget`.
    private(set) var failedProof = false
    /// Its address was made to wait for it already (the engine's note).
    var addressPenalized = false
    private let proofs: ProofBudget
    /// When its proof was charged to `proofs`, while that proof is under way.
    private var proofCharged: Microseconds?
    /// A REJECT decided before the handshake ended (the client list was full): sent once the
    /// channel can carry it.
    private var pendingReject: (error: AudioShareError, message: String)?
    private let admission: Admission
    /// What a welcomed receiver may ask of the host (`sharing.permissions`).
    private let permissions: Permissions
    /// The ADVERTISEMENT frame a welcomed receiver gets when it asks.
    private let advertisement: [UInt8]
    private var password: PasswordVerifier? { admission.password }
    /// While authenticating: the HELLO to answer once the proof is in, and the exchange so far.
    private var proving: (hello: Hello, received: Microseconds, verifier: SPAKE2PlusVerifier?)?
    /// The host's half of the proof (four P-256 multiplications: some 5 ms here, several times
    /// that on a Pi), worked out on a thread of its own so that a receiver's share cannot hold
    /// the reactor. The connection is not read meanwhile.
    private var proofWork: BackgroundWork<Result<SPAKE2PlusVerifier, SPAKE2Plus.Failure>>?
    /// What the engine watches for the host's half of the proof, while it is worked out.
    var proofDescriptor: CInt? { proofWork?.descriptor }

    static let helloTimeout: Microseconds = 5_000_000
    static let closingTimeout: Microseconds = 1_000_000

    init(
        id: Int, channel: any ByteChannel, now: Microseconds, log: Logger, admission: Admission = Admission(),
        permissions: Permissions = Permissions(), advertisement: [UInt8] = ServiceAdvertisement().frame, clock: any MonotonicClock = SystemClock(),
        proofs: ProofBudget = ProofBudget()
    ) {
        self.id = id
        self.proofs = proofs
        self.clock = clock
        self.advertisement = advertisement
        self.admission = admission
        self.permissions = permissions
        self.channel = channel
        self.log = log
        address = channel.peerDescription
        source = ConnectionLimiter.source(of: address)
        connectedAt = now
        state = .securing(deadline: now + Self.helloTimeout)
        secure(now: now)
    }

    var label: String { clientID.isEmpty ? address : "\(name) (\(address))" }

    /// The certificate the receiver presented over TLS, if any.
    var certificate: Fingerprint? { channel.peerCertificateFingerprint.flatMap(Fingerprint.init(bytes:)) }
    var isStreaming: Bool { state == .streaming }
    var isClosing: Bool { if case .closing = state { true } else { false } }
    /// Connected but not yet welcomed (TLS, HELLO, the password proof): what a stranger can hold.
    var isUnauthenticated: Bool {
        switch state {
        case .securing, .awaitingHello, .authenticating: true
        case .streaming, .closing, .closed: false
        }
    }

    /// The deadline of the current state, if it has one.
    var deadline: Microseconds? {
        switch state {
        case .securing(let d), .awaitingHello(let d), .authenticating(let d), .closing(let d): return d
        case .streaming, .closed: return nil
        }
    }

    /// What its descriptor should be watched for.
    var interest: Interest {
        switch state {
        case .closed: return []
        case .securing: return handshakeWaitsFor
        case .closing: return writeWaitsFor.union(.read)
        case .authenticating where proofWork != nil: return writeWaitsFor
        case .awaitingHello, .authenticating, .streaming: return writeWaitsFor.union(.read)
        }
    }

    /// The descriptor is ready: flush what waits, read what came.
    func ready(_ interest: Interest, now: Microseconds, negotiate: (Hello, Microseconds) -> Negotiation) {
        if case .securing = state {
            secure(now: now)
            guard case .awaitingHello = state else { return }
        }
        if interest.contains(.write) { flush() }
        if interest.contains(.read) { read(now: now, negotiate: negotiate) }
    }

    func deadlinePassed(now: Microseconds) {
        switch state {
        case .securing(let d) where now >= d:
            log.info("\(address): no TLS handshake within \(formatDuration(Self.helloTimeout)); closed")
            close()
        case .awaitingHello(let d) where now >= d: reject(.connectionTimeout, "no HELLO within \(formatDuration(Self.helloTimeout))", now: now)
        case .authenticating(let d) where now >= d: reject(.connectionTimeout, "no password proof within \(formatDuration(Self.helloTimeout))", now: now)
        case .closing(let d) where now >= d: close()
        default: break
        }
    }

    /// Queues an AUDIO frame; a receiver that cannot take seconds of audio is dropped. Behind
    /// more than the budget's worth of audio it would arrive too late to play: skipped (the
    /// receiver conceals it), so a path slower than the stream costs gaps, not audio ever later.
    func sendAudio(_ frame: UnsafeRawBufferPointer, now: Microseconds) {
        guard isStreaming else { return }
        if let budget = delivery.queueBudget, let queued, queued > budget {
            skippedFrames += 1
            let since = skippingSince ?? now
            skippingSince = since
            if now - since >= Self.stalledTimeout {
                bye(.timeout, why: "its path has taken no audio for \(formatDuration(now - since))", now: now)
            }
            return
        }
        skippingSince = nil
        guard queueAudio(frame) else { return bye(.timeout, why: "receiver is not taking audio fast enough (queue full)", now: now) }
        flush()
    }

    /// Queues an AUDIO frame stamped with the time it is queued: the clock is read here, not
    /// the loop's wake-up time, which encoding and the receivers before this one have aged.
    private func queueAudio(_ frame: UnsafeRawBufferPointer) -> Bool {
        outbox.append(frame) { AudioPacketHeader.stamp(sentAt: UInt64(clamping: clock.now()), frame: $0) }
    }

    /// BYE to a streaming receiver, then close once it is flushed. `stayAwaySeconds`: for
    /// `kicked`, how long the receiver is to stay away (nil: until it restarts).
    func bye(_ reason: ByeReason, why: String?, stayAwaySeconds: Int? = nil, now: Microseconds) {
        if let why { log.info("\(label): \(why)") }
        _ = outbox.append(Bye(reason, stayAwaySeconds: stayAwaySeconds).frame)
        log.event(.clientDisconnected(clientID: clientID, reason: .ended(reason)))
        state = .closing(deadline: now + Self.closingTimeout)
        flush()
    }

    /// REJECT before WELCOME, then close once it is flushed.
    func reject(_ error: AudioShareError, _ message: String, now: Microseconds) {
        if case .invalidPacket = error {} else { log.failure(error) }
        if error == .authenticationFailed { refused = true }
        if case .securing = state {
            pendingReject = (error, message)
            return
        }
        sendLast(Reject(error, message: message), now: now)
    }

    private func sendLast(_ reject: Reject, now: Microseconds) {
        _ = outbox.append(reject.frame)
        state = .closing(deadline: now + Self.closingTimeout)
        flush()
    }

    var hasPendingOutput: Bool { !outbox.isEmpty }

    /// Advances the channel's handshake; once done, HELLO is awaited by the same deadline.
    private func secure(now: Microseconds) {
        guard case .securing(let deadline) = state else { return }
        switch channel.handshake() {
        case .done:
            state = .awaitingHello(deadline: deadline)
            if let pendingReject { sendLast(Reject(pendingReject.error, message: pendingReject.message), now: now) }
        case .wouldBlock(let interest): handshakeWaitsFor = interest
        case .failed(let e):
            log.info(e.description)
            close()
        }
    }

    /// Frames one wake-up takes from a receiver: one that sends without pause (each frame up
    /// to 16 KB of JSON) cannot hold the loop from the others' audio.
    static let framesPerWake = 16
    /// The last wake-up stopped at its budget with more to read: the engine reads again at
    /// once, after whatever else is ready (TLS may hold the rest, where `poll` cannot see it).
    private(set) var hasMoreToRead = false

    private func read(now: Microseconds, negotiate: (Hello, Microseconds) -> Negotiation) {
        hasMoreToRead = false
        var frames = 0
        while state != .closed && !isClosing {
            // What came after the share waits for the host's half of the proof.
            guard proofWork == nil else {
                hasMoreToRead = true
                return
            }
            switch reader.next(from: channel) {
            case .header(let h):
                if let why = acceptable(h) { return invalid(why, now: now) }
                reader.route(h.type == nil ? .discard : .scratch)
            case .frame(let h, let payload):
                handle(h, payload, received: channel.lastArrival ?? now, now: now, negotiate: negotiate)
                frames += 1
                if frames == Self.framesPerWake {
                    hasMoreToRead = state != .closed && !isClosing
                    return
                }
            case .wouldBlock:
                return
            case .closed(let midFrame):
                if midFrame {
                    log.failure(.invalidPacket("\(label): connection closed in the middle of a frame (truncated frame)"))
                    return close(reason: .ended(.invalidPacket))
                }
                if case .authenticating = state {
                    // A receiver whose password differs finds out first (the host's confirmation
                    // does not match) and leaves without its own, which would let a rogue host
                    // test guesses offline.
                    log.failure(.authenticationFailed)
                    log.info("\(label) left during the password proof: its receiving.password is not this host's (or it has none)")
                    refused = true
                }
                return close(reason: .closed)
            case .failed(let e):
                log.event(.networkError("\(label): \(e)"))
                return close(reason: .networkError)
            }
        }
    }

    /// Why a frame header from a receiver is not acceptable in this state, or nil.
    private func acceptable(_ h: FrameHeader) -> String? {
        guard h.length <= WireProtocol.maxControlPayload else {
            return "frame of \(h.length) bytes (at most \(WireProtocol.maxControlPayload) from a receiver)"
        }
        switch (state, h.type) {
        case (.awaitingHello, .hello?): return nil
        case (.awaitingHello, _): return "expected HELLO first, got frame type \(h.rawType)"
        case (.authenticating, .auth?), (.authenticating, .bye?): return nil
        case (.authenticating, _): return "expected AUTH (the password proof), got frame type \(h.rawType)"
        case (_, nil): return nil  // unknown types are skipped
        case (_, .timeRequest?), (_, .status?), (_, .bye?), (_, .control?), (_, .chat?), (_, .advertisement?): return nil
        case (_, let type?): return "unexpected \(type) frame from a receiver"
        }
    }

    private func handle(
        _ h: FrameHeader, _ payload: UnsafeRawBufferPointer, received: Microseconds, now: Microseconds,
        negotiate: (Hello, Microseconds) -> Negotiation
    ) {
        switch h.type {
        case .hello:
            let hello: Hello
            do throws(ProtocolError) { hello = try Hello.decode(payload) } catch { return invalid(error.description, now: now) }
            clientID = hello.clientID
            name = hello.clientName
            // A listed receiver that offers a password is asked for it all the same: it plays
            // only a host that proves it knows the password.
            if let certificate, admission.allowedClients.contains(certificate), password == nil || hello.authenticationMethod != .password {
                return welcome(hello, received: received, now: now, negotiate: negotiate)
            }
            if password == nil && !admission.allowedClients.isEmpty {
                log.info(
                    "\(label): its certificate \(certificate.map(String.init(describing:)) ?? "(none)") is not in sharing.allowed_clients; add "
                        + "it there to admit this receiver"
                )
                return reject(.authenticationFailed, "this receiver's certificate is not on the host's list", now: now)
            }
            if let password {
                if let next = proofs.nextProof(now: now) { return refuseProof(until: next, now: now) }
                proving = (hello, received, nil)
                state = .authenticating(deadline: connectedAt + Self.helloTimeout)
                return send(Challenge(method: .password, salt: password.salt, iterations: password.iterations).frame, now: now)
            }
            welcome(hello, received: received, now: now, negotiate: negotiate)
        case .auth:
            do throws(ProtocolError) { authenticate(try AuthMessage.decode(payload), now: now, negotiate: negotiate) } catch {
                invalid(error.description, now: now)
            }
        case .timeRequest:
            do throws(ProtocolError) {
                let request = try TimeRequest.decode(payload)
                // `now` is when the loop woke, which can be before the request's bytes arrived:
                // the reply leaves after both.
                // A clock before zero (a time namespace set back) cannot be said on the wire:
                // sent as 0, which the receiver refuses and counts.
                send(TimeResponse(t1: request.t1, t2: UInt64(clamping: received), t3: UInt64(clamping: max(now, received))).frame, now: now)
            } catch {
                invalid(error.description, now: now)
            }
        case .status:
            do throws(ProtocolError) {
                let status = try Status.decode(payload)
                lastStatus = status
                adapt(to: status, now: now)
            } catch {
                invalid(error.description, now: now)
            }
        case .bye:
            close(reason: .bye(Bye.decode(payload).reason))
        case .control:
            do throws(ProtocolError) { command(try Control.decode(payload), now: now) } catch { invalid(error.description, now: now) }
        case .advertisement:
            send(advertisement, now: now)
        case .chat:
            let chat: Chat
            do throws(ProtocolError) { chat = try Chat.decode(payload) } catch { return invalid(error.description, now: now) }
            guard permissions.allowChat else { return refuse("chat", needs: "allow_chat", now: now) }
            log.event(.chatMessage(clientID: clientID, text: chat.text))
        default:
            break  // unknown types are skipped
        }
    }

    /// What HELLO gets once any proof is in: WELCOME and the recent past, or REJECT.
    private func welcome(_ hello: Hello, received: Microseconds, now: Microseconds, negotiate: (Hello, Microseconds) -> Negotiation) {
        switch negotiate(hello, received) {
        case .reject(let error, let message): reject(error, message, now: now)
        case .sentAway(let message):
            log.failure(.authenticationFailed)
            sendLast(Reject(.authenticationFailed, message: message), now: now)
        case .welcome(let welcome, let codec, let backlog, let delivery):
            self.codec = codec
            self.delivery = delivery
            if delivery.bitrates.count > 1 { bitrateController = BitrateController(bitrates: delivery.bitrates) }
            state = .streaming
            log.event(.clientConnected(clientID: hello.clientID, name: hello.clientName, address: address))
            // The WELCOME and the recent past leave together, in as few writes as the socket takes.
            guard outbox.append(welcome.frame) && backlog.allSatisfy({ frame in frame.withUnsafeBytes { queueAudio($0) } }) else {
                return bye(.timeout, why: "receiver is not reading (queue full)", now: now)
            }
            flush()
        }
    }

    /// The receiver's share (answered with the host's share and confirmation), then its
    /// confirmation (a WELCOME if it proves the password, else REJECT `AuthenticationFailed`).
    private func authenticate(_ message: AuthMessage, now: Microseconds, negotiate: (Hello, Microseconds) -> Negotiation) {
        guard let password, let current = proving else { return invalid("AUTH without a CHALLENGE", now: now) }
        switch (message.step, current.verifier) {
        case (.proverShare, nil):
            switch proofs.charge(from: source, now: now) {
            case .spent(let until)?:
                return refuseProof(until: until, now: now)
            case .underWay?:
                log.info("\(label): another password proof from \(source) is under way; refused")
                return reject(.authenticationFailed, "another password proof from this address is under way: try again shortly", now: now)
            case nil:
                proofCharged = now
            }
            let context: [UInt8]
            do throws(SPAKE2Plus.Failure) { context = try SPAKE2Plus.context(of: channel) } catch {
                // Nothing was answered: not a guess.
                settleProof(refunded: true)
                return invalid("AUTH: \(error)", now: now)
            }
            let (w0, L, shareP) = (password.w0, password.L, message.bytes)
            do {
                proofWork = try BackgroundWork(name: "proof") {
                    Result { () throws(SPAKE2Plus.Failure) in try SPAKE2PlusVerifier(w0: w0, L: L, context: context, shareP: shareP) }
                }
            } catch {
                settleProof(refunded: true)
                log.error("\(label): cannot start a thread for the password proof (\(error))")
                reject(.networkError("the host cannot answer a proof now"), "the host cannot answer a password proof now: try again shortly", now: now)
            }
        case (.proverConfirmation, let verifier?):
            proving = nil
            guard verifier.accepts(confirmP: message.bytes) else {
                log.info("\(label): wrong password (its proof does not match this host's password)")
                return reject(.authenticationFailed, "wrong password", now: now)
            }
            failedProof = false
            settleProof(refunded: true)
            welcome(current.hello, received: current.received, now: now, negotiate: negotiate)
        default:
            invalid("AUTH step \(message.step) out of order", now: now)
        }
    }

    /// The host's half of the proof is worked out (`proofDescriptor` turned readable): it is
    /// sent, and the connection is read again.
    func proofReady(now: Microseconds) {
        guard let work = proofWork, let result = work.take(), let current = proving else { return }
        proofWork = nil
        guard state != .closed && !isClosing else { return }
        switch result {
        case .success(let verifier):
            proving = (current.hello, current.received, verifier)
            failedProof = true
            send(AuthMessage(step: .verifierShare, bytes: verifier.shareV + verifier.confirmV).frame, now: now)
        case .failure(let error):
            settleProof(refunded: true)
            invalid("AUTH: \(error)", now: now)
        }
    }

    /// The host's ceiling of failed proofs is reached until `until`: REJECT, with the wait in
    /// whole seconds.
    private func refuseProof(until: Microseconds, now: Microseconds) {
        let wait = formatDuration((until - now + 999_999) / 1_000_000 * 1_000_000)
        log.info(
            "\(label): \(ProofBudget.limit) password proofs failed on this host within \(formatDuration(ProofBudget.window)); not answering another for \(wait)"
        )
        reject(.authenticationFailed, "too many failed password proofs on this host: try again in \(wait)", now: now)
    }

    /// Its proof, if one was charged, is over (it was welcomed, or the connection ended): its
    /// address may start another. `refunded`: it was no guess (welcomed, or never answered).
    func settleProof(refunded: Bool = false) {
        guard let charged = proofCharged else { return }
        if refunded { proofs.refund(chargedAt: charged) }
        proofCharged = nil
        proofs.settled(from: source)
    }

    /// A CONTROL from a receiver, checked against `sharing.permissions`: allowed, it becomes an
    /// event for the player; not, the receiver is told why. Volume and mute are the speaker's own.
    private func command(_ control: Control, now: Microseconds) {
        if control.isPlaybackControl && !permissions.allowPlaybackControl { return refuse(control.name, needs: "allow_playback_control", now: now) }
        if control.isQueueControl && !permissions.allowQueueControl { return refuse(control.name, needs: "allow_queue_control", now: now) }
        let value: String
        switch control.action {
        case .volume(let v): value = String(v)
        case .mute(let on): value = String(on)
        case .queueAdd(let song), .queueRemove(let song): value = song
        case .refused, .quality, .buffer: return invalid("CONTROL \(control.name) is the host's to send", now: now)
        case .play, .pause, .next, .previous: value = ""
        }
        log.event(.controlRequested(clientID: clientID, action: control.name, value: value))
    }

    private func refuse(_ action: String, needs permission: String, now: Microseconds) {
        log.info("\(label): refused \(action): sharing.permissions.\(permission) is false")
        send(Control(.refused(action: action, reason: "this host does not allow it (sharing.permissions.\(permission) is false)")).frame, now: now)
    }

    /// Its STATUS and what waits in its queue decide its tier; the switch itself waits for the
    /// engine (`switchToWantedTier`).
    private func adapt(to status: Status, now: Microseconds) {
        guard var controller = bitrateController, let queued else { return }
        let step = controller.observe(status, queued: queued, now: now)
        bitrateController = controller
        guard let step else { return }
        log.info("\(label): to \(controller.bitrates[step.tier] / 1000) kbit/s (\(step.why))")
    }

    /// The bitrate it is sent.
    var bitrate: Int? { tier < delivery.bitrates.count ? delivery.bitrates[tier] : nil }

    /// How long the audio waiting in its queue lasts.
    private var queued: Microseconds? { bitrate.map { Microseconds(outbox.pending) * 8_000_000 / Microseconds($0) } }

    /// From the next frame on it gets the wanted tier: it hears of it first (QualityChanged).
    func switchToWantedTier(now: Microseconds) {
        guard let wanted = wantedTier, wanted < delivery.bitrates.count else { return }
        tier = wanted
        log.event(.qualityChanged(clientID: clientID, bitrate: delivery.bitrates[wanted]))
        send(Control(.quality(bitrate: delivery.bitrates[wanted])).frame, now: now)
    }

    /// A command for the speaker itself (volume, mute), from the host's user.
    func tell(_ control: Control, now: Microseconds) { send(control.frame, now: now) }

    private func send(_ frame: [UInt8], now: Microseconds) {
        guard outbox.append(frame) else { return bye(.timeout, why: "receiver is not reading (queue full)", now: now) }
        flush()
    }

    private func flush() {
        guard state != .closed else { return }
        switch outbox.flush(to: channel) {
        case .done:
            writeWaitsFor = []
            if isClosing { close() }
        case .wouldBlock(let interest): writeWaitsFor = interest
        case .failed(let e):
            log.event(.networkError("\(label): \(e)"))
            close(reason: .networkError)
        }
    }

    /// A malformed or out-of-order frame: InvalidPacket, then the connection ends.
    private func invalid(_ why: String, now: Microseconds) {
        log.failure(.invalidPacket("\(label): \(why)"))
        if isStreaming {
            bye(.invalidPacket, why: nil, now: now)
        } else {
            reject(.invalidPacket(why), why, now: now)
        }
    }

    func close(reason: DisconnectReason? = nil) {
        if let reason, isStreaming {
            log.event(.clientDisconnected(clientID: clientID, reason: reason))
        }
        state = .closed
        channel.close()
    }
}

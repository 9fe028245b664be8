import Config
import Core
import Platform
import Secure
import Transport

/// Which hosts this receiver plays (DESIGN §5), by the certificate each presents over TLS: the
/// one its mDNS advertisement names, if it names one, and the one pinned for it (`HostPins`).
/// A host met for the first time is pinned only once its session is welcomed, which with
/// `receiving.password` is after the host proved it knows the password: a host that proved
/// nothing is never remembered as trusted.
public struct HostTrust {
    public let pins: HostPins

    public init(pins: HostPins) { self.pins = pins }

    /// The pins in `receiving.state_dir`, and the host's key if `host_fingerprint` names it.
    public init(settings: ReceivingSettings) {
        self.init(pins: HostPins(directory: settings.stateDirectory, configured: settings.hostFingerprint.flatMap { Fingerprint(hex: $0) }))
    }

    /// TLS to each target with `configuration`, every handshake ending in `check`.
    public func transport(_ configuration: TLSConfiguration, log: Logger) -> (HostTarget) -> any ChannelTransport {
        { target in
            TLSTransport(configuration: configuration) { channel in
                if let refusal = check(target, presented: channel.peerFingerprint) { return refusal }
                log.info("TLS: \(channel.negotiated ?? "?") with \(target.label)")
                return nil
            }
        }
    }

    /// At the end of the TLS handshake with `target`: nil, or why it is not played.
    public func check(_ target: HostTarget, presented: Fingerprint?) -> ChannelError? {
        // mDNS is not authenticated, but a host that presents another key than it advertises
        // is not the host that advertised, and one that advertises no key it could present is
        // not one to play.
        if let text = target.advertisedFingerprint {
            guard let advertised = Fingerprint(hex: text) else {
                return .refusedPeer("host \(target.label) advertises a certificate fingerprint that is not one (\(text.debugDescription)): not played")
            }
            if let presented, advertised != presented {
                return .refusedPeer(
                    "host \(target.label) presented certificate \(presented), not the one it advertises over mDNS (\(advertised)): something else "
                        + "answered at its address"
                )
            }
        }
        if case .refused(let why) = pins.check(host: target.pinKey, presented: presented) { return .refusedPeer(why) }
        return nil
    }

    /// `target`'s session was welcomed: a host met for the first time is pinned now.
    func welcomed(_ target: HostTarget, presented: Fingerprint?) -> HostPins.Pinned {
        guard let presented else { return .refused("host \(target.label) presented no certificate") }
        return pins.pin(host: target.pinKey, fingerprint: presented)
    }

    /// Whether this receiver has pinned the host with this device_id.
    func knows(_ id: String) -> Bool { pins.isPinned(id) }

    /// The key the host with this device_id must present, if this receiver knows it.
    func pinnedKey(_ id: String) -> Fingerprint? { pins.pinnedKey(id) }
}

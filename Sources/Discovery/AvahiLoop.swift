import CAvahi
import Core
import Transport

#if canImport(Glibc)
import Glibc
#endif

/// Avahi's descriptors and timeouts, served by the owner's reactor (DESIGN §4: no other poll on
/// a control thread). Avahi registers them through the AvahiPoll this makes; after every call
/// into Avahi the owner calls `sync` to mirror them in its reactor under tokens it chooses, and
/// hands back what the reactor reports for those tokens.
final class AvahiLoop {
    let poll: OpaquePointer
    /// The ids mirrored in the reactor now.
    private var mirrored: Set<Int32> = []
    private var scratch = [ms_avahi_registration](repeating: ms_avahi_registration(), count: 16)

    init?() {
        guard let poll = ms_avahi_poll_new() else { return nil }
        self.poll = poll
    }

    /// Only once nothing Avahi made with `api` is left.
    deinit { ms_avahi_poll_free(poll) }

    var api: UnsafePointer<AvahiPoll> { ms_avahi_poll_api(poll) }

    /// Mirrors Avahi's registrations in `reactor`, each under `token(id)`.
    func sync<Token: Hashable>(into reactor: inout Reactor<Token>, token: (Int32) -> Token) {
        guard ms_avahi_poll_changed(poll) != 0 else { return }
        var count = Int(ms_avahi_poll_list(poll, &scratch, Int32(scratch.count)))
        if count > scratch.count {
            scratch = [ms_avahi_registration](repeating: ms_avahi_registration(), count: count * 2)
            count = Int(ms_avahi_poll_list(poll, &scratch, Int32(scratch.count)))
        }
        var live: Set<Int32> = []
        for r in scratch.prefix(count) {
            live.insert(r.id)
            if r.fd >= 0 {
                var interest: Interest = []
                if r.events & Int32(POLLIN) != 0 { interest.insert(.read) }
                if r.events & Int32(POLLOUT) != 0 { interest.insert(.write) }
                reactor.register(token(r.id), fd: r.fd, interest: interest)
            } else if r.events != 0 {
                reactor.schedule(token(r.id), after: Microseconds(r.delay_us))
            } else {
                reactor.cancelTimer(token(r.id))
            }
        }
        for gone in mirrored.subtracting(live) { reactor.unregister(token(gone)) }
        mirrored = live
    }

    /// Unregisters everything mirrored (the owner is done with Avahi).
    func removeAll<Token: Hashable>(from reactor: inout Reactor<Token>, token: (Int32) -> Token) {
        for id in mirrored { reactor.unregister(token(id)) }
        mirrored = []
    }

    func ready(_ id: Int32, _ interest: Interest) {
        ms_avahi_poll_ready(poll, id, (interest.contains(.read) ? Int32(POLLIN | POLLHUP | POLLERR) : 0) | (interest.contains(.write) ? Int32(POLLOUT) : 0))
    }

    func expired(_ id: Int32) { ms_avahi_poll_expired(poll, id) }
}

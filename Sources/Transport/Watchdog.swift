import Core
import Platform

extension ServiceNotifier {
    /// The daemon serves: READY=1, and the first watchdog ping (`token` then keeps them coming).
    public func ready<Token: Hashable>(_ reactor: inout Reactor<Token>, token: Token) {
        send("READY=1")
        pingWatchdog(&reactor, token: token)
    }

    /// Tells the service manager the loop is alive when it is `healthy`, and sets `token` on
    /// `reactor` for the next look: the ping comes from the loop's own timer, so a loop that is
    /// stuck or stopped misses it, as does one whose other parts are not well, and is
    /// restarted. Nothing without a watchdog.
    public func pingWatchdog<Token: Hashable>(_ reactor: inout Reactor<Token>, token: Token, healthy: Bool = true) {
        guard let interval = watchdogInterval else { return }
        if healthy { send("WATCHDOG=1") }
        reactor.schedule(token, after: interval)
    }
}

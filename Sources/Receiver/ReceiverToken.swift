/// What wakes the receiver's control thread; each phase owns some of them.
enum ReceiverToken: Hashable {
    case signals
    /// The channel to the host.
    case host
    /// The next connection attempt.
    case retry
    /// The handshake's deadline.
    case handshake
    /// A host's name looked up, the password's keys derived (`BackgroundWork`).
    case lookup, keys
    /// Streaming: the next batch of received packets, the next TIME_REQ, the next STATUS, and
    /// (after the host's BYE) whether the audio thread has played everything out.
    case read, timeRequest, status, playedOut
    /// The next attempt to open the audio device while it is gone.
    case device
    /// Playback has run long enough for its pages to be resident: lock them.
    case lockMemory
    /// Shutting down: the last moment for our BYE to leave.
    case leave
    /// Avahi's descriptors and timers (`HostFinder`).
    case mdns(Int32)
    /// Discovery has been quiet for a moment: what it found is what there is.
    case settle
    /// The time a discovered host's user sent this receiver away for is up.
    case sentAwayOver
    /// The local control socket (`msrecv status`), and each connection to it.
    case localControl
    case localPeer(Int)
    /// A button's line (`BoardController.inputs` index), and the board's next deadline (a
    /// repeat, a blink, the amplifier's idle time).
    case button(Int)
    case board
    /// The card kept open since the last session is closed: no quick return came.
    case closeCard
    /// The service manager's watchdog is told the loop is alive (`ServiceNotifier`).
    case watchdog
}

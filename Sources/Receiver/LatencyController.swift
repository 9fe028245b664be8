import Core

/// The playout delay this speaker wants, between `receiving.buffer_size` (the floor) and
/// `receiving.max_buffer_size` (the ceiling): up by half the floor after a second in which
/// packets came late, were concealed, or the card ran dry, at most once every 5 s (the packets
/// a change brings take that long to tell); down by an eighth of the floor after a minute
/// without any, and every minute after. Growing at once and shrinking slowly keeps a path that
/// glitches now and then at the delay its worst moments need. The host takes the largest any
/// speaker of the group wants (DESIGN §6).
public struct LatencyController: Sendable {
    public let floor: Microseconds
    public let ceiling: Microseconds
    public private(set) var wanted: Microseconds
    private var lastChange: Microseconds
    private var lastTrouble: Microseconds
    public static let growAfter: Microseconds = 5_000_000
    public static let calmBeforeShrinking: Microseconds = 60_000_000

    public init(floor: Microseconds, ceiling: Microseconds, now: Microseconds) {
        self.floor = floor
        self.ceiling = max(ceiling, floor)
        wanted = floor
        lastChange = now
        lastTrouble = now
    }

    /// Once a second: `trouble` counts the packets late or concealed and the underruns since
    /// the last call. The new delay wanted, when it moved.
    public mutating func update(trouble: Int, now: Microseconds) -> Microseconds? {
        let before = wanted
        if trouble > 0 {
            lastTrouble = now
            if now - lastChange >= Self.growAfter { wanted = min(wanted + floor / 2, ceiling) }
        } else if now - max(lastTrouble, lastChange) >= Self.calmBeforeShrinking {
            wanted = Swift.max(wanted - floor / 8, self.floor)
        }
        guard wanted != before else { return nil }
        lastChange = now
        return wanted
    }
}

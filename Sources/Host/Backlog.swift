import Core

/// The last seconds of one codec's AUDIO frames, as sent. A receiver that joins gets those still
/// inside its buffer at once, so it can start with the packet due first instead of waiting out
/// its whole buffer for live ones (Snapcast's receivers wait). Frame storage is reused once the
/// ring has gone round.
struct Backlog {
    private var frames: [[UInt8]]
    private var timestamps: [UInt64]
    private var next = 0
    private(set) var count = 0

    /// The longest buffer a receiver may have (`receiving.buffer_size`, at most 10 s).
    static let span: Microseconds = 10_000_000

    init(frameDuration: Microseconds) {
        let capacity = Int((Self.span + frameDuration - 1) / frameDuration)
        frames = Array(repeating: [], count: capacity)
        timestamps = Array(repeating: 0, count: capacity)
    }

    mutating func append(_ frame: UnsafeRawBufferPointer, timestamp: UInt64) {
        frames[next].removeAll(keepingCapacity: true)
        frames[next].append(contentsOf: frame)
        timestamps[next] = timestamp
        next = (next + 1) % frames.count
        count = min(count + 1, frames.count)
    }

    /// The frames whose timestamps are `from` or later, oldest first.
    func frames(from: UInt64) -> [[UInt8]] {
        let first = (next - count + frames.count) % frames.count
        return (0..<count).map { (first + $0) % frames.count }.filter { timestamps[$0] >= from }.map { frames[$0] }
    }
}

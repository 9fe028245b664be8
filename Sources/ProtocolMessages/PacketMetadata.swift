import Core

/// The seed's `PacketMetadata`: what the host's player is playing, carried by AUDIO packets
/// when it changes and once a second (DESIGN §5). Every key is optional; a key that is there
/// must be in range. The host's player sets it (`mshost now-playing`).
public struct PacketMetadata: Equatable, Sendable {
    /// The song, as the host's player names it.
    public var songID: String?
    /// Where in the song this packet is, seconds.
    public var position: Double?
    /// The house volume, 0…1 (the receivers' 0–100 scale over 100): receivers follow it unless
    /// `independent_volume` is set.
    public var volume: Double?

    public init(songID: String? = nil, position: Double? = nil, volume: Double? = nil) {
        self.songID = songID
        self.position = position
        self.volume = volume
    }

    public static let maxSongID = 256
    /// A day and more: no song is longer.
    public static let positions = 0.0...1_000_000.0

    private enum Key { static let songID = "song_id", position = "position", volume = "volume" }

    public var isEmpty: Bool { songID == nil && position == nil && volume == nil }

    /// The same, `microseconds` of stream time later: the position moved on (never before the
    /// song's start).
    public func movedOn(by microseconds: Int64) -> PacketMetadata {
        var later = self
        later.position = position.map { max(0, $0 + Double(microseconds) / 1e6) }
        return later
    }

    /// The JSON an AUDIO packet carries: at most `AudioPacketHeader.maxMetadata` bytes, or nil
    /// (the host refuses a song_id that does not fit).
    public var encoded: [UInt8]? {
        let bytes = Array(json.finished.utf8)
        return bytes.count <= AudioPacketHeader.maxMetadata ? bytes : nil
    }

    /// The same keys in the local control socket's JSON (`mshost now-playing`, `msrecv status`).
    var json: JSONWriter {
        var w = JSONWriter()
        if let songID { w.add(Key.songID, songID) }
        if let position { w.add(Key.position, position) }
        if let volume { w.add(Key.volume, volume) }
        return w
    }

    public static func decode(_ payload: UnsafeRawBufferPointer) throws(ProtocolError) -> PacketMetadata {
        try decode(try Fields.parse(payload, message: "AUDIO metadata", maxBytes: AudioPacketHeader.maxMetadata))
    }

    static func decode(_ f: Fields) throws(ProtocolError) -> PacketMetadata {
        PacketMetadata(
            songID: try f.optionalString(Key.songID, maxLength: maxSongID),
            position: try f.optionalDouble(Key.position, in: positions),
            volume: try f.optionalDouble(Key.volume, in: 0...1))
    }
}

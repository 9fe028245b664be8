import Audio
// libFuzzer target: arbitrary bytes as a config file (the JSON reader, then validation), as a
// WAV file, as a line on a daemon's local control socket (request, and reply for the
// command-line tools), and as an AUDIO packet's metadata. Built by scripts/fuzz.sh.
import Config
import Core
import ProtocolMessages

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    switch ConfigLoader.parse(bytes: bytes) {
    case .success: break
    case .failure(let errors):
        // Every error says where it is (or is about the whole file).
        for e in errors.errors { precondition(e.position.map { $0.line >= 1 && $0.column >= 1 } ?? true) }
    }
    _ = WAVAudio.parse(bytes)
    bytes.withUnsafeBytes {
        _ = LocalRequest.decode($0)
        _ = LocalReply.decode($0)
        // What decodes encodes within the room a packet keeps for it, or is refused.
        if case .success(let metadata) = PacketMetadata.decode($0), let encoded = metadata.encoded {
            precondition(encoded.count <= AudioPacketHeader.maxMetadata)
        }
    }
    return 0
}

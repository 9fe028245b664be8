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
    do throws(ConfigErrors) {
        _ = try ConfigLoader.parse(bytes: bytes)
    } catch {
        // Every error says where it is (or is about the whole file).
        for e in error.errors { precondition(e.position.map { $0.line >= 1 && $0.column >= 1 } ?? true) }
    }
    _ = try? WAVAudio.parse(bytes)
    bytes.withUnsafeBytes {
        _ = try? LocalRequest.decode($0)
        _ = try? LocalReply.decode($0)
        // What decodes encodes within the room a packet keeps for it, or is refused.
        if let metadata = try? PacketMetadata.decode($0), let encoded = metadata.encoded {
            precondition(encoded.count <= AudioPacketHeader.maxMetadata)
        }
    }
    return 0
}

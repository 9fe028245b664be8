// libFuzzer target: arbitrary bytes as a config file (the JSON reader, then validation) and as a
// WAV file. Built by scripts/fuzz.sh.
import Config
import Core

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
    return 0
}

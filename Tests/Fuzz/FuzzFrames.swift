// libFuzzer target: a hostile byte stream through the frame reader and every message decoder a
// peer's bytes reach (AUDIO header and every typed message). Built by scripts/fuzz.sh.
import Core
import ProtocolMessages
import Transport

let audioSlot = UnsafeMutableRawBufferPointer.allocate(byteCount: WireProtocol.maxPayload, alignment: 16)
nonisolated(unsafe) var reader = FrameReader()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrames(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    guard size > 0 else { return 0 }
    let channel = FuzzChannel(bytes: UnsafeRawBufferPointer(rebasing: input[1...]), chunk: Int(input[0]) + 1)
    var fresh = FrameReader()
    swap(&reader, &fresh)
    var steps = 0
    while steps < 10_000 {
        steps += 1
        switch reader.next(from: channel) {
        case .header(let h):
            switch h.type {
            case .audio?: reader.route(.into(audioSlot))
            case nil: reader.route(.discard)
            default: reader.route(h.length <= WireProtocol.maxControlPayload ? .scratch : .discard)
            }
        case .frame(let h, let payload):
            switch h.type {
            case .audio?:
                if let header = try? AudioPacketHeader.parse(payload) {
                    precondition(header.channels >= 1 && header.sampleRate >= 8000)
                }
            case .timeRequest?: _ = try? TimeRequest.decode(payload)
            case .timeResponse?: _ = (try? TimeResponse.decode(payload))?.plausibleTimes
            case .hello?: _ = try? Hello.decode(payload)
            case .welcome?: _ = try? Welcome.decode(payload)
            case .reject?: _ = try? Reject.decode(payload)
            case .challenge?: _ = try? Challenge.decode(payload)
            case .auth?: _ = try? AuthMessage.decode(payload)
            case .status?: _ = try? Status.decode(payload)
            case .control?: _ = try? Control.decode(payload)
            case .chat?: _ = try? Chat.decode(payload)
            case .advertisement?:
                _ = try? ServiceAdvertisement.decode(json: payload)
                // The same bytes as TXT records, NUL between them, as a resolver hands them over.
                _ = try? ServiceAdvertisement.decode(txt: payload.split(separator: 0).map { String(decoding: $0, as: UTF8.self) })
            case .bye?: _ = Bye.decode(payload)
            default: break
            }
        case .wouldBlock, .closed, .failed:
            return 0
        }
    }
    return 0
}

import Config
import Core

/// HELLO and WELCOME/REJECT as the receiver speaks them (DESIGN §5, the seed's
/// `connection_request`). JSON, on the control plane.
enum Handshake {
    static func hello(clientID: String, settings: ReceivingSettings, t1: Microseconds) -> String {
        var auth = JSONWriter()
        auth.add("method", "none")
        var caps = JSONWriter()
        caps.add("audio_formats", strings: settings.audioFormats)
        caps.add("max_buffer_size", formatDuration(settings.bufferSize))
        caps.add("low_latency", settings.bufferSize <= 100_000)
        var request = JSONWriter()
        request.add("client_id", clientID)
        request.add("client_name", settings.clientName)
        request.add("protocol_version", WireProtocol.version)
        request.add("authentication", object: auth)
        request.add("capabilities", object: caps)
        var root = JSONWriter()
        root.add("connection_request", object: request)
        root.add("t1", Int(t1))
        return root.finished
    }

    struct Welcome {
        var sessionID: String
        var hostName: String
        var format: StreamFormat
        /// Host monotonic µs at which stream time 0 was sampled.
        var streamStart: Microseconds
        /// The handshake's time exchange: HELLO's t1, the host's t2 and t3, WELCOME's arrival t4.
        var exchange: (t1: Microseconds, t2: Microseconds, t3: Microseconds, t4: Microseconds)
    }

    enum Failure: Error {
        case rejected(AudioShareError)
        case invalid(String)
    }

    /// Parses a WELCOME (with `t4`, when it arrived here) or a REJECT.
    static func parseReply(type: FrameType, payload: UnsafeRawBufferPointer, t4: Microseconds) -> Result<Welcome, Failure> {
        let json: JSONValue
        switch JSONReader.parse(payload.bindMemory(to: UInt8.self)) {
        case .success(let v): json = v
        case .failure(let e): return .failure(.invalid("\(type == .welcome ? "WELCOME" : "REJECT") is not valid JSON: \(e)"))
        }
        if type == .reject {
            let code = json["error"]?.stringValue ?? "NetworkError"
            let message = json["message"]?.stringValue ?? ""
            return .failure(.rejected(AudioShareError(code: code, message: message)))
        }
        guard let stream = json["stream"],
              let codecName = stream["codec"]?.stringValue, let codec = WireCodec(name: codecName),
              let rate = stream["sample_rate"]?.intValue, let channels = stream["channels"]?.intValue,
              let frameSamples = stream["frame_samples"]?.intValue,
              let start = json["stream_start"]?.intValue,
              let t1 = json["t1"]?.intValue, let t2 = json["t2"]?.intValue, let t3 = json["t3"]?.intValue
        else { return .failure(.invalid("WELCOME lacks stream, stream_start or t1/t2/t3")) }
        let delay = stream["codec_delay_samples"]?.intValue ?? 0
        guard (0...frameSamples * 4).contains(delay) else { return .failure(.invalid("WELCOME's codec_delay_samples \(delay) is out of range")) }
        let format = StreamFormat(codec: codec, sampleRate: rate, channels: channels, frameSamples: frameSamples,
                                  bitrate: stream["bitrate"]?.intValue ?? 0, codecDelay: delay)
        return .success(Welcome(
            sessionID: json["session_id"]?.stringValue ?? "",
            hostName: json["host_info"]?["device_name"]?.stringValue ?? "",
            format: format,
            streamStart: Microseconds(start),
            exchange: (Microseconds(t1), Microseconds(t2), Microseconds(t3), t4)))
    }
}

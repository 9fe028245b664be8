import Core

/// A receiver's HELLO: the seed's `connection_request`, plus `t1` for the first clock estimate.
struct HelloRequest {
    var clientID: String
    var clientName: String
    var audioFormats: [String]
    var t1: Microseconds

    static func parse(_ payload: UnsafeRawBufferPointer) -> Result<HelloRequest, HelloError> {
        let json: JSONValue
        switch JSONReader.parse(payload.bindMemory(to: UInt8.self)) {
        case .success(let v): json = v
        case .failure(let e): return .failure(HelloError(message: "HELLO is not valid JSON: \(e)"))
        }
        guard let request = json["connection_request"] else { return .failure(HelloError(message: "HELLO has no connection_request")) }
        guard let version = request["protocol_version"]?.stringValue else { return .failure(HelloError(message: "HELLO has no protocol_version")) }
        guard version.split(separator: ".").first == "1" else {
            return .failure(HelloError(message: "protocol_version \(version) is not supported (this host speaks \(WireProtocol.version))"))
        }
        guard let id = request["client_id"]?.stringValue, !id.isEmpty, id.count <= 64 else {
            return .failure(HelloError(message: "HELLO has no client_id"))
        }
        let formats = request["capabilities"]?["audio_formats"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let name = request["client_name"]?.stringValue ?? id
        return .success(HelloRequest(clientID: id, clientName: String(name.prefix(64)), audioFormats: formats,
                                     t1: Microseconds(json["t1"]?.intValue ?? 0)))
    }
}

struct HelloError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

import CMbedTLS

/// An mbedTLS error code with what was being done, as a person reads it in the log.
public struct TLSError: Error, Equatable, CustomStringConvertible {
    public var code: Int32
    public var context: String

    public init(code: Int32, _ context: String) {
        self.code = code
        self.context = context
    }

    public var description: String {
        var text = [CChar](repeating: 0, count: 160)
        mbedtls_strerror(code, &text, text.count)
        let message = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (context.isEmpty ? "" : context + ": ") + message + " (-0x\(String(-code, radix: 16)))"
    }

    /// Throws unless `code` is 0.
    static func check(_ code: Int32, _ context: @autoclosure () -> String) throws(TLSError) {
        if code != 0 { throw TLSError(code: code, context()) }
    }
}

extension Array where Element == UInt8 {
    /// `body` run over these bytes, its typed error passed on as it is (`withUnsafeBytes`
    /// passes on only untyped ones: the typed one crosses it as a value).
    public func withBytes<Value, Failure: Error>(_ body: (UnsafeRawBufferPointer) throws(Failure) -> Value) throws(Failure) -> Value {
        try withUnsafeBytes { bytes in Result { () throws(Failure) in try body(bytes) } }.get()
    }
}

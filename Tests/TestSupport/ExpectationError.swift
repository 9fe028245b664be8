/// What a test expected and did not see, thrown where a helper cannot call XCTFail: the test
/// fails with it (never skips).
public struct ExpectationError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

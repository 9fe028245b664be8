import Core
import Foundation
import Platform
import XCTest

final class Base64Tests: XCTestCase {
    func testRFC4648Vectors() {
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors { XCTAssertEqual(base64(Array(plain.utf8)), encoded, plain) }
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        XCTAssertEqual(base64(bytes), Data(bytes).base64EncodedString())
    }
}

final class PersistentUUIDTests: XCTestCase {
    func testAnIDIsMadeOnceAndADamagedOneReplaced() throws {
        let directory = NSTemporaryDirectory() + "uuid-state-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try persistentUUID(directory: directory, file: "device_id")
        XCTAssertEqual(first.count, 36)
        XCTAssertEqual(try persistentUUID(directory: directory, file: "device_id"), first, "kept across restarts")
        try "not an id\n".write(toFile: directory + "/device_id", atomically: true, encoding: .utf8)
        let replaced = try persistentUUID(directory: directory, file: "device_id")
        XCTAssertNotEqual(replaced, first)
        XCTAssertEqual(try String(contentsOfFile: directory + "/device_id", encoding: .utf8), replaced + "\n")
    }
}

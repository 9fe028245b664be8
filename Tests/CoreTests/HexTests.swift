import Core
import XCTest

final class HexTests: XCTestCase {
    func testBytesRoundTripWithOrWithoutSeparators() {
        XCTAssertEqual(hex([0x00, 0xab, 0x0f]), "00ab0f")
        XCTAssertEqual(hex([0x00, 0xab, 0x0f], separator: ":"), "00:ab:0f")
        XCTAssertEqual(hex([]), "")
        XCTAssertEqual(unhex("00AB0f"), [0x00, 0xab, 0x0f])
        XCTAssertNil(unhex("abc"), "an odd count")
        XCTAssertNil(unhex("0g"))
        XCTAssertNil(unhex("+a"), "only digits")
        XCTAssertNil(unhex("ab:cd"), "no separators")
    }
}

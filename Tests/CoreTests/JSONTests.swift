import Core
import Foundation
import XCTest

final class JSONTests: XCTestCase {
    private func parse(_ text: String) throws -> JSONValue { try JSONReader.parse(text) }

    private func error(_ text: String) -> JSONParseError? {
        do throws(JSONParseError) {
            _ = try JSONReader.parse(text)
            return nil
        } catch {
            return error
        }
    }

    func testParsesAllValueKindsWithPositions() throws {
        let v = try parse("{\n  \"a\": [1, -2.5e3, true, false, null],\n  \"b\": \"x\\u00e9\\n\\ud83c\\udfb5\"\n}")
        XCTAssertEqual(v["a"]?.arrayValue?.count, 5)
        XCTAssertEqual(v["a"]?.arrayValue?[1].doubleValue, -2500)
        XCTAssertEqual(v["a"]?.arrayValue?[0].intValue, 1)
        XCTAssertNil(v["a"]?.arrayValue?[1].intValue)
        XCTAssertEqual(v["b"]?.stringValue, "xé\n🎵")
        XCTAssertEqual(v["b"]?.position, SourcePosition(line: 3, column: 8))
        XCTAssertEqual(v.members?[1].keyPosition, SourcePosition(line: 3, column: 3))
    }

    func testErrorsSayLineAndColumn() {
        let missingColon = error("{\n  \"a\": 1,\n  \"b\" 2\n}")
        XCTAssertEqual(missingColon?.message, "unexpected character '2', expected ':' after key \"b\"")
        XCTAssertEqual(missingColon?.position, SourcePosition(line: 3, column: 7))
        XCTAssertEqual(error("{\"a\": 1,}")?.position, SourcePosition(line: 1, column: 9))
        XCTAssertEqual(error("{\"a\": 01}")?.message, "invalid number: leading zeros are not allowed")
        XCTAssertEqual(error("{\"a\": \"x}")?.message, "unterminated string")
        XCTAssertEqual(error("{\"a\": 1} x")?.message, "unexpected character 'x' after the end of the document")
        XCTAssertEqual(error("{\"a\": 1, \"a\": 2}")?.message, "duplicate key \"a\"")
        XCTAssertEqual(error("")?.message, "unexpected end of input, expected a value")
        XCTAssertEqual(error("[\"\\ud800\"]")?.message, "unpaired surrogate in \\u escape")
    }

    func testColumnsCountCharactersNotBytes() {
        XCTAssertEqual(error("{\"é\": x}")?.position, SourcePosition(line: 1, column: 7))
    }

    /// What a peer sends is parsed in time linear in its size: a 16 KB message on one line,
    /// a key every few bytes, used to cost some 10⁸ steps (each position counted from the
    /// line's start, each key checked against every other), and a welcomed receiver may send
    /// one a second. Four times the keys must take about four times as long, not sixteen, and
    /// positions and the duplicate check still come out right.
    func testAOneLineDocumentWithThousandsOfKeysParsesInLinearTime() throws {
        func document(keys: Int) -> String { "{" + (0..<keys).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + "}" }
        func bestTime(_ text: String) throws -> Double {
            var best = Double.infinity
            for _ in 0..<3 {
                let start = DispatchTime.now().uptimeNanoseconds
                let value = try parse(text)
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                XCTAssertNotNil(value.members?.last)
            }
            return best
        }
        let small = document(keys: 1_500)
        let large = document(keys: 6_000)
        XCTAssertGreaterThanOrEqual(small.utf8.count, 16_000)
        let (t1, t4) = (try bestTime(small), try bestTime(large))
        print("JSON on one line: \(small.utf8.count) bytes in \(Int(t1 * 1e6)) µs, \(large.utf8.count) bytes in \(Int(t4 * 1e6)) µs")
        XCTAssertLessThan(t4 / t1, 8, "linear is 4, quadratic 16")
        let parsed = try parse(large)
        XCTAssertEqual(parsed.members?.last?.keyPosition, SourcePosition(line: 1, column: large.utf8.count - "\"k5999\":5999}".utf8.count + 1))
        XCTAssertEqual(error(String(large.dropLast()) + ",\"k17\":1}")?.message, "duplicate key \"k17\"")
    }

    func testDeepNestingIsRefusedNotRecursed() {
        let deep = String(repeating: "[", count: 10_000)
        XCTAssertEqual(error(deep)?.message, "nesting deeper than 64 levels")
    }

    func testInvalidUTF8IsAnError() {
        XCTAssertThrowsError(try JSONReader.parse([0x22, 0xFF, 0x22] as [UInt8]), "accepted invalid UTF-8") { e in
            XCTAssertEqual((e as? JSONParseError)?.message, "string is not valid UTF-8")
        }
    }

    func testWriterOutputParsesBack() throws {
        var inner = JSONWriter()
        inner.add("n", 3)
        var w = JSONWriter()
        w.add("s", "quote \" backslash \\ tab \t nul \u{0}")
        w.add("b", true)
        w.add("list", strings: ["opus", "pcm"])
        w.add("o", object: inner)
        let v = try parse(w.finished)
        XCTAssertEqual(v["s"]?.stringValue, "quote \" backslash \\ tab \t nul \u{0}")
        XCTAssertEqual(v["b"]?.boolValue, true)
        XCTAssertEqual(v["list"]?.arrayValue?.compactMap(\.stringValue), ["opus", "pcm"])
        XCTAssertEqual(v["o"]?["n"]?.intValue, 3)
    }
}

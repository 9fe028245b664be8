import Core
import Foundation
import Platform
import XCTest

/// `releaseCodePages` on this test process: the code of the program and of libc is unmapped,
/// and comes back 16 KB at a time instead of in the kernel's 64 KB windows.
final class MemoryTests: XCTestCase {
    private struct Mapping {
        let bytes: Int
        let residentKB: Int
    }

    /// Read to its end: /proc files say they are empty, and a read of their size gets nothing.
    private func procFile(_ name: String) throws -> String {
        let handle = try XCTUnwrap(FileHandle(forReadingAtPath: "/proc/self/" + name))
        defer { try? handle.close() }
        return String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
    }

    /// The code mappings of one file, from /proc/self/smaps. (Its read-only constants are
    /// released too, but a read-only mapping can also be data that was relocated and then
    /// protected, which must stay and does.)
    private func codeMappings(of path: String) throws -> [Mapping] {
        var mappings: [Mapping] = []
        var current: (bytes: Int, ours: Bool)?
        for line in try procFile("smaps").split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 5, fields[0].contains("-"), fields[1].count == 4 {
                let bounds = fields[0].split(separator: "-").compactMap { UInt(String($0), radix: 16) }
                let ours = fields.count >= 6 && fields[5] == path && fields[1] == "r-xp"
                current = bounds.count == 2 ? (Int(bounds[1] - bounds[0]), ours) : nil
            } else if fields.first == "Rss:", let mapping = current, mapping.ours, let kb = Int(fields[1]) {
                mappings.append(Mapping(bytes: mapping.bytes, residentKB: kb))
            }
        }
        return mappings
    }

    private func libcPath() throws -> String {
        let maps = try procFile("maps")
        let line = try XCTUnwrap(maps.split(separator: "\n").first { $0.hasSuffix("/libc.so.6") }, "libc.so.6 is mapped")
        return String(try XCTUnwrap(line.split(separator: " ").last))
    }

    func testReleasedCodeIsUnmappedAndComesBackSixteenKilobytesAtATime() throws {
        let program = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let libc = try libcPath()
        let programBefore = try codeMappings(of: program)
        let libcBefore = try codeMappings(of: libc)
        XCTAssertTrue(libcBefore.contains { $0.bytes > 16 * 1024 }, "libc's code is loaded as whole segments")

        releaseCodePages()

        let programAfter = try codeMappings(of: program)
        let libcAfter = try codeMappings(of: libc)
        for (name, mappings) in [("the test program", programAfter), ("libc", libcAfter)] {
            let largest = mappings.map(\.bytes).max() ?? 0
            XCTAssertLessThanOrEqual(largest, 16 * 1024, "\(name): every code mapping is one 16 KB granule after the release")
        }
        let before = (programBefore + libcBefore).reduce(0) { $0 + $1.residentKB }
        let after = (programAfter + libcAfter).reduce(0) { $0 + $1.residentKB }
        print("releaseCodePages: the program's and libc's code, \(before) KB resident before, \(after) KB after")
        XCTAssertLessThan(after, before / 2, "what ran before is no longer mapped; what runs now came back in granules")
        // What runs after the release is mapped back from the page cache: formatting, files, libc.
        XCTAssertEqual(String(format: "%.1f", 2.25 * 2), "4.5")
    }
}

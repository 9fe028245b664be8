import CGpiod
import Core
import Platform

#if canImport(Glibc)
import Glibc
#endif

public enum GPIOLibrary {
    /// "1.6.3" on bookworm (v1 API), "2.x" on trixie (v2 API).
    public static var version: String { String(cString: cgpiod_version_string()) }
}

/// One GPIO line a speaker uses: a button it reads or an LED or relay it drives. The libgpiod
/// backend (`LibgpiodLine`) and the simulated chip (`SimulatedLine`, for machines without GPIO
/// and for tests) behave alike, down to active-low.
public protocol GPIOLine: AnyObject {
    /// An input's descriptor: readable when its level may have changed. Nil for an output.
    var descriptor: Int32? { get }
    /// Consumes what made `descriptor` readable; the level now (true: active, active-low applied).
    func read() throws(GPIOError) -> Bool
    /// Drives an output (true: active).
    func write(_ active: Bool) throws(GPIOError)
}

/// Why a line could not be had or used, in the words of the person who wired the board.
public struct GPIOError: Error, Equatable, CustomStringConvertible {
    public var errno: Errno
    public var description: String

    init(_ errno: Errno, chip: String, path: String, offset: Int) {
        self.errno = errno
        switch errno.rawValue {
        // libgpiod 2.x says ENOENT for a file that is there but not a chip.
        case ENOENT where access(path, F_OK) != 0: description = "no GPIO chip \"\(chip)\" (\(path) does not exist)"
        case ENOENT, ENOTTY, ENODEV: description = "\(path) is not a GPIO chip"
        case EINVAL: description = "\(chip) has no line \(offset)"
        case EBUSY: description = "line \(offset) of \(chip) is in use by another program (see gpioinfo)"
        case EACCES, EPERM:
            description = "no permission to use \(path): run msrecv as a member of the group owning it (\"gpio\" on Raspberry Pi OS and Debian's image)"
        default: description = "line \(offset) of \(chip): \(errno)"
        }
    }

    init(_ errno: Errno, _ description: String) {
        self.errno = errno
        self.description = description
    }
}

/// Opens the line a board key names: an input reporting both edges, or an output driven to
/// `initial`. A chip is a name ("gpiochip0"), a number, a `/dev` path, a label
/// ("pinctrl-bcm2711") or `sim:DIR`, the simulated chip.
public func openGPIOLine(_ spec: GPIOLineSpec, output: Bool, initial: Bool = false, consumer: String) throws(GPIOError) -> any GPIOLine {
    if spec.chip.hasPrefix(SimulatedLine.prefix) {
        return try SimulatedLine(directory: String(spec.chip.dropFirst(SimulatedLine.prefix.count)), spec: spec, output: output, initial: initial)
    }
    return try LibgpiodLine(spec, path: try chipPath(spec.chip), output: output, initial: initial, consumer: consumer)
}

/// Where the chip a board names lives in /dev.
func chipPath(_ chip: String) throws(GPIOError) -> String {
    if chip.hasPrefix("/") { return chip }
    if chip.hasPrefix("gpiochip") { return "/dev/" + chip }
    if !chip.isEmpty, chip.allSatisfy(\.isNumber) { return "/dev/gpiochip" + chip }
    var labels: [String] = []
    for name in directoryEntries("/dev").filter({ $0.hasPrefix("gpiochip") }).sorted() {
        var buffer = [CChar](repeating: 0, count: 64)
        guard cgpiod_chip_label("/dev/" + name, &buffer, buffer.count) == 0 else { continue }
        let label = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if label == chip { return "/dev/" + name }
        labels.append("\(name) \"\(label)\"")
    }
    throw GPIOError(
        Errno(ENOENT),
        "no GPIO chip labelled \"\(chip)\"" + (labels.isEmpty ? " (this system has no GPIO chips)" : " (chips: \(labels.joined(separator: ", ")))"))
}

private func directoryEntries(_ path: String) -> [String] {
    guard let dir = opendir(path) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        names.append(withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) })
    }
    return names
}

/// A line through libgpiod (1.6 or 2.x: the shim hides which). Owns the request; releasing the
/// object releases the line.
public final class LibgpiodLine: GPIOLine {
    private let line: UnsafeMutablePointer<cgpiod_line>
    private let spec: GPIOLineSpec
    private let path: String
    public let descriptor: Int32?

    init(_ spec: GPIOLineSpec, path: String, output: Bool, initial: Bool, consumer: String) throws(GPIOError) {
        let bias: cgpiod_bias =
            switch spec.bias {
            case .asIs: CGPIOD_BIAS_AS_IS
            case .pullUp: CGPIOD_BIAS_PULL_UP
            case .pullDown: CGPIOD_BIAS_PULL_DOWN
            case .disabled: CGPIOD_BIAS_DISABLED
            }
        guard let line = cgpiod_request(path, UInt32(spec.offset), output ? 1 : 0, spec.activeLow ? 1 : 0, Int32(bias.rawValue), initial ? 1 : 0, consumer)
        else {
            throw GPIOError(.current, chip: spec.chip, path: path, offset: spec.offset)
        }
        self.line = line
        self.spec = spec
        self.path = path
        descriptor = output ? nil : cgpiod_fd(line)
    }

    deinit { cgpiod_release(line) }

    public func read() throws(GPIOError) -> Bool {
        guard cgpiod_drain(line) == 0 else { throw failure() }
        let level = cgpiod_get(line)
        guard level >= 0 else { throw failure() }
        return level == 1
    }

    public func write(_ active: Bool) throws(GPIOError) {
        guard cgpiod_set(line, active ? 1 : 0) == 0 else { throw failure() }
    }

    private func failure() -> GPIOError { GPIOError(.current, chip: spec.chip, path: path, offset: spec.offset) }
}

/// A chip that is a directory (`sim:DIR`): line N is the file DIR/N holding its physical level,
/// "0" or "1". Whoever plays the buttons writes an input's file (written or renamed into place,
/// it wakes the line's descriptor, as an edge would); an output's file shows what msrecv drives.
/// For boards without GPIO (this machine's kernel has no gpio-sim) and for the tests.
public final class SimulatedLine: GPIOLine {
    static let prefix = "sim:"
    private let file: String
    private let activeLow: Bool
    /// inotify on the chip's directory, for an input: any line's change wakes it, and `read`
    /// reads this line's level (a level that did not change is no press).
    public let descriptor: Int32?

    init(directory: String, spec: GPIOLineSpec, output: Bool, initial: Bool) throws(GPIOError) {
        var info = stat()
        guard stat(directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw GPIOError(Errno(ENOENT), "no simulated GPIO chip \"\(directory)\" (not a directory)")
        }
        file = directory + "/\(spec.offset)"
        activeLow = spec.activeLow
        if output {
            descriptor = nil
        } else {
            // A button at rest: its pull holds it at its inactive level until someone presses it.
            if access(file, F_OK) != 0 { try Self.store(file, level: activeLow) }
            let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
            guard fd >= 0 else { throw GPIOError(.current, "inotify: \(Errno.current)") }
            // The directory, not the file: a file replaced by a rename is a new file.
            guard inotify_add_watch(fd, directory, UInt32(IN_CLOSE_WRITE | IN_MOVED_TO)) >= 0 else {
                let e = Errno.current
                close(fd)
                throw GPIOError(e, "simulated line \(file): \(e)")
            }
            descriptor = fd
        }
        if output { try write(initial) }
    }

    deinit { if let descriptor { close(descriptor) } }

    public func read() throws(GPIOError) -> Bool {
        if let descriptor {
            var events = [UInt8](repeating: 0, count: 1024)
            while Glibc.read(descriptor, &events, events.count) > 0 {}
        }
        do throws(Errno) {
            return (try readWholeFile(file, limit: 16).first == UInt8(ascii: "1")) != activeLow
        } catch {
            throw GPIOError(error, "simulated line \(file): \(error)")
        }
    }

    public func write(_ active: Bool) throws(GPIOError) {
        try Self.store(file, level: active != activeLow)
    }

    /// Replaces the file whole (a reader never sees it half-written).
    private static func store(_ file: String, level: Bool) throws(GPIOError) {
        let temporary = file + ".new"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw GPIOError(.current, "simulated line \(file): \(Errno.current)") }
        let e = Array((level ? "1\n" : "0\n").utf8).withUnsafeBytes { writeAll(fd, $0) }
        close(fd)
        if let e { throw GPIOError(e, "simulated line \(file): \(e)") }
        guard rename(temporary, file) == 0 else { throw GPIOError(.current, "simulated line \(file): \(Errno.current)") }
    }
}

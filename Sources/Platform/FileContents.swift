#if canImport(Glibc)
import Glibc
#endif

/// Reads a whole (small) file: config files, WAV sources. Control plane only.
public func readWholeFile(_ path: String, limit: Int = 1 << 30, followingLinks: Bool = true) throws(Errno) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC | (followingLinks ? 0 : O_NOFOLLOW))
    guard fd >= 0 else { throw .current }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw .current }
    if (info.st_mode & S_IFMT) == S_IFDIR { throw Errno(EISDIR) }
    var bytes: [UInt8] = []
    // A small file (or one that says it is empty, as /proc's do) is read with as little.
    var chunk = [UInt8](repeating: 0, count: min(64 * 1024, limit + 1))
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if Errno.current == .interrupted { continue }
            throw .current
        }
        if n == 0 { return bytes }
        bytes.append(contentsOf: chunk[0..<n])
        if bytes.count > limit { throw .fileTooLarge }
    }
}

/// Creates the directory `path` with `mode` unless it is there: a daemon's state directory,
/// made on first run.
public func makeDirectory(_ path: String, mode: mode_t) throws(Errno) {
    guard mkdir(path, mode) == 0 || Errno.current == .exists else { throw .current }
}

/// Creates `path` with `bytes`, only if it does not exist yet, and flushes it to storage: what a
/// daemon makes once on first run and must never half-write or silently replace.
public func writeNewFile(_ path: String, _ bytes: [UInt8], mode: mode_t) throws(Errno) {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
    guard fd >= 0 else { throw .current }
    defer { close(fd) }
    if let e = bytes.withUnsafeBytes({ writeAll(fd, $0) }) { throw e }
    guard fsync(fd) == 0 else { throw .current }
}

/// Writes all of `bytes` to a blocking descriptor, through short writes and signals; the error
/// that stopped it, or nil.
@discardableResult
public func writeAll(_ fd: CInt, _ bytes: UnsafeRawBufferPointer) -> Errno? {
    var offset = 0
    while offset < bytes.count {
        let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if n < 0 && Errno.current == .interrupted { continue }
        guard n > 0 else { return n < 0 ? .current : .brokenPipe }
        offset += n
    }
    return nil
}

/// The permission bits of `path` when users other than its owner and group may read it (a
/// config that holds a secret should not be), else nil.
public func readableByOthers(_ path: String) -> mode_t? {
    var info = stat()
    guard stat(path, &info) == 0, info.st_mode & 0o004 != 0 else { return nil }
    return info.st_mode & 0o777
}

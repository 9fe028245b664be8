import CMoosyncLinux

/// Gives the heap's free pages back to the kernel, which glibc would otherwise keep: for the
/// control plane, after it frees a large start-up structure.
public func returnFreeHeapToSystem() { cmoosync_return_free_heap() }

/// This process's own peak resident memory, KB (VmHWM), if /proc says: `getrusage`'s
/// `ru_maxrss` carries the parent's peak across `execve`, so a receiver started from a 16 MB
/// process reported 16 MB where its own peak was 4.8 MB.
public func peakResidentKilobytes() -> Int? {
    guard let bytes = try? readWholeFile("/proc/self/status", limit: 8 * 1024) else { return nil }
    let key = Array("VmHWM:".utf8)
    guard let line = bytes.split(separator: UInt8(ascii: "\n")).first(where: { $0.starts(with: key) }) else { return nil }
    return Int(String(decoding: line.dropFirst(key.count).filter { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }, as: UTF8.self))
}

/// Unmaps the code of the program and of its libraries from this process (it stays in the page
/// cache): what only ran before (loading, reading the configuration, the first handshake) stops
/// counting towards the daemon's memory, and what runs again is mapped back on first use, 16 KB
/// at a time instead of the kernel's usual 64. For the control loop, at start and between
/// sessions; never while the audio thread runs, so that it does not take the page faults.
public func releaseCodePages() { _ = cmoosync_release_code_pages() }

/// Locks the pages resident now (the audio thread's working set, once it has played for a
/// while), so that memory pressure cannot evict them and make the audio thread wait for the SD
/// card. Nothing else is faulted in: the daemon's memory does not grow. Bytes locked.
public func lockResidentPages() throws(Errno) -> Int {
    let n = cmoosync_lock_resident_pages()
    guard n >= 0 else { throw Errno(CInt(-n)) }
    return n
}

/// Undoes `lockResidentPages` (between sessions, before `releaseCodePages`).
public func unlockAllPages() { cmoosync_unlock_all_pages() }

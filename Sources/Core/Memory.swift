import CMoosyncLinux

/// Gives the heap's free pages back to the kernel, which glibc would otherwise keep: for the
/// control plane, after it frees a large start-up structure.
public func returnFreeHeapToSystem() { cmoosync_return_free_heap() }

/// Unmaps the program's code pages from this process (they stay in the page cache): the code
/// that only start-up ran (reading and checking the configuration, the first handshake) stops
/// counting towards the daemon's memory, and what runs again is mapped back on first use.
/// For the control loop, between sessions; never while the audio thread runs, so that it does
/// not take the page faults.
public func releaseStartUpCode() { _ = cmoosync_release_program_text() }

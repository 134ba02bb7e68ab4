import Foundation

/// The exit status of child `pid` if it has exited but nobody reaped it yet (state `Z` in /proc), reaping it.
///
/// Foundation's `Process` learns of an exit from SIGCHLD; with many children at once in a loaded test process
/// that news can come very late, and `isRunning` stays true meanwhile. A test that polls `isRunning` calls
/// this too, so a finished child is seen as finished. A signal shows as 128 + signal.
public func reapIfExited(_ pid: Int32) -> Int32? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")"),
        stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    else { return nil }
    var status: Int32 = 0
    guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
    // WIFEXITED / WEXITSTATUS by hand (macros).
    return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}

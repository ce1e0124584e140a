import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A gate for "this process is gone": the process holds an advisory lock on a file (`flock FILE
/// command …`) for as long as it lives, and the kernel drops the lock when it dies. A test waits
/// for the lock to be free rather than sleeping and then checking that something did not happen.
public enum LockGate {
    /// True once the lock on `path` can be taken (its holder is gone), false if it is still held
    /// after `limit`.
    public static func freed(_ path: String, within limit: Duration) async -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let end = ContinuousClock.now + limit
        while true {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 {
                flock(fd, LOCK_UN)
                return true
            }
            if ContinuousClock.now >= end { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}

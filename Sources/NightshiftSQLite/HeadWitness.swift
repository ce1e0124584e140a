import Foundation
public import NightshiftCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Each run's head as last committed, in a small file per run beside the database
/// (`nightshift.db-heads/RUN`), written after every commit. SQLite cannot be kept from losing
/// committed bytes when its `-wal` file is deleted or an older copy is restored; then the log
/// silently ends earlier than it did, and whatever the lost events did (shell commands) would be
/// done again. The witness cannot prevent the loss, but it notices it: a witness ahead of the log
/// means events were lost, and `resume`, `worker` and `audit verify` refuse to act on that log
/// until a human accepts it. Best effort and cheap: no fsync (a crash of the whole machine may
/// leave an older witness, which only means a loss goes unnoticed, never a false alarm).
final class HeadWitness: Sendable {
    /// Nil for a database in memory.
    let folder: String?
    /// Open descriptors of the runs written lately: a write is then one `pwrite`, not a path
    /// lookup, an open and a close (which cost more than the write on every commit of many runs).
    private let open = Mutex<[RunID: Int32]>([:])
    /// Descriptors kept at most (a quarter of the open-files limit, which `nightshift` raises at
    /// start); past it they are all closed and opened again as needed.
    static let maxOpen: Int = {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 128 }
        return max(64, min(Int(limit.rlim_cur) / 4, 16_384))
    }()

    init(databasePath: String) {
        guard databasePath != ":memory:", !databasePath.isEmpty else {
            folder = nil
            return
        }
        let dir = databasePath + "-heads"
        _ = mkdir(dir, 0o755)
        folder = dir
    }

    deinit {
        open.withLock { fds in for fd in fds.values { close(fd) } }
    }

    /// A file name for the run: its id when it is plain, else its hex.
    static func fileName(_ run: RunID) -> String {
        let id = run.rawValue
        if !id.isEmpty, id.count <= 200,
            id.utf8.allSatisfy({ b in
                (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D
                    || b == 0x5F
            })
        {
            return id
        }
        return "x-" + id.utf8.prefix(100).map { String(format: "%02x", $0) }.joined()
    }

    /// Records `seq` and `hash` as the run's head: one fixed-length write in place.
    func record(_ run: RunID, seq: Int64, hash: [UInt8]) {
        guard let folder else { return }
        let line = String(seq).leftPadded(to: 20) + " " + hash.hex + "\n"
        open.withLock { fds in
            var fd = fds[run] ?? -1
            if fd < 0 {
                if fds.count >= Self.maxOpen {
                    for other in fds.values { close(other) }
                    fds.removeAll(keepingCapacity: true)
                }
                fd = Glibc.open(folder + "/" + Self.fileName(run), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
                guard fd >= 0 else { return }
                fds[run] = fd
            }
            _ = line.utf8CString.withUnsafeBufferPointer { pwrite(fd, $0.baseAddress, $0.count - 1, 0) }
        }
    }

    /// The head last recorded for `run`, if any.
    func read(_ run: RunID) -> (seq: Int64, hash: String)? {
        guard let folder, let text = try? String(contentsOfFile: folder + "/" + Self.fileName(run), encoding: .utf8)
        else { return nil }
        let parts = text.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2, let seq = Int64(parts[0]) else { return nil }
        return (seq, parts[1].trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Runs that have a witness (their ids, where the file name is the id).
    func runs() -> [RunID] {
        guard let folder, let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        return names.filter { !$0.hasPrefix("x-") && !$0.hasPrefix(".") }.sorted().map { RunID($0) }
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

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
    /// The map's lock is held only to find or open a file; each file has its own lock for its
    /// reads and writes, so the commits of many runs do not queue behind one another's syscalls.
    private let open = Mutex<[RunID: Handle]>([:])

    /// One run's witness file, open. Closed when the last holder lets go: a handle dropped from
    /// the map while another thread still writes through it stays open until that write ends.
    final class Handle: Sendable {
        let fd: Int32
        let lock = Mutex(())
        init(fd: Int32) { self.fd = fd }
        deinit { close(fd) }
    }
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

    /// A file name for the run: its id when it is plain (letters, digits, `-`, `_`, `.`, not
    /// starting with a dot: sub-agents' ids have dots), else `x-` and its hex, which decodes back.
    static func fileName(_ run: RunID) -> String {
        let id = run.rawValue
        if !id.isEmpty, id.count <= 200, !id.hasPrefix("."), !id.hasPrefix("x-"),
            id.utf8.allSatisfy({ b in
                (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D
                    || b == 0x5F || b == 0x2E
            })
        {
            return id
        }
        return "x-" + id.utf8.prefix(120).map { String(format: "%02x", $0) }.joined()
    }

    /// The name the first witnesses had for runs with a dot (or other characters) in their id:
    /// read too, so a witness written before dots were allowed in names still counts.
    static func legacyFileName(_ run: RunID) -> String? {
        let id = run.rawValue
        guard id.contains("."), !id.isEmpty else { return nil }
        return "x-" + id.utf8.prefix(100).map { String(format: "%02x", $0) }.joined()
    }

    /// The run a witness file is for, from its name.
    static func run(fileName name: String) -> RunID? {
        if name.hasPrefix(".") || name.contains(".tmp") { return nil }
        guard name.hasPrefix("x-") else { return RunID(name) }
        let hex = Array(name.utf8.dropFirst(2))
        guard hex.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        for k in stride(from: 0, to: hex.count, by: 2) {
            guard let b = UInt8(String(decoding: hex[k..<k + 2], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(b)
        }
        return String(bytes: bytes, encoding: .utf8).map { RunID($0) }
    }

    /// Records `seq` and `hash` as the run's head: one fixed-length write in place. A head behind
    /// the one already witnessed is not written (another process got further; a person's
    /// acceptance of a loss passes `backwards`), so a witness never moves back by a race.
    func record(_ run: RunID, seq: Int64, hash: [UInt8], backwards: Bool = false) {
        guard let folder else { return }
        let line = String(seq).leftPadded(to: 20) + " " + hash.hex + "\n"
        let handle: Handle? = open.withLock { handles in
            if let handle = handles[run] { return handle }
            if handles.count >= Self.maxOpen { handles.removeAll(keepingCapacity: true) }
            let fd = Glibc.open(folder + "/" + Self.fileName(run), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
            guard fd >= 0 else { return nil }
            let handle = Handle(fd: fd)
            handles[run] = handle
            return handle
        }
        guard let handle else { return }
        handle.lock.withLock { _ in
            let fd = handle.fd
            // Compared and written under the file's lock: another process recording the same run's
            // head in between cannot be overwritten by an older one.
            // (A holder stopped mid-write blocks this as it blocks SQLite's own write lock.)
            while flock(fd, LOCK_EX) != 0, errno == EINTR {}
            defer { flock(fd, LOCK_UN) }
            if !backwards, let current = Self.parse(Self.pread(fd)), current.seq > seq { return }
            _ = line.utf8CString.withUnsafeBufferPointer { pwrite(fd, $0.baseAddress, $0.count - 1, 0) }
        }
    }

    /// The head last recorded for `run`, if any: through this process's open descriptor when it
    /// has one (one `pread`: appends check the witness on every commit), else from the file.
    func read(_ run: RunID) -> (seq: Int64, hash: String)? {
        guard let folder else { return nil }
        if let handle = open.withLock({ $0[run] }) {
            return Self.parse(handle.lock.withLock { _ in Self.pread(handle.fd) })
        }
        for name in [Self.fileName(run), Self.legacyFileName(run)].compactMap({ $0 }) {
            if let text = try? String(contentsOfFile: folder + "/" + name, encoding: .utf8) { return Self.parse(text) }
        }
        return nil
    }

    static func pread(_ fd: Int32) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 128)
        let n = buffer.withUnsafeMutableBytes { Glibc.pread(fd, $0.baseAddress, 128, 0) }
        return n > 0 ? Array(buffer.prefix(n)) : []
    }

    static func parse(_ text: String) -> (seq: Int64, hash: String)? { parse(Array(text.utf8)) }

    /// `seq hash`, the sequence number right-aligned, read byte by byte: it is read in every
    /// append's transaction, where splitting and trimming Strings cost more than the write.
    static func parse(_ bytes: [UInt8]) -> (seq: Int64, hash: String)? {
        var i = 0
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
        while i < bytes.count, isSpace(bytes[i]) { i += 1 }
        var seq: Int64 = 0
        let digits = i
        while i < bytes.count, (0x30...0x39).contains(bytes[i]) {
            let (times, o1) = seq.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times.addingReportingOverflow(Int64(bytes[i] - 0x30))
            guard !o1, !o2 else { return nil }
            seq = sum
            i += 1
        }
        guard i > digits, i < bytes.count, bytes[i] == 0x20 else { return nil }
        while i < bytes.count, bytes[i] == 0x20 { i += 1 }
        let start = i
        while i < bytes.count, !isSpace(bytes[i]) { i += 1 }
        let end = i
        guard end > start else { return nil }
        while i < bytes.count, isSpace(bytes[i]) { i += 1 }
        guard i == bytes.count else { return nil }  // one line of two fields, nothing after
        return (seq, String(decoding: bytes[start..<end], as: UTF8.self))
    }

    /// Removes the run's witness (a run pruned from the database on purpose, with a record of it).
    func forget(_ run: RunID) {
        guard let folder else { return }
        open.withLock { _ = $0.removeValue(forKey: run) }
        for name in [Self.fileName(run), Self.legacyFileName(run)].compactMap({ $0 }) {
            _ = unlink(folder + "/" + name)
        }
    }

    /// Every run that has a witness, whatever its id.
    func runs() -> [RunID] {
        guard let folder, let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        return Array(Set(names.compactMap(Self.run(fileName:)))).sorted { $0.rawValue < $1.rawValue }
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

import Dispatch
import Foundation
public import NightshiftCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The store's ``LogSignal``: every commit rewrites its run's head witness (`DB-heads/RUN`), so
/// an inotify watch on that folder hears the appends of every process on this machine, this one
/// included, without reading the database. Appends by this process also signal directly (a
/// database in memory has no folder). Where inotify is not available (another kernel, a network
/// file system), appends of other processes are only seen when a waiter's timeout passes: live
/// views then behave as the polling they replace.
final class HeadWatcher: Sendable {
    private struct Waiter {
        var key: String?
        var seen: UInt64
        var continuation: CheckedContinuation<Bool, Never>
    }
    private struct Board {
        var runs: [String: UInt64] = [:]
        var any: UInt64 = 0
        var waiters: [Int: Waiter] = [:]
        var nextID = 0
        func generation(_ key: String?) -> UInt64 { key.map { runs[$0] ?? 0 } ?? any }
    }
    /// A dispatch read source, which libdispatch lets any thread cancel; Swift does not mark it Sendable.
    private struct Source: @unchecked Sendable { let source: any DispatchSourceRead }

    private let board = Mutex(Board())
    private let source: Source?

    /// Watches `folder` (nil: only this process's own appends are heard).
    init(folder: String?) {
        guard let folder else {
            source = nil
            return
        }
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0,
            inotify_add_watch(fd, folder, UInt32(IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE)) >= 0
        else {
            if fd >= 0 { close(fd) }
            source = nil
            return
        }
        let source = DispatchSource.makeReadSource(
            fileDescriptor: fd, queue: DispatchQueue(label: "nightshift.head-watcher"))
        self.source = Source(source: source)
        source.setCancelHandler { close(fd) }
        source.setEventHandler { [weak self] in self?.drain(fd) }
        source.resume()
    }

    deinit { source?.source.cancel() }

    /// Reads every pending inotify record and signals the runs they name.
    private func drain(_ fd: Int32) {
        var names = Set<String>()
        var overflow = false
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            var offset = 0
            let header = MemoryLayout<inotify_event>.size
            while offset + header <= n {
                let (mask, length) = buffer.withUnsafeBytes { raw in
                    (
                        raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self),
                        Int(raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                    )
                }
                if mask & UInt32(IN_Q_OVERFLOW) != 0 { overflow = true }
                if length > 0, offset + header + length <= n {
                    let bytes = buffer[(offset + header)..<(offset + header + length)].prefix { $0 != 0 }
                    names.insert(String(decoding: bytes, as: UTF8.self))
                }
                offset += header + length
            }
        }
        // The kernel dropped records: every run may have grown.
        if overflow { bump(all: true, []) } else if !names.isEmpty { bump(all: false, Array(names)) }
    }

    /// Signals the runs whose witness files are `keys` (every run, with `all`).
    func bump(all: Bool = false, _ keys: [String]) {
        let woken = board.withLock { b -> [CheckedContinuation<Bool, Never>] in
            b.any &+= 1
            if all {
                for key in b.runs.keys { b.runs[key]! &+= 1 }
            } else {
                for key in keys { b.runs[key, default: 0] &+= 1 }
            }
            var out: [CheckedContinuation<Bool, Never>] = []
            for (id, w) in b.waiters where b.generation(w.key) > w.seen || (all && w.key != nil) {
                out.append(w.continuation)
                b.waiters[id] = nil
            }
            return out
        }
        for c in woken { c.resume(returning: true) }
    }

    func generation(_ key: String?) -> UInt64 { board.withLock { $0.generation(key) } }

    /// Whether the folder is watched (appends by other processes are heard).
    var isWatching: Bool { source != nil }

    func wait(_ key: String?, past seen: UInt64, timeout: Duration) async -> Bool {
        let id = board.withLock { b -> Int in
            b.nextID += 1
            return b.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let now: Bool? = board.withLock { b in
                    if b.generation(key) > seen { return true }
                    if Task.isCancelled { return false }
                    b.waiters[id] = Waiter(key: key, seen: seen, continuation: continuation)
                    return nil
                }
                if let now {
                    continuation.resume(returning: now)
                    return
                }
                let ms =
                    Int(min(timeout.components.seconds, 86_400) * 1000)
                    + Int(timeout.components.attoseconds / 1_000_000_000_000_000)
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(max(ms, 0))) { [weak self] in
                    self?.finish(id, false)
                }
            }
        } onCancel: {
            finish(id, false)
        }
    }

    private func finish(_ id: Int, _ value: Bool) {
        let waiter = board.withLock { $0.waiters.removeValue(forKey: id) }
        waiter?.continuation.resume(returning: value)
    }
}

extension SQLiteEventStore: LogSignal {
    public func generation(of run: RunID?) async -> UInt64 {
        signal.generation(run.map(HeadWitness.fileName))
    }

    public func wait(for run: RunID?, past seen: UInt64, timeout: Duration) async -> Bool {
        await signal.wait(run.map(HeadWitness.fileName), past: seen, timeout: timeout)
    }

    public func hearsOtherProcesses() async -> Bool { signal.isWatching }
}

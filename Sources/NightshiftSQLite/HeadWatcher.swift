import Dispatch
import Foundation
public import NightshiftCore

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
    /// The generations and waiters (shared with the other stores); this type only feeds it.
    let board = LogSignalBoard<String>()

    /// A dispatch read source, which libdispatch lets any thread cancel; Swift does not mark it Sendable.
    private struct Source: @unchecked Sendable { let source: any DispatchSourceRead }

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
        if all { board.bumpAll() } else { board.bump(keys) }
    }

    /// Whether the folder is watched (appends by other processes are heard).
    var isWatching: Bool { source != nil }
}

extension SQLiteEventStore: LogSignal {
    public func generation(of run: RunID?) async -> UInt64 {
        signal.board.generation(of: run.map(HeadWitness.fileName))
    }

    public func wait(for run: RunID?, past seen: UInt64, timeout: Duration) async -> Bool {
        await signal.board.wait(for: run.map(HeadWitness.fileName), past: seen, timeout: timeout)
    }

    public func hearsOtherProcesses() async -> Bool { signal.isWatching }
}

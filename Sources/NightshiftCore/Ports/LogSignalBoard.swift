import Synchronization

/// The waiting half of a store's ``LogSignal``, written once for every store: generations per
/// run and for any run, and the waiters parked on them. A store feeds it what it hears (its own
/// commits, the file system's or the database's notifications) and answers the port from it.
///
/// It lives in Core, beside the port, because it is pure concurrency that every store needs
/// alike: no IO, and the clock only times a waiter's timeout, never a value it returns.
/// `Key` names one run as the store hears it (a run's ID, or a file name the kernel reports).
public final class LogSignalBoard<Key: Hashable & Sendable>: Sendable {
    private struct Waiter {
        var key: Key?
        var seen: UInt64
        var continuation: CheckedContinuation<Bool, Never>
        var timer: Task<Void, Never>?
    }
    private struct State {
        var runs: [Key: UInt64] = [:]
        var any: UInt64 = 0
        /// Bumps of every run at once, part of each run's generation: a run never named yet grows too.
        var all: UInt64 = 0
        var waiters: [Int: Waiter] = [:]
        var nextID = 0
        func generation(_ key: Key?) -> UInt64 { key.map { (runs[$0] ?? 0) &+ all } ?? any }
    }

    private let state = Mutex(State())

    /// A board on which nothing has grown yet.
    public init() {}

    /// See ``LogSignal/generation(of:)``.
    public func generation(of key: Key?) -> UInt64 { state.withLock { $0.generation(key) } }

    /// The runs `keys` (and so any run) may have grown.
    public func bump(_ keys: some Sequence<Key>) {
        wake { s in
            s.any &+= 1
            for key in keys { s.runs[key, default: 0] &+= 1 }
        }
    }

    /// Every run may have grown: the source lost track (the kernel dropped records, a listening
    /// connection was down), so every waiter reads again.
    public func bumpAll() {
        wake { s in
            s.any &+= 1
            s.all &+= 1
        }
    }

    /// See ``LogSignal/wait(for:past:timeout:)``. A timeout over a day counts as a day.
    public func wait(for key: Key?, past seen: UInt64, timeout: Duration) async -> Bool {
        let id = state.withLock { s -> Int in
            s.nextID += 1
            return s.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let now: Bool? = state.withLock { s in
                    if s.generation(key) > seen { return true }
                    if Task.isCancelled { return false }
                    s.waiters[id] = Waiter(key: key, seen: seen, continuation: continuation)
                    return nil
                }
                if let now {
                    continuation.resume(returning: now)
                    return
                }
                // Started only once the waiter is on the board, so it cannot fire before it.
                let limit = min(timeout, .seconds(86_400))
                let timer = Task { [weak self] in
                    do { try await Task.sleep(for: limit) } catch { return }
                    self?.finish(id, false)
                }
                let woken = state.withLock { s -> Bool in
                    guard s.waiters[id] != nil else { return true }
                    s.waiters[id]?.timer = timer
                    return false
                }
                if woken { timer.cancel() }
            }
        } onCancel: {
            finish(id, false)
        }
    }

    /// Applies `change`, then resumes every waiter whose generation passed what it saw.
    private func wake(_ change: (inout State) -> Void) {
        let woken = state.withLock { s -> [Waiter] in
            change(&s)
            var out: [Waiter] = []
            for (id, w) in s.waiters where s.generation(w.key) > w.seen {
                out.append(w)
                s.waiters[id] = nil
            }
            return out
        }
        for w in woken {
            w.timer?.cancel()
            w.continuation.resume(returning: true)
        }
    }

    private func finish(_ id: Int, _ value: Bool) {
        guard let w = state.withLock({ $0.waiters.removeValue(forKey: id) }) else { return }
        w.timer?.cancel()
        w.continuation.resume(returning: value)
    }
}

import Synchronization

/// Waits for a tool call, but not forever. A tool that blocks in the kernel (opening a named pipe,
/// reading a hung network mount) would otherwise hold the run, and every resume of it, for good.
enum ToolDeadline {
    private struct State {
        var done = false
        var timer: Task<Void, Never>?
        var work: Task<Void, Never>?
    }

    /// The race's shared state, shared by reference between the two tasks.
    private final class Race: Sendable {
        let state = Mutex(State())
    }

    /// Runs `body` and returns its result, or nil when `limit` passed first. The body is then
    /// cancelled and left to end on its own; whatever it returns later is dropped.
    static func run<T: Sendable>(limit: Duration, _ body: @escaping @Sendable () async -> T) async -> T? {
        let race = Race()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
                // Whoever finishes first resumes the continuation and stops the other.
                let work = Task {
                    let value = await body()
                    let first = race.state.withLock { s -> Bool in
                        guard !s.done else { return false }
                        s.done = true
                        s.timer?.cancel()
                        return true
                    }
                    if first { continuation.resume(returning: value) }
                }
                let timer = Task {
                    try? await Task.sleep(for: limit)
                    guard !Task.isCancelled else { return }
                    let first = race.state.withLock { s -> Bool in
                        guard !s.done else { return false }
                        s.done = true
                        s.work?.cancel()
                        return true
                    }
                    if first { continuation.resume(returning: nil) }
                }
                race.state.withLock { s in
                    s.work = work
                    if s.done { timer.cancel() } else { s.timer = timer }
                }
            }
        } onCancel: {
            race.state.withLock { s in s.work?.cancel() }
        }
    }
}

import Dispatch
import Synchronization

/// Waits for a tool call, but not forever. A tool that blocks in the kernel (opening a named pipe,
/// reading a hung network mount) would otherwise hold the run, and every resume of it, for good.
public enum ToolDeadline {
    /// A dispatch timer source, which libdispatch lets any thread cancel; Swift does not mark it
    /// Sendable. Cancelling it removes it at once (a cancelled `asyncAfter` item would stay queued,
    /// with everything it captured, until its deadline: an hour, for every call).
    private struct Timer: @unchecked Sendable {
        let source: any DispatchSourceTimer
    }

    /// The race between the work and the timer: whoever ends first resumes the caller and stops
    /// the other (the timer is cancelled, the work's task is cancelled).
    private final class Race<T: Sendable>: Sendable {
        private struct State {
            var done = false
            var timer: Timer?
            var work: Task<Void, Never>?
        }
        private let state = Mutex(State())
        private let continuation: CheckedContinuation<T?, Never>
        init(_ continuation: CheckedContinuation<T?, Never>) { self.continuation = continuation }

        func arm(timer: Timer, work: Task<Void, Never>) {
            let late = state.withLock { s -> Bool in
                s.timer = timer
                s.work = work
                return s.done
            }
            if late { timer.source.cancel() }
        }

        func finish(_ value: T?) {
            let first = state.withLock { s -> Bool in
                guard !s.done else { return false }
                s.done = true
                if value == nil { s.work?.cancel() } else { s.timer?.source.cancel() }
                return true
            }
            if first { continuation.resume(returning: value) }
        }

        func cancelWork() { state.withLock { $0.work?.cancel() } }
    }

    /// Runs `body` and returns its result, or nil when `limit` passed first. The body is then
    /// cancelled and left to end on its own; whatever it returns later is dropped. One task for the
    /// body and a dispatch timer source (cheaper than a second task: this is on every call's path).
    public static func run<T: Sendable>(limit: Duration, _ body: @escaping @Sendable () async -> T) async -> T? {
        let box = Mutex<Race<T>?>(nil)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
                let race = Race<T>(continuation)
                box.withLock { $0 = race }
                let work = Task {
                    let value = await body()
                    race.finish(value)
                }
                let source = DispatchSource.makeTimerSource(queue: .global())
                let c = limit.components
                let (ns, overflow) = c.seconds.multipliedReportingOverflow(by: 1_000_000_000)
                source.schedule(
                    deadline: overflow || ns >= Int64(Int.max / 2)
                        ? .distantFuture
                        : .now() + .nanoseconds(Int(ns + c.attoseconds / 1_000_000_000)))
                source.setEventHandler { race.finish(nil) }
                let timer = Timer(source: source)
                race.arm(timer: timer, work: work)
                source.resume()
            }
        } onCancel: {
            box.withLock { $0?.cancelWork() }
        }
    }
}

import Foundation
import Synchronization

/// Waits for an async operation that may never finish (a request to a hung or dead server), so
/// the caller can give up and clean up instead of waiting forever. The operation is left to end
/// on its own once the caller has stopped what it waits on.
enum Race {
    enum Outcome<T: Sendable>: Sendable {
        case value(T)
        case failed(any Error)
        case timedOut
        /// `died` reported why the operation cannot finish (the server process exited).
        case died(String)
    }

    /// - Parameter died: polled every 20 ms; a non-nil answer ends the wait.
    static func run<T: Sendable>(
        timeout: Duration, died: @escaping @Sendable () -> String?,
        _ operation: @escaping @Sendable () async throws -> T
    ) async -> Outcome<T> {
        let once = Once<Outcome<T>>()
        let deadline = ContinuousClock.now + timeout
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Outcome<T>, Never>) in
            once.set(continuation)
            once.work = Task {
                do { once.resume(.value(try await operation())) } catch { once.resume(.failed(error)) }
            }
            once.watch = Task {
                while !Task.isCancelled {
                    if let why = died() {
                        once.resume(.died(why))
                        return
                    }
                    if ContinuousClock.now >= deadline {
                        once.resume(.timedOut)
                        return
                    }
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
        }
        once.watch?.cancel()
        if case .value = result {} else { once.work?.cancel() }
        return result
    }

    /// Resumes a continuation exactly once, whichever side finishes first.
    private final class Once<V: Sendable>: Sendable {
        private struct Slots {
            var continuation: CheckedContinuation<V, Never>?
            var work: Task<Void, Never>?
            var watch: Task<Void, Never>?
        }
        private let slots = Mutex(Slots())
        var work: Task<Void, Never>? {
            get { slots.withLock { $0.work } }
            set { slots.withLock { $0.work = newValue } }
        }
        var watch: Task<Void, Never>? {
            get { slots.withLock { $0.watch } }
            set { slots.withLock { $0.watch = newValue } }
        }

        func set(_ c: CheckedContinuation<V, Never>) { slots.withLock { $0.continuation = c } }

        func resume(_ value: V) {
            let c = slots.withLock { slots in
                defer { slots.continuation = nil }
                return slots.continuation
            }
            c?.resume(returning: value)
        }
    }
}

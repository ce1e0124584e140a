import Synchronization

/// A one-time event many tasks can wait for: set once (a runtime asked to stop), and every wait,
/// before or after, returns. A waiting task that is cancelled stops waiting.
final class Latch: Sendable {
    private struct State {
        var isSet = false
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var next = 0
    }
    private let state = Mutex(State())

    var isSet: Bool { state.withLock { $0.isSet } }

    /// Sets it; returns false when it was already set.
    @discardableResult
    func set() -> Bool {
        let waiters: [CheckedContinuation<Void, Never>]? = state.withLock { s in
            guard !s.isSet else { return nil }
            s.isSet = true
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        waiters?.forEach { $0.resume() }
        return waiters != nil
    }

    /// Returns once it is set, or when the task is cancelled.
    func wait() async {
        let id = state.withLock { s in
            s.next += 1
            return s.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.isSet || Task.isCancelled { return true }
                    s.waiters[id] = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}

/// A value handed over once from one task to another (the id of a run once it is recorded, or
/// why it could not be): later offers are ignored.
final class OneShot<Value: Sendable>: Sendable {
    private struct State {
        var result: Result<Value, any Error>?
        var waiters: [CheckedContinuation<Value, any Error>] = []
    }
    private let state = Mutex(State())

    func succeed(_ value: Value) { complete(.success(value)) }
    func fail(_ error: any Error) { complete(.failure(error)) }

    private func complete(_ result: Result<Value, any Error>) {
        let waiters: [CheckedContinuation<Value, any Error>] = state.withLock { s in
            guard s.result == nil else { return [] }
            s.result = result
            defer { s.waiters = [] }
            return s.waiters
        }
        waiters.forEach { $0.resume(with: result) }
    }

    /// The value, once given (not cancellable: the giver always gives one).
    func value() async throws -> Value {
        try await withCheckedThrowingContinuation { c in
            let ready = state.withLock { s -> Result<Value, any Error>? in
                if let r = s.result { return r }
                s.waiters.append(c)
                return nil
            }
            if let ready { c.resume(with: ready) }
        }
    }
}

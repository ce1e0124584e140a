public import NightshiftCore

/// Ending a run for good, by a person's decision: `run_failed` with who cancelled it and why.
/// The run must not be driven by a live process (stop that process first: the log is durable at
/// every step); a paused run, or one whose process died, is cancelled at once.
public enum CancelRun {
    /// - Throws: ``RuntimeError`` `busy` when a live process drives the run, `notFound` for an
    ///   unknown run, `invalidInput` for a blank reason or a run that already ended.
    @discardableResult
    public static func cancel(
        _ run: RunID, reason: String, by decider: String, store: any EventStore
    ) async throws -> RunState {
        guard reason.contains(where: { !$0.isWhitespace }) else {
            throw RuntimeError(.invalidInput, "a cancellation needs a reason (--reason TEXT); it may not be blank")
        }
        guard try await store.summary(of: run) != nil else {
            throw RuntimeError(.notFound, "no run \(run) (nightshift status lists the runs)")
        }
        return try await Leasing.withLease(run, store: store) { lease in
            let state = try await store.state(of: run)
            guard !state.isTerminal else {
                throw RuntimeError(.invalidInput, "run \(run) already \(state.status.rawValue); nothing to cancel")
            }
            let event = Event.runFailed(reason: "cancelled by \(decider): \(reason)")
            var next = state
            try next.applyUncommitted(event)
            try await store.append([event], to: run, expectedSeq: state.lastSeq, snapshot: nil, fence: lease)
            return next
        }
    }
}

public import NightshiftCore

/// Ending a run for good, by a person's decision: `run_failed` with who cancelled it and why,
/// and then the same for every sub-agent under it that has not ended. The run must not be
/// driven by a live process (stop that process first: the log is durable at every step); a
/// paused run, or one whose process died, is cancelled at once. A cancellation interrupted
/// between the run and its sub-agents is finished by cancelling again, or when a sub-agent is
/// next woken (a sub-agent whose parent ended is never driven on).
public enum CancelRun {
    /// - Throws: ``RuntimeError`` `busy` when a live process drives the run, `notFound` for an
    ///   unknown run, `invalidInput` for a blank reason or a run that already ended with nothing
    ///   under it left to cancel.
    /// On the database `config` names.
    @discardableResult
    public static func cancel(
        _ run: RunID, reason: String, by decider: String, _ config: StoreConfig
    ) async throws -> RunState {
        try await cancel(run, reason: reason, by: decider, store: Adapters.openExistingStore(config))
    }

    @discardableResult
    public static func cancel(
        _ run: RunID, reason: String, by decider: String, store: any EventStore,
        notice: @Sendable (String) -> Void = { _ in }
    ) async throws -> RunState {
        guard reason.contains(where: { !$0.isWhitespace }) else {
            throw RuntimeError(.invalidInput, "a cancellation needs a reason; it may not be blank")
        }
        guard try await store.summary(of: run) != nil else {
            throw RuntimeError(.notFound, "no run \(run) (nightshift status lists the runs)")
        }
        let ended = try await Leasing.withLease(run, store: store) { lease in
            // A log that went back is not ended on its older state: the person decides on the loss first.
            if let rollback = try await Leasing.rollback(run, store: store) {
                throw RuntimeError(
                    .lost,
                    rollback.message + "; nothing was recorded. Accept the loss with nightshift resume \(run) "
                        + "--accept-rollback, then cancel again")
            }
            let state = try await store.state(of: run)
            if state.isTerminal {
                guard try await hasLiveChildren(state, store: store) else {
                    throw RuntimeError(.invalidInput, "run \(run) already \(state.status.rawValue); nothing to cancel")
                }
                return state
            }
            let event = Event.runFailed(reason: RunState.cancelledPrefix + "\(decider): \(reason)")
            var next = state
            try next.applyUncommitted(event)
            try await store.append([event], to: run, expectedSeq: state.lastSeq, snapshot: nil, fence: lease)
            return next
        }
        await cancelChildren(of: ended, by: decider, store: store, notice: notice)
        return ended
    }

    /// Cancels every sub-agent of `state` that has not ended, and theirs in turn. One driven by a
    /// live process is left to it (named in a notice): it is cancelled when next woken.
    static func cancelChildren(
        of state: RunState, by decider: String, store: any EventStore, notice: @Sendable (String) -> Void
    ) async {
        for child in state.fleet.children where child.created && child.outcome == nil {
            do {
                try await cancel(
                    child.id, reason: "the run that spawned it, \(state.run), ended", by: decider, store: store,
                    notice: notice)
            } catch let e as RuntimeError where e.code == .invalidInput {
                continue  // already ended, nothing under it
            } catch {
                notice("sub-agent \(child.id) was not cancelled now (\(error)); it is cancelled when next woken")
            }
        }
    }

    static func hasLiveChildren(_ state: RunState, store: any EventStore) async throws -> Bool {
        for child in state.fleet.children where child.created && child.outcome == nil {
            guard let s = try await store.summary(of: child.id) else { continue }
            if s.status == .running || s.status == .paused { return true }
            if try await hasLiveChildren(try await store.state(of: child.id), store: store) { return true }
        }
        return false
    }
}

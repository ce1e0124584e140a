/// Whether a queued run should be driven now, from its folded log: the check a worker makes
/// before it continues a run the queue named.
public enum Readiness: Sendable, Equatable {
    /// Continue it now; `why` is for the person watching the worker.
    case ready(why: String)
    /// Not before this time (a wait's deadline, epoch ms).
    case notBefore(Int64)
    /// Nothing to do until something else wakes it (a person, a sub-agent's end).
    case idle

    /// - Parameters:
    ///   - last: the run's last event.
    ///   - holderGone: for a running run, whether the process driving it died or stopped (a
    ///     signal, a shutdown: its lease handed over) rather than give the run up (a lease released
    ///     by the drive, after an error, is a stop a person looks at).
    ///   - ended: the sub-agents of its wait known to have ended, from their own logs.
    public static func of(
        _ state: RunState, last: Event?, ended: Set<RunID>, now: Int64, holderGone: Bool = true
    ) -> Readiness {
        switch state.status {
        case .finished, .failed:
            return .idle
        case .running:
            // A sub-agent, or a root a worker was driving and died on: a root a person left running
            // is theirs to resume, and one a worker stopped driving after an error waits for a person.
            if state.settings.parent != nil { return .ready(why: "(a sub-agent no process drives)") }
            guard state.driver == .worker, holderGone else { return .idle }
            return .ready(why: "(a worker drove it and its process is gone)")
        case .paused:
            if let last, last.actor == .human { return .ready(why: "after \(last.kind)") }
            guard state.pauseKind == .agents else { return .idle }
            if state.waitWouldEnd(ended: ended, now: now) { return .ready(why: "(its wait for sub-agents would end)") }
            if let deadline = state.fleet.wait?.deadline { return .notBefore(deadline) }
            return .idle
        }
    }
}

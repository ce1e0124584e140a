public import Logging
public import NightshiftCore

/// The events of a driven run a person watching a worker's log wants a line for: a task begun,
/// done, reworked or blocked; a call that waits for approval or is in doubt; a pause, a resume
/// (and who holds the run), the end. Each line carries the run and, where there is one, its task,
/// call and holder as metadata. Nothing a tool or a model produced is written (arguments, output,
/// file contents may hold secrets, and the agent's words are its own); the reasons written are the
/// harness's.
public enum RunLogLines {
    /// The line for `envelope`, or nil for an event that gets none.
    public static func line(
        _ envelope: EventEnvelope
    ) -> (level: Logger.Level, message: String, metadata: Logger.Metadata)? {
        var metadata: Logger.Metadata = ["run": "\(envelope.run)", "seq": "\(envelope.seq)"]
        func with(
            _ level: Logger.Level, _ message: String, _ extra: Logger.Metadata = [:]
        )
            -> (level: Logger.Level, message: String, metadata: Logger.Metadata)
        {
            metadata.merge(extra) { $1 }
            return (level, message, metadata)
        }
        switch envelope.event {
        case let .taskStarted(task, attempt):
            return with(
                .info, attempt == 1 ? "task started" : "task reworked", ["task": "\(task)", "attempt": "\(attempt)"])
        case let .taskFinished(task, attempt, _):
            return with(.info, "task done", ["task": "\(task)", "attempt": "\(attempt)"])
        case let .taskAttemptFailed(task, attempt, _):
            return with(.notice, "attempt failed its checks", ["task": "\(task)", "attempt": "\(attempt)"])
        case let .taskBlocked(task, _):
            // Its reason can be a judge's words: `nightshift status RUN` shows it.
            return with(.warning, "task blocked", ["task": "\(task)"])
        case let .toolDecided(call, effect, rule, _) where effect == .ask:
            return with(.notice, "call waits for approval", ["call": "\(call)", "rule": "\(rule)"])
        case let .toolDecided(call, effect, rule, _) where effect == .deny:
            return with(.notice, "call denied by the policy", ["call": "\(call)", "rule": "\(rule)"])
        case let .toolInDoubt(call, _):
            return with(.warning, "call in doubt: it was running when its process stopped", ["call": "\(call)"])
        case let .runPaused(_, kind):
            // Its reason can quote a call's arguments: the kind says why, `nightshift inbox` the rest.
            return with(.notice, "run paused", kind.map { ["pause": "\($0.rawValue)"] } ?? [:])
        case let .runResumed(by, driver):
            var extra: Logger.Metadata = ["holder": "\(by)"]
            if let driver { extra["driver"] = "\(driver.rawValue)" }
            return with(.info, "run resumed", extra)
        case let .escalated(task, _):
            // The agent's own words stay in the log (`nightshift inbox RUN` shows them).
            return with(.notice, "the agent asks for a person", task.map { ["task": "\($0)"] } ?? [:])
        case let .budgetExhausted(scope, resource, limit, spent):
            return with(
                .warning, "budget exhausted: \(resource.rawValue) \(spent) of \(limit)", ["scope": "\(scope.rawValue)"])
        case let .breakerTripped(breaker, count, _):
            return with(.warning, "breaker tripped: \(breaker.rawValue) \(count) times")
        case let .runFinished(summary):
            return with(.info, "run finished: \(summary)")
        case let .runFailed(reason):
            return with(.error, "run failed: \(reason)")
        default:
            return nil
        }
    }

    /// Logs `envelope`'s line, if it has one, to `logger`.
    public static func log(_ envelope: EventEnvelope, to logger: Logger) {
        guard let l = line(envelope) else { return }
        logger.log(level: l.level, "\(l.message)", metadata: l.metadata)
    }
}

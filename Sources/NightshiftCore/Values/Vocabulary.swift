/// The words the log uses for budgets, breakers, handoffs, pauses and deciders. Each is a
/// `String`-raw enum whose raw values are the bytes on disk, so a typo is a compile error and
/// a label can only change in one place (the golden-events test guards the bytes).

/// Which budget a limit belongs to: the whole run's, or the active task's.
public enum BudgetScope: String, Sendable, Codable, CodingKeyRepresentable, CaseIterable, CustomStringConvertible {
    case run, task
    public var description: String { rawValue }
}

/// What a budget limits. Cost is counted in 10⁻¹² USD, time by the log's own clock.
public enum BudgetResource: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case tokens
    case costPicoUSD = "cost_picousd"
    case steps
    case toolCalls = "tool_calls"
    case wallSeconds = "wall_seconds"
    public var description: String { rawValue }
}

/// The circuit breakers of a policy: each pauses the run when its count in a row is reached.
public enum Breaker: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// Attempts in a row whose checks failed.
    case failedChecks = "failed_checks"
    /// Tool calls in a row that ended in an error.
    case toolErrors = "tool_errors"
    /// The same call with the same arguments, again and again without progress.
    case repeatedCall = "repeated_call"
    public var description: String { rawValue }
}

/// Why a handoff note was written: a task was done (the note goes to the next task), or the
/// worker's context was full and a new shift starts from the note.
public enum HandoffReason: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case taskDone = "task done"
    case contextReset = "context reset"
    public var description: String { rawValue }
}

/// Who drives a resumed run, when it is not the person who ran the command: a worker's run
/// stays in the run queue while it runs, so another worker continues it if that worker dies. The
/// raw values are the on-disk vocabulary.
public enum ResumeDriver: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case worker
    public var description: String { rawValue }
}

/// Why a run paused: what a human must do before `resume`. Recorded with each `run_paused`; for
/// pauses written before it was recorded, ``PauseKind/init(legacyReason:)`` reads the reason text.
public enum PauseKind: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// A tool call waits for `approve` or `deny`.
    case approval
    /// The planner's plan waits for `approve RUN plan` or `deny RUN plan`.
    case planReview = "plan_review"
    /// A budget is spent: `budget` raises it.
    case budget
    /// A breaker tripped: `answer` and resume.
    case breaker
    /// The agent, the judge or the harness escalated: `answer` and resume.
    case escalation
    /// The planner gave no usable plan, or the plan's init script failed.
    case planning
    /// The model could not be reached or refused the request.
    case model
    /// The workspace could not be made or read.
    case workspace
    /// The run waits for its sub-agents (`wait_agents`); whoever drives them wakes it, no human is needed.
    case agents

    public var description: String { rawValue }

    /// How a run paused by an earlier version (no kind recorded) is classified: by the start of
    /// the reason text those versions wrote. Nil when the text is none of theirs.
    public init?(legacyReason reason: String) {
        if reason.hasPrefix("awaiting approval") {
            self = .approval
        } else if reason.hasPrefix("budget_exhausted") {
            self = .budget
        } else if reason.hasPrefix("breaker") {
            self = .breaker
        } else if reason.hasPrefix("escalated") {
            self = .escalation
        } else if reason.hasPrefix("the plan (version") {
            self = .planReview
        } else if reason.hasPrefix("the planner") || reason.hasPrefix("the plan's init script") {
            self = .planning
        } else if reason.hasPrefix("the model") {
            self = .model
        } else if reason.hasPrefix("the workspace") || reason.hasPrefix("this process cannot read the workspace") {
            self = .workspace
        } else {
            return nil
        }
    }
}

/// Who made a decision recorded in the log: the harness itself, or a person (by OS user name).
public struct Decider: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    /// Nightshift's own decisions (a plan it rejected as unusable).
    public static let harness = Decider(rawValue: "harness")
    public var isHarness: Bool { self == .harness }
    public var description: String { rawValue }
}

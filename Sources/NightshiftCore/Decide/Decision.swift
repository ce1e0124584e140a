import Foundation

/// What the harness does next. `emit` is pure (events decided from the state alone); the other
/// cases are IO the effect runner performs after committing the intent that precedes them.
public enum Decision: Sendable, Equatable {
    case emit([Event])
    /// Ask the model; `modelRequested` for `call` is already in the log.
    case callModel(call: CallID, task: PlanTask, attempt: Int, turn: Int, role: Role)
    /// Run a tool; `toolStarted` for it is already in the log.
    case runTool(ToolCall)
    /// Run a tool that writes `paths`, then the project's `after_edit` hooks on them (each a
    /// `hook_ran`, before the call's `tool_finished`).
    case runToolThenHooks(ToolCall, hooks: [Hook], paths: [String])
    /// Run the project's hooks for `on` (`shift_start`, `before_check`); each is a `hook_ran`.
    case runHooks(on: Hook.When, hooks: [Hook])
    /// Commit the workspace to the run's branch after `task` finished; `work_committed` records the result.
    case commitWork(task: TaskID, message: String)
    /// Run the active task's checks (its own, then the ratchet's) from index `from` on.
    case runChecks(task: PlanTask, attempt: Int, from: Int, checks: [Check])
    /// Run the plan's init script in the workspace; `init_ran` records the outcome.
    case runInit(script: String)
    /// Run these checks once before any task; each is a `baseline_ran`. Safe to re-run after a crash.
    case runBaseline([Check])
    /// Hash the workspace files matching the protected globs: the baseline (`verify` nil) before the
    /// first task, or again before `verify`'s task and attempt is accepted. Idempotent: re-run after a crash.
    case hashProtected(globs: [String], verify: ProtectedCheck?)
    /// Make the logs and workspaces of children spawned but not yet made: each becomes a
    /// `child_created`, or a `child_ended` (failed) when it cannot be made. Safe to repeat.
    case createChildren([RunState.Fleet.Child])
    /// Look at the pending wait's open children: each that ended is a `child_ended`, then `children_polled`.
    case pollChildren(call: CallID, children: [RunID])
    /// The merge queue's one merge (``MergeWork``), its `merge_started` already in the log: it ends
    /// as `work_merged` or `work_rejected`. Safe to repeat: a merge already made is found, not made again.
    case mergeWork(MergeWork)
    /// Find the memories for this shift of `task` in `scopes`, within `tokens`, and record them
    /// (`memories_shown`, empty when none match). Safe to repeat: it only reads.
    case recallMemories(task: PlanTask, scopes: [MemoryScope], tokens: Int)
    /// Write the memory a `remember` the policy allows recorded (`memory_proposed` is in the log),
    /// then finish the call. Safe to repeat: its id is derived from the call, and found if written.
    case writeMemory(PendingMemoryWrite)
    case stop(StopReason)
}

/// Which done claim a hash of the protected files is for.
public struct ProtectedCheck: Sendable, Equatable {
    public var task: TaskID
    public var attempt: Int
}

public enum StopReason: Sendable, Equatable {
    case finished
    case failed(String)
    case paused(String)
}

/// The tools a harness offers, as the decision function needs them: by name, each one's declared
/// idempotency and traits.
public struct ToolCatalog: Sendable, Equatable {
    public var idempotent: [String: Bool]
    public var traits: [String: ToolTraits]
    /// The profiles `spawn_agents` may start, by name; nil: this run cannot spawn.
    public var profiles: [String: SpawnableProfile]?
    public init(_ specs: [ToolSpec], profiles: [SpawnableProfile]? = nil) {
        self.profiles = profiles.map { Dictionary($0.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a }) }
        idempotent = Dictionary(specs.map { ($0.name, $0.idempotent) }, uniquingKeysWith: { a, _ in a })
        traits = Dictionary(specs.map { ($0.name, $0.traits) }, uniquingKeysWith: { a, _ in a })
    }
}

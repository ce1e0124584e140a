/// Everything that happens to a run is one of these events. The log of them is the truth;
/// run state is a fold over them and files in the workspace are views written from them.
///
/// On-disk format: synthesised `Codable` writes `{"caseName":{"label":…}}`, so case and label
/// names are the stored format. Add cases; never rename or remove one (golden tests guard this).
public enum Event: Sendable, Codable, Equatable {
    /// First event of every run.
    case runCreated(title: String, workspace: String, model: String, settings: RunSettings)
    case planSet(plan: Plan)
    /// A task's attempt begins (attempt 1 is the first try; higher numbers are rework).
    case taskStarted(task: TaskID, attempt: Int)
    /// Intent: the harness is about to ask the model for `role` (nil: the worker). Re-issued if no response follows.
    case modelRequested(call: CallID, task: TaskID, turn: Int, role: Role?)
    /// `handoff`: what the worker's done claim left for the next shift (left, learned, risks), when it said.
    /// `costPicoUSD`: the priced cost of `usage` (10⁻¹² USD, exact), nil when the model is not in the pricing table.
    case modelResponded(
        call: CallID, text: Payload, toolCalls: [ToolCall], claimsDone: Bool,
        summary: String?, usage: TokenUsage, model: String, costPicoUSD: Int64?, handoff: Handoff? = nil)
    /// A provider attempt failed and will be retried after `delayMs` (rate limit, server error, broken stream).
    case modelRetried(call: CallID, attempt: Int, reason: String, delayMs: Int64)
    /// The model call failed (provider error, bad output); the run pauses with this reason.
    case modelFailed(call: CallID, reason: String)
    /// The harness accepted a proposed tool call for execution; `idempotent` is the tool's own declaration.
    case toolRequested(call: CallID, name: String, idempotent: Bool)
    /// Intent: the tool is about to run. A started call without a result is re-run only if idempotent.
    case toolStarted(call: CallID)
    case toolFinished(call: CallID, result: ToolResult)
    /// The process died while a non-idempotent tool ran: whether its effect happened is unknown.
    case toolInDoubt(call: CallID, reason: String)
    case checkRan(
        task: TaskID, attempt: Int, index: Int, command: String, expectExit: Int32,
        exitCode: Int32, passed: Bool, output: Payload, durationMs: Int64)
    case taskFinished(task: TaskID, attempt: Int, summary: String)
    /// An attempt ended without passing its checks; the next attempt gets the feedback.
    case taskAttemptFailed(task: TaskID, attempt: Int, feedback: Payload)
    case taskBlocked(task: TaskID, reason: String)
    case noteWritten(task: TaskID?, text: Payload)
    /// The worker appended a line to the handoff note (the `note` tool).
    case noteAdded(task: TaskID?, text: String)
    case runPaused(reason: String, kind: PauseKind? = nil)
    /// A process woke the run from the log. Calls started before it and not finished are in doubt.
    case runResumed(by: String, driver: ResumeDriver? = nil)
    /// The final report (markdown: tasks, attempts, checks, cost, time, commits), just before `run_finished`.
    case runReported(report: Payload)
    case runFinished(summary: String)
    case runFailed(reason: String)
    /// The run works in a git worktree on its own branch, created from `base`.
    case workspaceProvisioned(path: String, branch: String, base: String)
    /// The run's worktree was made again at `path`, from its branch at `commit` (the work committed
    /// so far), by a process that did not have it: another host, another workspace home, or its
    /// folder was gone (`path` == `from`). What the previous worktree held uncommitted is not in it.
    case workspaceMoved(path: String, branch: String, commit: String, from: String)
    /// The workspace was committed to the run's branch after `task` finished (`commit` nil: nothing to commit).
    case workCommitted(task: TaskID, commit: String?, detail: String)
    /// How this process isolates the commands it runs (recorded at every start; "UNSANDBOXED: …" when the user chose so).
    case isolationSet(mode: String)
    /// A snapshot of the folded state after event `seq` was stored with the batch this event ends;
    /// `sha256` is the snapshot's digest. A snapshot is a cache, used only when an event in the
    /// chain vouches for its exact bytes: one edited in the database is ignored.
    case snapshotTaken(seq: Int64, sha256: String)
    /// The log had gone back: it ended at event `lostFrom - 1` while its head witness (beside the
    /// database) showed it had reached `lostThrough`. A human accepted continuing from there
    /// (`resume --accept-rollback`); what the lost events did may have happened.
    case rollbackAccepted(lostFrom: Int64, lostThrough: Int64, by: String)
    /// An MCP server was started (at every process start, and again after it died): the tools it
    /// offers, by their namespaced names, and how it runs (command, sandbox). Never its environment's values.
    case toolServerStarted(name: String, tools: [String], detail: String)
    /// The policy in force from here on (at the start, and whenever its file changed): the parsed
    /// policy the decisions use, and the file's text and SHA-256 for the audit.
    case policySet(policy: Policy, source: String, hash: String, text: Payload)
    /// The policy gateway's decision on a proposed call, before anything runs.
    case toolDecided(call: CallID, effect: PolicyEffect, rule: String, reason: String)
    /// A human approved or denied a call that waited for approval. Binds to the call's arguments by hash.
    case approvalDecided(call: CallID, approved: Bool, by: String, note: String, argumentsHash: String)
    /// A budget would be exceeded by the next call, which is not made; the run pauses.
    case budgetExhausted(scope: BudgetScope, resource: BudgetResource, limit: Int64, spent: Int64)
    /// A human changed a budget (`nightshift budget`); nil fields keep the policy's value.
    case budgetSet(scope: BudgetScope, budget: Budget, by: String)
    /// A breaker tripped (the same failure N times in a row); the run pauses for a human.
    case breakerTripped(breaker: Breaker, count: Int, detail: String)
    /// The agent asked for a human (the `escalate` tool).
    case escalated(task: TaskID?, reason: String)
    /// A human's answer to an escalation; the next contexts carry it.
    case guidanceGiven(text: String, by: String)
    /// The agent's behavioural guidance (a markdown file) in force from here on: its text and SHA-256.
    case guidanceSet(source: String, hash: String, text: Payload)
    /// The protected files' SHA-256 hashes (by workspace-relative path) when the run began.
    case protectedHashed(hashes: [String: String])
    /// The protected files were hashed again before a done claim was accepted; `changed` lists
    /// those that differ from the baseline or are gone.
    case protectedVerified(task: TaskID, attempt: Int, changed: [String])
    /// The run starts from a goal: the planner role turns it into the plan (`plan_set`).
    case goalSet(goal: Payload)
    /// A new version of the plan (the judge escalated a task as mis-specified, or a human rejected
    /// the plan). Finished tasks that keep their id stay finished; nothing is rewritten silently.
    case planRevised(version: Int, plan: Plan, reason: String)
    /// A human approved the plan as a whole (`--review-plan`).
    case planApproved(version: Int, by: String, note: String)
    /// The plan was not accepted: by a human (who says why), or by the harness (the planner's output was invalid).
    case planRejected(version: Int, by: Decider, reason: String)
    /// The plan's init script ran in the workspace, before the baseline.
    case initRan(exitCode: Int32, passed: Bool, output: Payload, durationMs: Int64)
    /// One check run before any task, to learn what already passes (the ratchet's baseline).
    case baselineRan(
        command: String, expectExit: Int32, exitCode: Int32, passed: Bool, output: Payload, durationMs: Int64)
    /// The judge's verdict on a done claim that passed its checks: pass, rework, escalate (or invalid output).
    case judgeVerdict(task: TaskID, attempt: Int, verdict: Verdict, reasons: [String])
    /// Older turns of the shift, up to `throughSeq`, were summarised by the model and leave the context.
    case contextCompacted(task: TaskID, summary: Payload, throughSeq: Int64, tokensBefore: Int)
    /// A shift ended (task done, or its context reset) and left this note for the next one.
    case handoffWritten(task: TaskID, reason: HandoffReason, handoff: Handoff)
    /// One of the project's hooks ran (in the sandbox). A failing one's output goes to the model
    /// with its next context; a failing blocking `after_edit` hook is the call's result.
    case hookRan(
        on: Hook.When, command: String, exitCode: Int32, passed: Bool, blocking: Bool, output: Payload,
        durationMs: Int64)
    /// `spawn_agents` (call `call`) spawned `child` as `profile` (at `version`) on `task`: the intent
    /// to make it, and its reservation (`budget`, held from this run's budget until it ends). The
    /// child's id is derived from the call, so a crash before it exists never makes it twice.
    case childSpawned(child: RunID, call: CallID, profile: String, version: String, task: PlanTask, budget: Budget)
    /// The child's log exists; it works in `workspace`.
    case childCreated(child: RunID, workspace: String)
    /// A `wait_agents` call began: it ends when `need` of `agents` have ended, or at `deadline`
    /// (the log's clock, ms).
    case waitStarted(call: CallID, agents: [RunID], need: Int, deadline: Int64?)
    /// The pending wait looked at its children in this wake; `open` had not ended. The run parks.
    case childrenPolled(call: CallID, open: [RunID])
    /// A child ended: how, its summary and branch, and what it spent (the rest of its
    /// reservation returns to this run). Recorded once per child.
    case childEnded(child: RunID, outcome: ChildOutcome)
    /// A coding fleet handed attempt `attempt` of `task` to the worker sub-agent `child`: the
    /// intent to make it (`spec` is the task as the worker sees it, rework feedback included),
    /// and its reservation. Like a spawn, the child's log is made next.
    case taskDispatched(task: TaskID, attempt: Int, child: RunID, spec: PlanTask, budget: Budget)
    /// The merge queue began merging the worker `child`'s `branch` into this run's branch: the
    /// intent. Its end is `work_merged` or `work_rejected`; after a crash the merge is done again,
    /// or found already done (the worker's tip is in the branch), never done twice.
    case mergeStarted(task: TaskID, child: RunID, branch: String)
    /// The worker's branch merged cleanly, the ratchet passed on the merged tree, and this run's
    /// branch was advanced to `commit`: the task is done.
    case workMerged(task: TaskID, child: RunID, commit: String)
    /// The worker's work was not taken (it did not finish, its branch conflicts with what was
    /// merged since it started, or the merged tree failed a check): `feedback` goes to the task's
    /// next worker, started from the branch as it is now.
    case workRejected(task: TaskID, child: RunID, feedback: Payload)
    /// The memories this shift of `task` is shown (their ids, versions and texts), found in the
    /// run's memory scopes when the shift began; empty when none matched.
    case memoriesShown(task: TaskID, memories: [ShownMemory])
    /// The worker's `remember` call `call` proposed a memory. It enters the bank only when a
    /// person accepts it (as ``RunState/proposalID(run:call:)``, with this run and event as its source).
    case memoryProposed(call: CallID, scope: MemoryScope, kind: MemoryKind, text: String, tags: [String])
    /// The memory bank's vector search failed (its embeddings endpoint is down or refused):
    /// memories are found by full-text search alone. Recorded once a run, when first seen.
    case memorySearchDegraded(reason: String)

    /// Whether this is a `snapshot_taken` (which may follow the end of a run).
    public var isSnapshotVoucher: Bool { if case .snapshotTaken = self { true } else { false } }

    /// Whether this is a person's acceptance of a lost tail (`rollback_accepted`): the one event a
    /// log behind its head witness takes.
    public var isRollbackAcceptance: Bool { if case .rollbackAccepted = self { true } else { false } }

    /// Every kind of event, by the short, stable name stores index and `nightshift log` shows.
    /// The raw values are the on-disk vocabulary: add cases, never rename one. A test holds a
    /// fixture of every case (`Event.Kind.allCases`), so a kind added without one fails it.
    public enum Kind: String, CaseIterable, Sendable {
        case runCreated = "run_created"
        case planSet = "plan_set"
        case taskStarted = "task_started"
        case modelRequested = "model_requested"
        case modelResponded = "model_responded"
        case modelFailed = "model_failed"
        case modelRetried = "model_retried"
        case toolRequested = "tool_requested"
        case toolStarted = "tool_started"
        case toolFinished = "tool_finished"
        case toolInDoubt = "tool_in_doubt"
        case checkRan = "check_ran"
        case taskFinished = "task_finished"
        case taskAttemptFailed = "task_attempt_failed"
        case taskBlocked = "task_blocked"
        case noteWritten = "note_written"
        case noteAdded = "note_added"
        case runPaused = "run_paused"
        case runResumed = "run_resumed"
        case runReported = "run_reported"
        case runFinished = "run_finished"
        case runFailed = "run_failed"
        case isolationSet = "isolation_set"
        case snapshotTaken = "snapshot_taken"
        case rollbackAccepted = "rollback_accepted"
        case workspaceProvisioned = "workspace_provisioned"
        case workCommitted = "work_committed"
        case workspaceMoved = "workspace_moved"
        case toolServerStarted = "tool_server_started"
        case policySet = "policy_set"
        case toolDecided = "tool_decided"
        case approvalDecided = "approval_decided"
        case budgetExhausted = "budget_exhausted"
        case budgetSet = "budget_set"
        case breakerTripped = "breaker_tripped"
        case escalated = "escalated"
        case guidanceGiven = "guidance_given"
        case guidanceSet = "guidance_set"
        case protectedHashed = "protected_hashed"
        case protectedVerified = "protected_verified"
        case goalSet = "goal_set"
        case planRevised = "plan_revised"
        case planApproved = "plan_approved"
        case planRejected = "plan_rejected"
        case initRan = "init_ran"
        case baselineRan = "baseline_ran"
        case judgeVerdict = "judge_verdict"
        case contextCompacted = "context_compacted"
        case handoffWritten = "handoff_written"
        case hookRan = "hook_ran"
        case childSpawned = "child_spawned"
        case childCreated = "child_created"
        case waitStarted = "wait_started"
        case childrenPolled = "children_polled"
        case childEnded = "child_ended"
        case taskDispatched = "task_dispatched"
        case mergeStarted = "merge_started"
        case workMerged = "work_merged"
        case workRejected = "work_rejected"
        case memoriesShown = "memories_shown"
        case memoryProposed = "memory_proposed"
        case memorySearchDegraded = "memory_search_degraded"
    }

    /// This event's kind.
    public var eventKind: Kind {
        switch self {
        case .runCreated: .runCreated
        case .planSet: .planSet
        case .taskStarted: .taskStarted
        case .modelRequested: .modelRequested
        case .modelResponded: .modelResponded
        case .modelFailed: .modelFailed
        case .modelRetried: .modelRetried
        case .toolRequested: .toolRequested
        case .toolStarted: .toolStarted
        case .toolFinished: .toolFinished
        case .toolInDoubt: .toolInDoubt
        case .checkRan: .checkRan
        case .taskFinished: .taskFinished
        case .taskAttemptFailed: .taskAttemptFailed
        case .taskBlocked: .taskBlocked
        case .noteWritten: .noteWritten
        case .noteAdded: .noteAdded
        case .runPaused: .runPaused
        case .runResumed: .runResumed
        case .runReported: .runReported
        case .runFinished: .runFinished
        case .runFailed: .runFailed
        case .isolationSet: .isolationSet
        case .snapshotTaken: .snapshotTaken
        case .rollbackAccepted: .rollbackAccepted
        case .workspaceProvisioned: .workspaceProvisioned
        case .workCommitted: .workCommitted
        case .workspaceMoved: .workspaceMoved
        case .toolServerStarted: .toolServerStarted
        case .policySet: .policySet
        case .toolDecided: .toolDecided
        case .approvalDecided: .approvalDecided
        case .budgetExhausted: .budgetExhausted
        case .budgetSet: .budgetSet
        case .breakerTripped: .breakerTripped
        case .escalated: .escalated
        case .guidanceGiven: .guidanceGiven
        case .guidanceSet: .guidanceSet
        case .protectedHashed: .protectedHashed
        case .protectedVerified: .protectedVerified
        case .goalSet: .goalSet
        case .planRevised: .planRevised
        case .planApproved: .planApproved
        case .planRejected: .planRejected
        case .initRan: .initRan
        case .baselineRan: .baselineRan
        case .judgeVerdict: .judgeVerdict
        case .contextCompacted: .contextCompacted
        case .handoffWritten: .handoffWritten
        case .hookRan: .hookRan
        case .childSpawned: .childSpawned
        case .childCreated: .childCreated
        case .waitStarted: .waitStarted
        case .childrenPolled: .childrenPolled
        case .childEnded: .childEnded
        case .taskDispatched: .taskDispatched
        case .mergeStarted: .mergeStarted
        case .workMerged: .workMerged
        case .workRejected: .workRejected
        case .memoriesShown: .memoriesShown
        case .memoryProposed: .memoryProposed
        case .memorySearchDegraded: .memorySearchDegraded
        }
    }

    /// A short, stable name for the event kind (indexed by stores; shown by `nightshift log`).
    public var kind: String { eventKind.rawValue }

    /// Who caused the event: the harness itself, the model, a tool, or a check.
    public var actor: EventActor {
        switch self {
        case .modelResponded, .modelFailed, .modelRetried: .model
        case .toolFinished: .tool
        case .checkRan: .check
        case .approvalDecided, .budgetSet, .guidanceGiven, .planApproved, .rollbackAccepted: .human
        case let .planRejected(_, by, _): by.isHarness ? .harness : .human
        case .baselineRan, .initRan: .check
        case .judgeVerdict, .contextCompacted: .model
        case .escalated: .model
        // Every other kind by name, never `default:`: a new kind must say who causes it, since a
        // person's event is what wakes a paused run (``QueueChange``).
        case .runCreated, .planSet, .taskStarted, .modelRequested, .toolRequested, .toolStarted, .toolInDoubt,
            .taskFinished, .taskAttemptFailed, .taskBlocked, .noteWritten, .noteAdded, .runPaused, .runResumed,
            .runReported, .runFinished, .runFailed, .isolationSet, .snapshotTaken, .workspaceProvisioned,
            .workspaceMoved, .workCommitted, .toolServerStarted, .policySet, .toolDecided, .budgetExhausted,
            .breakerTripped,
            .guidanceSet, .protectedHashed, .protectedVerified, .goalSet, .planRevised, .handoffWritten, .hookRan,
            .childSpawned, .childCreated, .waitStarted, .childrenPolled, .childEnded, .taskDispatched, .mergeStarted,
            .workMerged, .workRejected, .memoriesShown, .memoryProposed, .memorySearchDegraded:
            .harness
        }
    }

    /// The run-index status this event moves the run to, if any (stores keep the index in step).
    public var statusAfter: RunStatus? {
        switch self {
        case .runCreated, .runResumed: .running
        case .runPaused: .paused
        case .runFinished: .finished
        case .runFailed: .failed
        case .planSet, .taskStarted, .modelRequested, .modelResponded, .modelFailed, .modelRetried, .toolRequested,
            .toolStarted, .toolFinished, .toolInDoubt, .checkRan, .taskFinished, .taskAttemptFailed, .taskBlocked,
            .noteWritten, .noteAdded, .runReported, .isolationSet, .snapshotTaken, .rollbackAccepted,
            .workspaceProvisioned, .workspaceMoved, .workCommitted, .toolServerStarted, .policySet, .toolDecided,
            .approvalDecided,
            .budgetExhausted, .budgetSet, .breakerTripped, .escalated, .guidanceGiven, .guidanceSet,
            .protectedHashed, .protectedVerified, .goalSet, .planRevised, .planApproved, .planRejected, .initRan,
            .baselineRan, .judgeVerdict, .contextCompacted, .handoffWritten, .hookRan, .childSpawned, .childCreated,
            .waitStarted, .childrenPolled, .childEnded, .taskDispatched, .mergeStarted, .workMerged, .workRejected,
            .memoriesShown, .memoryProposed, .memorySearchDegraded:
            nil
        }
    }
}

public enum RunStatus: String, Sendable, Codable, Equatable {
    case running, paused, finished, failed
}

/// A tool call proposed by a model. `id` is assigned by the harness (unique in the run);
/// `arguments` is the JSON object text exactly as the model produced it.
public struct ToolCall: Sendable, Codable, Equatable, Hashable {
    public var id: CallID
    public var name: String
    public var arguments: Payload
    /// The arguments parsed once (see ``ToolArguments``); not part of the call's record.
    private let slot = ParsedArgumentsSlot()

    public init(id: CallID, name: String, arguments: Payload) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }

    /// The facts the gateway and the tool box need from the arguments, parsed on first use and
    /// shared by every copy of this call.
    public var parsed: ToolArguments { slot.value(for: arguments.text) }

    private enum CodingKeys: String, CodingKey { case id, name, arguments }

    public static func == (a: ToolCall, b: ToolCall) -> Bool {
        a.id == b.id && a.name == b.name && a.arguments == b.arguments
    }
    public func hash(into h: inout Hasher) {
        h.combine(id)
        h.combine(name)
        h.combine(arguments)
    }
}

/// What a tool call produced. `ok == false` covers refusals and failures; the output says which.
public struct ToolResult: Sendable, Codable, Equatable {
    public var ok: Bool
    public var output: Payload
    public var exitCode: Int32?
    public init(ok: Bool, output: Payload, exitCode: Int32? = nil) {
        self.ok = ok
        self.output = output
        self.exitCode = exitCode
    }
    public static func failure(_ message: String) -> ToolResult { ToolResult(ok: false, output: Payload(message)) }
}

/// Token usage as the provider reported it; integers so sums are exact.
public struct TokenUsage: Sendable, Codable, Equatable {
    /// All prompt tokens, cached or not.
    public var input: Int
    public var output: Int
    /// Prompt tokens read from the provider's cache (part of `input`, priced lower).
    public var cachedInput: Int
    /// Prompt tokens written to the provider's cache (part of `input`; Anthropic prices them higher). Nil when not reported.
    public var cacheWriteInput: Int?
    public init(input: Int = 0, output: Int = 0, cachedInput: Int = 0, cacheWriteInput: Int? = nil) {
        self.input = input
        self.output = output
        self.cachedInput = cachedInput
        self.cacheWriteInput = cacheWriteInput
    }
    /// The most tokens of one kind one model call may report: a billion. More (or a negative
    /// count) is refused where it enters, so the ledger's sums can never overflow.
    public static let maxPerCall = 1_000_000_000

    /// Why these counts cannot be one call's, or nil when they can.
    public var implausibility: String? {
        for (name, v) in [
            ("input", input), ("output", output), ("cached input", cachedInput), ("cache write", cacheWriteInput ?? 0),
        ]
        where !(0...TokenUsage.maxPerCall).contains(v) {
            return "\(name) tokens \(v) (a call reports 0 to \(TokenUsage.maxPerCall))"
        }
        return nil
    }

    public static func + (a: TokenUsage, b: TokenUsage) -> TokenUsage {
        let writes: Int? =
            (a.cacheWriteInput == nil && b.cacheWriteInput == nil)
            ? nil : (a.cacheWriteInput ?? 0) + (b.cacheWriteInput ?? 0)
        return TokenUsage(
            input: a.input + b.input, output: a.output + b.output, cachedInput: a.cachedInput + b.cachedInput,
            cacheWriteInput: writes)
    }
}

/// An event as stored: its position, time, chain hash and schema version, assigned by the store.
public struct EventEnvelope: Sendable, Equatable {
    public var run: RunID
    /// 1-based and gap-free within a run.
    public var seq: Int64
    public var time: Timestamp
    public var actor: EventActor
    public var schemaVersion: Int
    public var event: Event
    /// SHA-256(previous hash ‖ canonical bytes of this envelope's body).
    public var hash: [UInt8]
    public init(
        run: RunID, seq: Int64, time: Timestamp, actor: EventActor, schemaVersion: Int, event: Event, hash: [UInt8]
    ) {
        self.run = run
        self.seq = seq
        self.time = time
        self.actor = actor
        self.schemaVersion = schemaVersion
        self.event = event
        self.hash = hash
    }
}

/// Who caused an event: the harness itself, the model, a tool, a check, or a person.
public enum EventActor: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case harness, model, tool, check, human
    public var description: String { rawValue }
}

/// The judge's answer on a done claim that passed its checks: `pass`, `rework` (the reasons are
/// the next attempt's input), `escalate` (a human or the planner decides), or `invalid` (the judge's
/// answer was not a verdict; it is asked again). The raw values are the on-disk vocabulary.
public enum Verdict: String, Codable, CaseIterable, Sendable, CustomStringConvertible {
    case pass, rework, escalate, invalid
    public var description: String { rawValue }
}

/// The ports: one small protocol per replaceable part. Adapters implement them; the harness
/// works through them only. Each has an in-memory twin (NightshiftTesting).

/// One append-only, hash-chained event log per run.
public protocol EventStore: Sendable {
    /// Appends `events` atomically after position `expectedSeq` (0 for a new run).
    /// - Parameter snapshot: folded state after these events, stored in the same transaction.
    /// - Parameter fence: the driver's lease; the append is refused unless it is still the run's
    ///   lease, checked in the same transaction. Nil for appends that need none (a human's decision).
    /// - Throws: ``StoreError`` `.sequenceConflict` if the run's head is not `expectedSeq`, `.leaseLost`
    ///   if `fence` is no longer the run's lease; nothing is written.
    @discardableResult
    func append(
        _ events: [Event], to run: RunID, expectedSeq: Int64, snapshot: Snapshot?, fence: Lease?
    ) async throws -> [EventEnvelope]

    /// Takes the run for `holder`: when no one holds it, when the holder released it, stopped
    /// heartbeating for longer than `ttl` (by the store's clock), or is known dead (`isAlive`).
    /// A take-over increments the epoch, which fences the previous holder out.
    /// - Throws: ``StoreError`` `.leaseHeld` naming the live holder.
    func acquireLease(
        _ run: RunID, holder: LeaseHolder, ttl: Duration, isAlive: @Sendable (LeaseHolder) -> Bool
    ) async throws -> Lease

    /// The holder's heartbeat. - Throws: `.leaseLost` when the run was taken over meanwhile.
    func renewLease(_ lease: Lease) async throws

    /// Gives the run up (after a pause, a finish or an error); the next driver takes it at once.
    func releaseLease(_ lease: Lease) async throws

    /// The run's lease as stored, or nil when no process has ever driven it under a lease.
    func leaseRecord(of run: RunID) async throws -> LeaseRecord?

    /// The run's head as last witnessed outside the store (seq and hash hex), or nil when the
    /// store keeps no witness. A witness ahead of the log means committed events were lost.
    func witnessedHead(of run: RunID) async throws -> (seq: Int64, hash: String)?

    /// Every run with a witness, including runs the store itself no longer has.
    func witnessedRuns() async throws -> [RunID]

    /// Events with `seq > after`, at most `limit`, verified against the hash chain as they are read.
    /// - Throws: ``StoreError`` `.corrupt` naming the first bad seq.
    func read(_ run: RunID, after: Int64, limit: Int) async throws -> [EventEnvelope]

    /// The run index: every run, newest first.
    func runs() async throws -> [RunSummary]

    /// One run's index entry, or nil if there is no such run.
    func summary(of run: RunID) async throws -> RunSummary?

    /// The newest snapshot of the run's folded state, if any.
    func latestSnapshot(of run: RunID) async throws -> Snapshot?

    /// Recomputes the whole hash chain and checks every blob; reports the first bad seq.
    func verify(_ run: RunID) async throws -> VerifyReport

    /// The whole chain by its hashes alone: every event present, each hash SHA-256 of the one
    /// before and its stored bytes, every referenced blob present and matching its key, and the
    /// run index's head equal to the last event. Nothing is decoded, so it is cheap enough to run
    /// before a human's decision is appended (a decision must never extend a broken log).
    func verifyChain(_ run: RunID) async throws -> VerifyReport
}

extension EventStore {
    @discardableResult
    public func append(_ events: [Event], to run: RunID, expectedSeq: Int64) async throws -> [EventEnvelope] {
        try await append(events, to: run, expectedSeq: expectedSeq, snapshot: nil, fence: nil)
    }
    @discardableResult
    public func append(
        _ events: [Event], to run: RunID, expectedSeq: Int64, snapshot: Snapshot?
    ) async throws -> [EventEnvelope] {
        try await append(events, to: run, expectedSeq: expectedSeq, snapshot: snapshot, fence: nil)
    }
    /// Every event of the run.
    public func readAll(_ run: RunID) async throws -> [EventEnvelope] {
        try await read(run, after: 0, limit: .max)
    }

    /// By default the full verification (which also decodes every event).
    public func verifyChain(_ run: RunID) async throws -> VerifyReport { try await verify(run) }

    /// By default none: a store that cannot lose committed events needs no witness.
    public func witnessedHead(of run: RunID) async throws -> (seq: Int64, hash: String)? { nil }
    public func witnessedRuns() async throws -> [RunID] { [] }
}

/// A run's entry in the index.
public struct RunSummary: Sendable, Equatable, Codable {
    public var id: RunID
    public var title: String
    public var status: RunStatus
    public var created: Timestamp
    public var updated: Timestamp
    public var headSeq: Int64
    public init(id: RunID, title: String, status: RunStatus, created: Timestamp, updated: Timestamp, headSeq: Int64) {
        self.id = id
        self.title = title
        self.status = status
        self.created = created
        self.updated = updated
        self.headSeq = headSeq
    }
}

/// Folded state at `seq` (JSON of ``RunState``), a cache: the log stays the truth.
public struct Snapshot: Sendable, Equatable {
    public var seq: Int64
    public var state: [UInt8]
    public init(seq: Int64, state: [UInt8]) {
        self.seq = seq
        self.state = state
    }
}

/// The result of recomputing a run's chain.
public struct VerifyReport: Sendable, Equatable {
    public var run: RunID
    public var events: Int64
    /// The first seq whose record is bad, and why; nil when the whole chain verifies.
    public var firstBadSeq: Int64?
    public var problem: String?
    public var headHash: [UInt8]
    public var ok: Bool { firstBadSeq == nil }
    public init(run: RunID, events: Int64, firstBadSeq: Int64?, problem: String?, headHash: [UInt8]) {
        self.run = run
        self.events = events
        self.firstBadSeq = firstBadSeq
        self.problem = problem
        self.headHash = headHash
    }
}

/// The roles a model call is made for (the `role` of `model_requested` and of a request). A
/// compactor writes a shift's summary and a handoff its handoff note; both use the worker's model.
public enum Role: String, Codable, CaseIterable, Sendable, CustomStringConvertible {
    case planner, worker, judge, compactor, handoff
    /// The roles a user may give a model of their own (`--role-model`); the compactor and the
    /// handoff use the worker's.
    public static let configurable: [Role] = [.planner, .worker, .judge]
    public var description: String { rawValue }
}

/// What the model is handed for one turn, rebuilt from the log every time.
public struct ModelRequest: Sendable, Equatable {
    public var run: RunID
    public var call: CallID
    public var role: Role
    public var task: PlanTask
    public var attempt: Int
    /// Model turns already taken in this task (this turn's index).
    public var turn: Int
    /// Put first in the context: calls whose outcome is unknown after a crash.
    public var notices: [String]
    public var progressNote: String?
    /// Why the previous attempt was not accepted (failing check output).
    public var feedback: String?
    /// Recent turns of this task, oldest first.
    public var transcript: [TranscriptEntry]
    public var tools: [ToolSpec]
    /// The agent's behavioural guidance (markdown): what it is for, what it must never do, when to escalate.
    public var guidance: String?
    /// What the judge grades (the diff, the check results, the rubric), or what the planner re-plans from.
    public var artifacts: String?
    public init(
        run: RunID, call: CallID, role: Role, task: PlanTask, attempt: Int, turn: Int, notices: [String],
        progressNote: String?, feedback: String?, transcript: [TranscriptEntry], tools: [ToolSpec],
        guidance: String? = nil,
        artifacts: String? = nil
    ) {
        self.guidance = guidance
        self.artifacts = artifacts
        self.run = run
        self.call = call
        self.role = role
        self.task = task
        self.attempt = attempt
        self.turn = turn
        self.notices = notices
        self.progressNote = progressNote
        self.feedback = feedback
        self.transcript = transcript
        self.tools = tools
    }
}

public enum TranscriptEntry: Sendable, Equatable {
    case assistant(text: String, toolCalls: [ToolCall])
    case toolResult(call: CallID, name: String, ok: Bool, output: String)
    case notice(String)
}

/// A model's answer to one request. Tool calls carry names and argument JSON; the harness numbers them.
public struct ModelResponse: Sendable, Equatable {
    public var text: String
    public var toolCalls: [ProposedToolCall]
    /// The worker says the task is done; the harness will run the checks.
    public var claimsDone: Bool
    public var summary: String?
    public var usage: TokenUsage
    public var model: String
    /// The priced cost of `usage` in 10⁻¹² USD; nil when the model has no price.
    public var costPicoUSD: Int64?
    /// What a done claim leaves the next shift besides its summary (left, learned, risks), when the worker said.
    public var handoff: Handoff?
    public init(
        text: String, toolCalls: [ProposedToolCall] = [], claimsDone: Bool = false, summary: String? = nil,
        usage: TokenUsage = TokenUsage(), model: String, costPicoUSD: Int64? = nil, handoff: Handoff? = nil
    ) {
        self.handoff = handoff
        self.text = text
        self.toolCalls = toolCalls
        self.claimsDone = claimsDone
        self.summary = summary
        self.usage = usage
        self.model = model
        self.costPicoUSD = costPicoUSD
    }
}

/// A failed provider attempt that will be retried; the harness records each one as an event.
public struct ModelRetry: Sendable, Equatable {
    public var attempt: Int
    public var reason: String
    public var delayMs: Int64
    public init(attempt: Int, reason: String, delayMs: Int64) {
        self.attempt = attempt
        self.reason = reason
        self.delayMs = delayMs
    }
}

/// Why a model call failed for good. `needsAttention` errors (a rejected key, a bad request)
/// pause the run with the message instead of being retried.
public struct ModelError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var needsAttention: Bool
    public init(_ message: String, needsAttention: Bool = false) {
        self.message = message
        self.needsAttention = needsAttention
    }
    public var description: String { message }
}

public struct ProposedToolCall: Sendable, Equatable {
    public var name: String
    public var arguments: String
    public init(name: String, arguments: String) {
        self.name = name
        self.arguments = arguments
    }
}

/// A source of model responses (a real provider, or the scripted test double).
public protocol ModelProvider: Sendable {
    /// How runs show this model, e.g. "scripted:demo.yaml (test double)".
    var label: String { get }
    func respond(to request: ModelRequest) async throws -> ModelResponse
    /// Like `respond(to:)`, reporting each retried attempt as it happens.
    func respond(
        to request: ModelRequest, onRetry: @escaping @Sendable (ModelRetry) async -> Void
    ) async throws -> ModelResponse
}

extension ModelProvider {
    public func respond(
        to request: ModelRequest, onRetry: @escaping @Sendable (ModelRetry) async -> Void
    ) async throws -> ModelResponse {
        try await respond(to: request)
    }
}

/// A tool as offered to the model and to the decision function.
public struct ToolSpec: Sendable, Equatable {
    public var name: String
    public var description: String
    /// Safe to run again with the same call id after a crash (reads are; shell and writes are not).
    public var idempotent: Bool
    /// JSON Schema of the arguments object.
    public var parametersSchema: String
    public init(name: String, description: String, idempotent: Bool, parametersSchema: String) {
        self.name = name
        self.description = description
        self.idempotent = idempotent
        self.parametersSchema = parametersSchema
    }
}

extension ToolSpec {
    /// Appends a line to the handoff note. Handled by the harness itself (see `RunState.nextAction`):
    /// it touches no workspace, so every run has it, whatever tool runner is configured.
    public static let note = ToolSpec(
        name: "note",
        description: "Append a short line to the handoff note: what you learned, decided or left to do. "
            + "Notes stay in your context for later turns and tasks, and in PROGRESS.md.",
        idempotent: true,
        parametersSchema: #"{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}"#)
    /// Asks for a human: the run pauses with the reason and shows in `nightshift inbox`.
    public static let escalate = ToolSpec(
        name: "escalate",
        description: "Ask a human for help or a decision you must not make alone (the task is mis-specified, "
            + "you need a permission, you are stuck). The run pauses until a human answers; the answer comes back to you.",
        idempotent: true,
        parametersSchema: #"{"type":"object","properties":{"reason":{"type":"string"}},"required":["reason"]}"#)
    /// Characters of one note kept.
    public static let noteLimit = 2000
}

/// Executes tool calls inside a run's workspace. Failures and refusals are results, not throws:
/// the model is told what happened and the run goes on.
public protocol ToolRunner: Sendable {
    var specs: [ToolSpec] { get }
    func run(_ call: ToolCall, workspace: String) async -> ToolResult
    /// Events the runner has to report since it was last asked (an MCP server restarted); the
    /// harness records them with the call's result.
    func takeEvents() async -> [Event]
    /// How long the harness waits for `call` before it stops waiting: a backstop above the tool's
    /// own timeout, for a tool that blocks where no timeout of its own reaches (a pipe, a hung mount).
    /// Nil only for a runner whose calls cannot block (an in-memory double), which is then called directly.
    func deadline(for call: ToolCall) -> Duration?
}

extension ToolRunner {
    public func takeEvents() async -> [Event] { [] }
    /// Defaults to an hour and two minutes: above the longest shell timeout a call may ask for.
    public func deadline(for call: ToolCall) -> Duration? { .seconds(3720) }
}

/// Commits a run's workspace (a git worktree) to its branch. Never pushes.
public protocol WorkspaceVCS: Sendable {
    /// - Returns: the new commit, or nil with the reason when there was nothing to commit or it failed.
    func commit(workspace: String, message: String) async -> (commit: String?, detail: String)
    /// The workspace's change since its last commit (the judge reads it); nil when there is no history to diff against.
    func diff(workspace: String) async -> String?
    /// Which files changed since the last commit, in a few lines (a new shift's worker reads it).
    func diffSummary(workspace: String) async -> String?
}

extension WorkspaceVCS {
    public func diff(workspace: String) async -> String? { nil }
    public func diffSummary(workspace: String) async -> String? { nil }
}

/// The files the harness keeps in a run's workspace, and the evidence the test ratchet compares.
/// The harness does no file IO of its own: this port writes its views and hashes protected files.
public protocol WorkspaceFiles: Sendable {
    /// Writes each view (whole, atomically) into `workspace`; a workspace that is gone is skipped.
    func write(_ views: [WorkspaceView], workspace: String) async
    /// SHA-256 (hex) of every regular file in `workspace` whose relative path matches one of
    /// `globs`; links are not followed and `.git` is skipped.
    func hashes(workspace: String, globs: [String]) async -> [String: String]
}

/// One file the harness writes into the workspace from the log (`PROGRESS.md`, `PLAN.md`, `REPORT.md`).
public struct WorkspaceView: Sendable, Equatable {
    public var name: String
    public var text: String
    public init(name: String, text: String) {
        self.name = name
        self.text = text
    }
}

/// Runs a task's acceptance checks in the workspace (the harness's job, never the model's).
public protocol CheckRunner: Sendable {
    func run(_ check: Check, workspace: String) async -> CheckResult
}

public struct CheckResult: Sendable, Equatable {
    public var exitCode: Int32
    public var output: String
    public var durationMs: Int64
    public init(exitCode: Int32, output: String, durationMs: Int64) {
        self.exitCode = exitCode
        self.output = output
        self.durationMs = durationMs
    }
}

/// The state of one run, folded from its events: `state = events.reduce(initial, apply)`.
///
/// It holds only what deciding the next step needs, so its size depends on the plan, not on
/// how long the run has gone on: snapshots stay small and waking costs O(snapshot + tail).
/// No IO, no clock, no randomness.
public struct RunState: Sendable, Codable, Equatable {
    public var run: RunID
    /// The plan's review and revisions, the init script and the baseline.
    public var planning = Planning()
    /// The current shift: its transcript, compactions and handoff, and the hooks run for it.
    public var shiftState = ShiftState()
    /// The gateway's memory: budgets set by people, breaker counters, denied calls, the policy's
    /// and the guidance's sources and versions, the protected files' baseline.
    public var gate = Gate()
    /// What the run has spent: model calls, the ledger by role, the last call's cost (the estimate
    /// of the next), role calls.
    public var spend = Spend()
    /// Work in flight: the last response's tool calls, calls in doubt, a claim or commit waiting,
    /// the role call awaited.
    public var pending = Pending()
    /// The runs this one spawned, their reservations and outcomes, and the wait on them.
    public var fleet = Fleet()
    /// Position and hash of the last applied event (0 and the genesis hash before any).
    public var lastSeq: Int64 = 0
    public var lastHash: [UInt8] = EventCodec.genesisHash
    public var created = false
    public var title = ""
    public var workspace = ""
    public var model = ""
    public var settings = RunSettings()
    public var plan: Plan?
    public var status: RunStatus = .running
    public var statusReason: String?
    /// Why the run is paused (nil while it runs): what the inbox files it under.
    public var pauseKind: PauseKind?
    /// `.worker` when a worker resumed the run last (its `run_resumed` says so): if that worker
    /// dies, another continues it. Nil when a person started or resumed it.
    public var driver: ResumeDriver?
    public var tasks: [TaskProgress] = []
    /// Index into `tasks` of the task being worked on.
    public var current: Int?
    public var phase: Phase = .idle
    public var toolCalls = 0
    public var usage = TokenUsage()
    public var lastNote: String?
    /// The worker's own notes (the `note` tool), newest last; the last ``RunState/notesKept`` are kept.
    public var notes: [WorkerNote] = []
    /// The policy in force (the latest `policy_set`); nil: no gateway, every known tool runs.
    public var policy: Policy?
    /// The log's own clock: the first and latest committed event times (ms), for wall-clock budgets.
    public var startTime: Int64 = 0
    public var lastTime: Int64 = 0
    /// Humans' answers to escalations, newest last (the last 10 are kept); the context carries them.
    public var guidance: [String] = []
    public static let notesKept = 30
    public struct WorkerNote: Sendable, Codable, Equatable {
        public var task: TaskID?
        public var text: String
    }
    public struct HookNotice: Sendable, Codable, Equatable {
        public var on: Hook.When
        public var command: String
        public var exitCode: Int32
        /// The end of its output, where errors are.
        public var output: String
    }
    public var resumes = 0
    /// The run's git branch when its workspace is a worktree; finished tasks are committed to it.
    public var branch: String?
    /// How the process now driving the run isolates commands (from the latest `isolation_set`).
    public var isolation: String?

    // The planner / worker / judge loop (RunSettings.loop).
    /// The goal the planner plans from (nil: the plan was given as a file).
    public var goal: String?
    /// The latest handoff note, and the one the pending done claim carries.
    public var handoff: Handoff?

    public struct RoleResponse: Sendable, Codable, Equatable {
        public var role: Role
        public var text: String
        public var toolCalls: [ToolCall]
        public init(role: Role, text: String, toolCalls: [ToolCall]) {
            self.role = role
            self.text = text
            self.toolCalls = toolCalls
        }
    }

    public struct LedgerEntry: Sendable, Codable, Equatable {
        public var role: Role
        public var calls = 0
        public var usage = TokenUsage()
        /// Sum of priced responses (10⁻¹² USD).
        public var costPicoUSD: Int64 = 0
        /// Responses whose model had no price: their cost is unknown, not zero.
        public var unpricedCalls = 0
        public var retries = 0
    }

    /// Total priced cost over every role.
    public var costPicoUSD: Int64 { spend.ledger.reduce(0) { $0 + $1.costPicoUSD } }

    mutating func ledgerIndex(_ role: Role) -> Int {
        if let i = spend.ledger.firstIndex(where: { $0.role == role }) { return i }
        spend.ledger.append(LedgerEntry(role: role))
        return spend.ledger.count - 1
    }

    public init(run: RunID) { self.run = run }

    public enum Phase: Sendable, Codable, Equatable {
        /// No task is active: start the next one or finish the run.
        case idle
        /// The active task needs a model turn.
        case working
        case awaitingModel(call: CallID)
        case runningTools
        /// The worker claimed done; the harness runs the checks.
        case checking(summary: String)
        /// An attempt failed; the next attempt or a block follows.
        case attemptFailed
    }

    public struct TaskProgress: Sendable, Codable, Equatable {
        public var id: TaskID
        public var status: TaskStatus = .pending
        public var attempts = 0
        /// Model turns taken in this task, over all attempts.
        public var turns = 0
        public var turnsThisAttempt = 0
        /// Sequence number of the task's first event (where its transcript starts).
        public var startSeq: Int64 = 0
        public var usage = TokenUsage()
        public var costPicoUSD: Int64 = 0
        public var toolCalls = 0
        /// The commit of the task's work on the run's branch, once made.
        public var commit: String?
        /// The attempt whose protected files were last verified, and what had changed then.
        public var protectedVerified: Int?
        public var protectedChanged: [String]?
        /// Log time (ms) the task started, for its wall-clock budget.
        public var startTime: Int64 = 0
        public var checkResults: [CheckOutcome] = []
        /// Failing-check output of the last failed attempt, handed to the next attempt.
        public var feedback: String?
        /// The attempt the judge passed; invalid verdicts in a row; the judge's verdicts on this task.
        public var judgedAttempt: Int?
        public var judgeInvalid = 0
        public var verdicts: [Verdict] = []
        /// In a coding fleet: the worker sub-agent holding the task's latest attempt.
        public var worker: RunID?
        public init(id: TaskID) { self.id = id }
    }

    /// `dispatched`: handed to a worker sub-agent (a coding fleet); its work is merged or rejected when it ends.
    public enum TaskStatus: String, Sendable, Codable, Equatable { case pending, active, dispatched, done, blocked }

    public struct CheckOutcome: Sendable, Codable, Equatable {
        public var command: String
        public var passed: Bool
        public var exitCode: Int32
        public var expectExit: Int32
        /// The tail of the output, kept short: enough to tell the model what failed.
        public var outputTail: String
    }

    public struct PendingTool: Sendable, Codable, Equatable {
        public var call: ToolCall
        public var requested = false
        public var idempotent = false
        public var started = false
        /// Started by a process that has since died (a `runResumed` followed the start).
        public var interrupted = false
        /// The gateway's decision and its reason; with `ask`, the human's answer once given.
        public var verdict: PolicyEffect?
        public var verdictReason: String?
        public var approved: Bool?
        public var approvalNote: String?
    }

    public struct InDoubtNotice: Sendable, Codable, Equatable {
        public var call: CallID
        public var name: String
        public var arguments: String
    }

    public var activeTask: PlanTask? {
        guard let current, let plan, current < plan.tasks.count else { return nil }
        return plan.tasks[current]
    }

    public var isTerminal: Bool { status == .finished || status == .failed }

    mutating func rememberDenied(_ call: ToolCall) {
        let key = call.name + " " + call.arguments.text
        guard !gate.deniedCalls.contains(key) else { return }
        gate.deniedCalls.append(key)
        if gate.deniedCalls.count > 20 { gate.deniedCalls.removeFirst() }
    }

    /// The call waiting for a human's approval, if any.
    public var awaitingApproval: PendingTool? {
        pending.pendingTools.first { $0.verdict == .ask && $0.approved == nil && !$0.requested }
    }

    /// What a paused run waits a person for: why (an approval whenever a call waits for one,
    /// whatever the pause recorded) and the call. Nil while it runs, after it ended, and while it
    /// waits for its sub-agents (no person is needed then).
    public var waitsFor: (kind: PauseKind?, call: CallID?)? {
        guard status == .paused, pauseKind != .agents else { return nil }
        let call = awaitingApproval?.call.id
        return (call != nil ? .approval : pauseKind, call)
    }

    /// The budget in force for `scope`: the policy's, with a human's changes over it.
    public func budget(_ scope: BudgetScope) -> Budget {
        var b = (scope == .run ? policy?.runBudget : policy?.taskBudget) ?? Budget()
        if let o = gate.budgetOverrides[scope] {
            b.tokens = o.tokens ?? b.tokens
            b.costPicoUSD = o.costPicoUSD ?? b.costPicoUSD
            b.toolCalls = o.toolCalls ?? b.toolCalls
            b.steps = o.steps ?? b.steps
            b.wallSeconds = o.wallSeconds ?? b.wallSeconds
        }
        return b
    }
}

/// Why an event cannot be applied to the current state. The state is left as it was.
public struct ReplayError: Error, Equatable, Sendable, CustomStringConvertible {
    public var seq: Int64
    public var kind: String
    public var message: String
    public var description: String { "event \(seq) (\(kind)) cannot be applied: \(message)" }
}

extension RunState {
    /// Applies one stored event. Throws (leaving `self` unchanged) if the event is invalid here.
    public mutating func apply(_ envelope: EventEnvelope) throws(ReplayError) {
        guard envelope.run == run else {
            throw ReplayError(
                seq: envelope.seq, kind: envelope.event.kind, message: "belongs to run \(envelope.run), not \(run)")
        }
        guard envelope.seq == lastSeq + 1 else {
            throw ReplayError(seq: envelope.seq, kind: envelope.event.kind, message: "expected seq \(lastSeq + 1)")
        }
        var next = self
        do {
            try next.reduce(envelope.event)
        } catch let message {
            throw ReplayError(seq: envelope.seq, kind: envelope.event.kind, message: message.text)
        }
        next.lastSeq = envelope.seq
        next.lastHash = envelope.hash
        if next.startTime == 0 { next.startTime = envelope.time.milliseconds }
        next.lastTime = envelope.time.milliseconds
        if case .taskStarted(_, 1) = envelope.event, let i = next.current {
            next.tasks[i].startTime = envelope.time.milliseconds
        }
        self = next
    }

    /// Applies an event the harness has decided but not yet committed: same validation, the
    /// position advances, the hash is left for the store to assign.
    public mutating func applyUncommitted(_ event: Event) throws(ReplayError) {
        var next = self
        do {
            try next.reduce(event)
        } catch let message {
            throw ReplayError(seq: lastSeq + 1, kind: event.kind, message: message.text)
        }
        next.lastSeq += 1
        self = next
    }

    /// Folds a sequence of events from the initial state.
    public static func fold(_ run: RunID, _ envelopes: some Sequence<EventEnvelope>) throws(ReplayError) -> RunState {
        var state = RunState(run: run)
        for e in envelopes { try state.apply(e) }
        return state
    }

    /// Whether `event` would be accepted now (used by the harness to check its own decisions).
    public func accepts(_ event: Event) -> Bool {
        var copy = self
        do {
            try copy.reduce(event)
            return true
        } catch { return false }
    }

    struct Invalid: Error { var text: String }

    private mutating func reduce(_ event: Event) throws(Invalid) {
        func fail(_ m: String) -> Invalid { Invalid(text: m) }
        if case .runCreated = event {} else if !created { throw fail("the run has no run_created event") }
        // The last commit of a run that ended carries its snapshot's voucher; nothing else follows the end.
        // After the end: a snapshot's voucher, and a person's acceptance of a log that went back or
        // was replaced (so an ended run's record can be made consistent again; it changes nothing else).
        if isTerminal, !event.isSnapshotVoucher, !event.isRollbackAcceptance {
            throw fail("the run already ended (\(status.rawValue))")
        }

        switch event {
        case .runCreated, .runPaused, .runResumed, .runReported, .runFinished, .runFailed, .isolationSet,
            .rollbackAccepted, .snapshotTaken, .toolServerStarted, .workspaceProvisioned, .workspaceMoved,
            .workCommitted:
            try reduceLifecycle(event)
        case .planSet, .planRevised, .goalSet, .planApproved, .planRejected, .initRan, .baselineRan:
            try reducePlan(event)
        case .judgeVerdict, .taskStarted, .checkRan, .taskFinished, .taskAttemptFailed, .taskBlocked, .protectedHashed,
            .protectedVerified:
            try reduceTask(event)
        case .modelRequested, .modelResponded, .modelFailed, .modelRetried:
            try reduceModel(event)
        case .contextCompacted, .handoffWritten, .noteWritten, .noteAdded, .hookRan, .memoriesShown,
            .memoryProposed, .memorySearchDegraded:
            try reduceShift(event)
        case .toolRequested, .toolStarted, .toolFinished, .toolInDoubt:
            try reduceTool(event)
        case .policySet, .toolDecided, .approvalDecided, .budgetExhausted, .budgetSet, .breakerTripped, .escalated,
            .guidanceSet, .guidanceGiven:
            try reduceGovernance(event)
        case .childSpawned, .childCreated, .waitStarted, .childrenPolled, .childEnded, .taskDispatched, .mergeStarted,
            .workMerged, .workRejected:
            try reduceFleet(event)
        }
    }

    /// A new shift starts its transcript at `seq`, with nothing compacted.
    mutating func startShift(at seq: Int64) {
        shiftState.shiftStartSeq = seq
        shiftState.shiftTokens = 0
        shiftState.shiftCompactions = 0
        shiftState.compactionSummary = nil
        shiftState.compactedThroughSeq = 0
        shiftState.shifts += 1
        shiftState.shiftTurns = 0
        shiftState.turnsSinceCompaction = 0
    }

    mutating func acceptedPlan() {
        phase = .idle
        current = nil
        planning.replanning = false
        planning.planApproved = false
        planning.planFeedback = nil
        planning.planRejections = 0
        pending.roleResponse = nil
    }

    func estimateTokens(bytes: Int) -> Int { (settings.loop ?? LoopSettings()).tokens(bytes: bytes) }

    /// The pseudo task id planner calls are made under.
    public static let planTaskID = TaskID("plan")

    mutating func afterTool() {
        guard pending.pendingTools.isEmpty else { return }
        if let claim = pending.pendingClaim {
            phase = .checking(summary: claim)
            pending.pendingClaim = nil
        } else {
            phase = .working
        }
    }

    /// Model call ids are numbered in the order calls are made: m1, m2, …
    public static func modelCallID(_ n: Int) -> CallID { CallID("m\(n)") }
    /// Tool calls are numbered within the response that proposed them: m7.1, m7.2, …
    public static func toolCallID(_ modelCall: CallID, _ n: Int) -> CallID { CallID("\(modelCall.rawValue).\(n)") }
}

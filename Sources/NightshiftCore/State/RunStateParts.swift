/// The parts of a run's state, grouped by concern. Each is encoded into the same JSON object as
/// ``RunState``'s own fields (snapshots keep the flat layout earlier versions wrote and read).
extension RunState {
    /// The plan's review and revisions, the init script and the baseline.
    public struct Planning: Sendable, Codable, Equatable {
        /// 1 for the first plan, +1 for each revision.
        public var planVersion = 0
        public var planApproved = false
        /// Why the last plan was not accepted, or why a new one is asked for: the planner's next input.
        public var planFeedback: String?
        /// Plans in a row the harness or a human did not accept (the planner is retried up to `roleRetries`).
        public var planRejections = 0
        /// A new version of the plan is asked for (the judge escalated a task as mis-specified, or a human rejected it).
        public var replanning = false
        public var replans = 0
        /// The init script's failure, until the next resume (which runs it again).
        public var initFailure: String?
        public var initDone = false
        /// Exit status of every check at the baseline, by command.
        public var baselineExit: [String: Int32] = [:]
        public init() {}
    }

    /// The current shift: its transcript, compactions and handoff, and the hooks run for it.
    public struct ShiftState: Sendable, Codable, Equatable {
        /// Failing hooks' output not yet shown to the worker (the last few); nil when none ever failed.
        public var hookNotices: [HookNotice]?
        /// The shift whose shift_start hooks ran (its start seq), and the claim whose before_check hooks ran.
        public var hooksRanForShift: Int64?
        public var hooksRanForClaim: String?
        /// The current shift: where its transcript starts, its estimated tokens since the last compaction, its summary.
        public var shiftStartSeq: Int64 = 0
        public var shiftTokens = 0
        public var shiftCompactions = 0
        public var compactionSummary: String?
        public var compactedThroughSeq: Int64 = 0
        public var shifts = 0
        public var compactions = 0
        /// Worker turns in this shift, and since its last compaction (nothing new: nothing to compact or reset).
        public var shiftTurns = 0
        public var turnsSinceCompaction = 0
        public var claimHandoff: Handoff?
        /// The memories this shift was shown, and the shift (its start seq) they were found for.
        public var memories: [ShownMemory]?
        public var memoriesForShift: Int64?
        /// Why the bank's vector search failed, once it was recorded (then it is not recorded again).
        public var memorySearchDegraded: String?
        public init() {}
    }

    /// The gateway's memory: budgets set by people, breaker counters, denied calls, the policy's
    /// and the guidance's sources and versions, the protected files' baseline.
    public struct Gate: Sendable, Codable, Equatable {
        public var policyHash: String?
        /// The file the policy was read from (watched for changes by whoever drives the run).
        public var policySource: String?
        /// Budgets a human set for this run, over the policy's.
        public var budgetOverrides: [BudgetScope: Budget] = [:]
        /// Breaker counters (folds of the log, so they survive crashes).
        public var consecutiveToolErrors = 0
        public var consecutiveFailedAttempts = 0
        public var lastCallKey: String?
        public var repeatCount = 0
        /// The protected files' hashes at the start of the run (nil until taken).
        public var protectedBaseline: [String: String]?
        /// Calls (tool and arguments) that were denied, by policy or by a human; the last 20. Proposing one again escalates.
        public var deniedCalls: [String] = []
        /// The behavioural guidance in every context, its file and version hash.
        public var guidanceSpec: String?
        public var guidanceSource: String?
        public var guidanceHash: String?
        public init() {}
    }

    /// What the run has spent: model calls, the ledger by role, the last call's cost (the estimate
    /// of the next), role calls.
    public struct Spend: Sendable, Codable, Equatable {
        public var modelCalls = 0
        /// The latest model call's cost and tokens: the estimate of what the next call will spend.
        public var lastCallCostPicoUSD: Int64 = 0
        public var lastCallTokens = 0
        /// Tokens and cost per role, in the order roles first appeared: the ledger budgets enforce against.
        public var ledger: [LedgerEntry] = []
        /// Model calls per role and task ("judge:fix-add"), numbering each role's turns for the scripted model.
        public var roleCalls: [String: Int] = [:]
        public init() {}
    }

    /// Work in flight: the last response's tool calls, calls in doubt, a claim or commit waiting,
    /// the role call awaited.
    public struct Pending: Sendable, Codable, Equatable {
        /// Tool calls of the last model response not yet finished, in the order proposed.
        public var pendingTools: [PendingTool] = []
        /// A `remember` the policy lets into the bank directly: recorded, not yet written.
        public var memoryWrite: PendingMemoryWrite?
        /// Calls whose outcome is unknown after a crash; told to the model at the top of its next context.
        public var unreportedInDoubt: [InDoubtNotice] = []
        /// The worker's done-claim (its summary), held until the response's tool calls have finished.
        public var pendingClaim: String?
        /// A finished task whose work is not yet committed to the branch, and the commit message.
        public var pendingCommit: TaskID?
        public var pendingCommitMessage: String?
        /// Role of the model call being awaited.
        public var awaitingRole: Role?
        /// The answer of a planner, judge, compactor or handoff call, until the core has turned it into its event.
        public var roleResponse: RoleResponse?
        /// What the phase was when the pending model call was requested (restored when it is answered).
        public var returnPhase: Phase?
        /// Sequence number of the pending role call's request: a compaction summarises what came before it.
        public var roleRequestSeq: Int64 = 0
        public init() {}
    }
}

/// One flat JSON object, as snapshots have always been: ``RunState``'s own fields and those of
/// its parts side by side (each part encodes into the same container), so a snapshot written
/// before the parts existed still decodes, and one written now is read by the same rules.
extension RunState {
    private enum CodingKeys: String, CodingKey {
        case run, lastSeq, lastHash, created, title, workspace, model, settings, plan, status, statusReason, pauseKind,
            driver, tasks, current, phase, toolCalls, usage, lastNote, notes, policy, startTime, lastTime, guidance,
            resumes,
            branch, isolation, goal, handoff
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        run = try c.decode(RunID.self, forKey: .run)
        lastSeq = try c.decode(Int64.self, forKey: .lastSeq)
        lastHash = try c.decode([UInt8].self, forKey: .lastHash)
        created = try c.decode(Bool.self, forKey: .created)
        title = try c.decode(String.self, forKey: .title)
        workspace = try c.decode(String.self, forKey: .workspace)
        model = try c.decode(String.self, forKey: .model)
        settings = try c.decode(RunSettings.self, forKey: .settings)
        plan = try c.decodeIfPresent(Plan.self, forKey: .plan)
        status = try c.decode(RunStatus.self, forKey: .status)
        statusReason = try c.decodeIfPresent(String.self, forKey: .statusReason)
        pauseKind = try c.decodeIfPresent(PauseKind.self, forKey: .pauseKind)
        driver = try c.decodeIfPresent(ResumeDriver.self, forKey: .driver)
        tasks = try c.decode([TaskProgress].self, forKey: .tasks)
        current = try c.decodeIfPresent(Int.self, forKey: .current)
        phase = try c.decode(Phase.self, forKey: .phase)
        toolCalls = try c.decode(Int.self, forKey: .toolCalls)
        usage = try c.decode(TokenUsage.self, forKey: .usage)
        lastNote = try c.decodeIfPresent(String.self, forKey: .lastNote)
        notes = try c.decode([WorkerNote].self, forKey: .notes)
        policy = try c.decodeIfPresent(Policy.self, forKey: .policy)
        startTime = try c.decode(Int64.self, forKey: .startTime)
        lastTime = try c.decode(Int64.self, forKey: .lastTime)
        guidance = try c.decode([String].self, forKey: .guidance)
        resumes = try c.decode(Int.self, forKey: .resumes)
        branch = try c.decodeIfPresent(String.self, forKey: .branch)
        isolation = try c.decodeIfPresent(String.self, forKey: .isolation)
        goal = try c.decodeIfPresent(String.self, forKey: .goal)
        handoff = try c.decodeIfPresent(Handoff.self, forKey: .handoff)
        planning = try Planning(from: decoder)
        shiftState = try ShiftState(from: decoder)
        gate = try Gate(from: decoder)
        spend = try Spend(from: decoder)
        pending = try Pending(from: decoder)
        fleet = try Fleet(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(run, forKey: .run)
        try c.encode(lastSeq, forKey: .lastSeq)
        try c.encode(lastHash, forKey: .lastHash)
        try c.encode(created, forKey: .created)
        try c.encode(title, forKey: .title)
        try c.encode(workspace, forKey: .workspace)
        try c.encode(model, forKey: .model)
        try c.encode(settings, forKey: .settings)
        try c.encodeIfPresent(plan, forKey: .plan)
        try c.encode(status, forKey: .status)
        try c.encodeIfPresent(statusReason, forKey: .statusReason)
        try c.encodeIfPresent(pauseKind, forKey: .pauseKind)
        try c.encodeIfPresent(driver, forKey: .driver)
        try c.encode(tasks, forKey: .tasks)
        try c.encodeIfPresent(current, forKey: .current)
        try c.encode(phase, forKey: .phase)
        try c.encode(toolCalls, forKey: .toolCalls)
        try c.encode(usage, forKey: .usage)
        try c.encodeIfPresent(lastNote, forKey: .lastNote)
        try c.encode(notes, forKey: .notes)
        try c.encodeIfPresent(policy, forKey: .policy)
        try c.encode(startTime, forKey: .startTime)
        try c.encode(lastTime, forKey: .lastTime)
        try c.encode(guidance, forKey: .guidance)
        try c.encode(resumes, forKey: .resumes)
        try c.encodeIfPresent(branch, forKey: .branch)
        try c.encodeIfPresent(isolation, forKey: .isolation)
        try c.encodeIfPresent(goal, forKey: .goal)
        try c.encodeIfPresent(handoff, forKey: .handoff)
        try planning.encode(to: encoder)
        try shiftState.encode(to: encoder)
        try gate.encode(to: encoder)
        try spend.encode(to: encoder)
        try pending.encode(to: encoder)
        try fleet.encode(to: encoder)
    }
}

/// A memory the worker's `remember` writes into the bank without review (the policy allows it):
/// its id derives from the run and the call, so writing it again after a crash finds it written.
public struct PendingMemoryWrite: Sendable, Codable, Equatable {
    public var call: CallID
    public var id: MemoryID
    public var change: MemoryChange
}

/// The state of one run, folded from its events: `state = events.reduce(initial, apply)`.
///
/// It holds only what deciding the next step needs, so its size depends on the plan, not on
/// how long the run has gone on: snapshots stay small and waking costs O(snapshot + tail).
/// No IO, no clock, no randomness.
public struct RunState: Sendable, Codable, Equatable {
    public var run: RunID
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
    public var tasks: [TaskProgress] = []
    /// Index into `tasks` of the task being worked on.
    public var current: Int?
    public var phase: Phase = .idle
    public var modelCalls = 0
    public var toolCalls = 0
    public var usage = TokenUsage()
    public var lastNote: String?
    /// The worker's own notes (the `note` tool), newest last; the last ``RunState/notesKept`` are kept.
    public var notes: [WorkerNote] = []
    /// The policy in force (the latest `policy_set`); nil: no gateway, every known tool runs.
    public var policy: Policy?
    public var policyHash: String?
    /// The file the policy was read from (watched for changes by whoever drives the run).
    public var policySource: String?
    /// Budgets a human set for this run ("run", "task"), over the policy's.
    public var budgetOverrides: [String: Budget] = [:]
    /// The log's own clock: the first and latest committed event times (ms), for wall-clock budgets.
    public var startTime: Int64 = 0
    public var lastTime: Int64 = 0
    /// Breaker counters (folds of the log, so they survive crashes).
    public var consecutiveToolErrors = 0
    public var consecutiveFailedAttempts = 0
    public var lastCallKey: String?
    /// The latest model call's cost and tokens: the estimate of what the next call will spend.
    public var lastCallCostPicoUSD: Int64 = 0
    public var lastCallTokens = 0
    public var repeatCount = 0
    /// Humans' answers to escalations, newest last (the last 10 are kept); the context carries them.
    public var guidance: [String] = []
    /// The protected files' hashes at the start of the run (nil until taken).
    public var protectedBaseline: [String: String]?
    /// Calls (tool and arguments) that were denied, by policy or by a human; the last 20. Proposing one again escalates.
    public var deniedCalls: [String] = []
    /// The behavioural guidance in every context, its file and version hash.
    public var guidanceSpec: String?
    public var guidanceSource: String?
    public var guidanceHash: String?
    public static let notesKept = 30
    public struct WorkerNote: Sendable, Codable, Equatable {
        public var task: TaskID?
        public var text: String
    }
    /// Tool calls of the last model response not yet finished, in the order proposed.
    public var pendingTools: [PendingTool] = []
    /// Calls whose outcome is unknown after a crash; told to the model at the top of its next context.
    public var unreportedInDoubt: [InDoubtNotice] = []
    public var resumes = 0
    /// The worker's done-claim (its summary), held until the response's tool calls have finished.
    public var pendingClaim: String?
    /// The run's git branch when its workspace is a worktree; finished tasks are committed to it.
    public var branch: String?
    /// A finished task whose work is not yet committed to the branch, and the commit message.
    public var pendingCommit: TaskID?
    public var pendingCommitMessage: String?
    /// How the process now driving the run isolates commands (from the latest `isolation_set`).
    public var isolation: String?
    /// Role of the model call being awaited.
    public var awaitingRole: Role?
    /// Tokens and cost per role, in the order roles first appeared: the ledger budgets enforce against.
    public var ledger: [LedgerEntry] = []

    // The planner / worker / judge loop (RunSettings.loop).
    /// The goal the planner plans from (nil: the plan was given as a file).
    public var goal: String?
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
    /// Model calls per role and task ("judge:fix-add"), numbering each role's turns for the scripted model.
    public var roleCalls: [String: Int] = [:]
    /// The answer of a planner, judge, compactor or handoff call, until the core has turned it into its event.
    public var roleResponse: RoleResponse?
    /// What the phase was when the pending model call was requested (restored when it is answered).
    public var returnPhase: Phase?
    /// Sequence number of the pending role call's request: a compaction summarises what came before it.
    public var roleRequestSeq: Int64 = 0
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
    /// The latest handoff note, and the one the pending done claim carries.
    public var handoff: Handoff?
    public var claimHandoff: Handoff?

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
    public var costPicoUSD: Int64 { ledger.reduce(0) { $0 + $1.costPicoUSD } }

    mutating func ledgerIndex(_ role: Role) -> Int {
        if let i = ledger.firstIndex(where: { $0.role == role }) { return i }
        ledger.append(LedgerEntry(role: role))
        return ledger.count - 1
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
        public init(id: TaskID) { self.id = id }
    }

    public enum TaskStatus: String, Sendable, Codable, Equatable { case pending, active, done, blocked }

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
        guard !deniedCalls.contains(key) else { return }
        deniedCalls.append(key)
        if deniedCalls.count > 20 { deniedCalls.removeFirst() }
    }

    /// The call waiting for a human's approval, if any.
    public var awaitingApproval: PendingTool? {
        pendingTools.first { $0.verdict == .ask && $0.approved == nil && !$0.requested }
    }

    /// The budget in force for `scope` ("run" or "task"): the policy's, with a human's changes over it.
    public func budget(_ scope: String) -> Budget {
        var b = (scope == "run" ? policy?.runBudget : policy?.taskBudget) ?? Budget()
        if let o = budgetOverrides[scope] {
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
        if isTerminal, !event.isSnapshotVoucher { throw fail("the run already ended (\(status.rawValue))") }

        switch event {
        case let .runCreated(title, workspace, model, settings):
            guard !created else { throw fail("the run was already created") }
            created = true
            self.title = title
            self.workspace = workspace
            self.model = model
            self.settings = settings

        case let .planSet(plan):
            guard self.plan == nil else {
                throw fail("the plan is already set; plans are not rewritten (a new version is plan_revised)")
            }
            if let problem = plan.problem { throw fail(problem) }
            self.plan = plan
            tasks = plan.tasks.map { TaskProgress(id: $0.id) }
            planVersion = 1
            acceptedPlan()

        case let .planRevised(version, plan, _):
            guard let old = self.plan, version == planVersion + 1 else {
                throw fail("plan version \(planVersion + 1) is next, not \(version)")
            }
            guard current == nil, pendingCommit == nil else { throw fail("a plan is revised only between tasks") }
            if let problem = plan.problem { throw fail(problem) }
            // Finished tasks that keep their id stay finished; everything else starts afresh.
            let kept = Dictionary(
                tasks.filter { $0.status == .done }.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            tasks = plan.tasks.map { t in
                if let k = kept[t.id], old.tasks.first(where: { $0.id == t.id }) != nil { return k }
                return TaskProgress(id: t.id)
            }
            self.plan = plan
            planVersion = version
            replans += 1
            acceptedPlan()

        case let .goalSet(goal):
            guard plan == nil, self.goal == nil else { throw fail("the run already has a plan or a goal") }
            guard goal.text.contains(where: { !$0.isWhitespace }) else { throw fail("the goal is empty") }
            self.goal = goal.text

        case let .planApproved(version, _, _):
            guard plan != nil, version == planVersion, !planApproved, current == nil else {
                throw fail("plan version \(version) is not waiting for review")
            }
            planApproved = true

        case let .planRejected(version, by, reason):
            if by == "harness" {
                guard roleResponse?.role == Role.planner else { throw fail("no planner answer is waiting") }
                roleResponse = nil
            } else {
                guard plan != nil, version == planVersion, !planApproved, current == nil, goal != nil else {
                    throw fail("plan version \(version) is not waiting for review, or the run has no goal to plan from")
                }
                replanning = true
            }
            planRejections += 1
            planFeedback = reason

        case let .initRan(_, passed, output, _):
            guard plan?.initScript != nil, current == nil, !initDone else { throw fail("no init script is due") }
            initDone = passed
            initFailure = passed ? nil : String(output.text.suffix(2000))

        case let .baselineRan(command, _, exitCode, _, _, _):
            guard current == nil, plan != nil else { throw fail("the baseline is taken between tasks") }
            baselineExit[command] = exitCode

        case let .judgeVerdict(task, attempt, verdict, reasons):
            guard let i = current, tasks[i].id == task, attempt == tasks[i].attempts, case .checking = phase,
                roleResponse?.role == Role.judge
            else { throw fail("no judge answer for task \(task) attempt \(attempt) is waiting") }
            roleResponse = nil
            tasks[i].verdicts.append(verdict)
            switch verdict {
            case .pass:
                tasks[i].judgedAttempt = attempt
                tasks[i].judgeInvalid = 0
            case .rework:
                tasks[i].judgeInvalid = 0
                tasks[i].feedback = reasons.joined(separator: "\n")
            case .escalate:
                tasks[i].judgeInvalid = 0
                if goal != nil, replans < (settings.loop?.maxReplans ?? 0) {
                    // The task is mis-specified: the planner makes a new version of the plan.
                    replanning = true
                    planFeedback =
                        "The judge escalated task \(task) as mis-specified:\n"
                        + reasons.map { "- " + $0 }.joined(separator: "\n")
                    tasks[i].status = .pending
                    current = nil
                    phase = .idle
                }
            case .invalid: tasks[i].judgeInvalid += 1
            }

        case let .contextCompacted(task, summary, throughSeq, _):
            guard let i = current, tasks[i].id == task, roleResponse?.role == Role.compactor, phase == .working else {
                throw fail("no summary of task \(task) is waiting")
            }
            roleResponse = nil
            compactionSummary = summary.text
            compactedThroughSeq = throughSeq
            shiftCompactions += 1
            compactions += 1
            turnsSinceCompaction = 0
            shiftTokens = estimateTokens(bytes: summary.text.utf8.count)

        case let .handoffWritten(task, reason, handoff):
            guard tasks.contains(where: { $0.id == task }) else { throw fail("no task \(task)") }
            self.handoff = handoff
            if reason == "context reset" {
                guard let i = current, tasks[i].id == task, roleResponse?.role == Role.handoff, phase == .working else {
                    throw fail("no handoff of task \(task) is waiting")
                }
                roleResponse = nil
                startShift(at: lastSeq + 2)
            }

        case let .taskStarted(task, attempt):
            guard plan != nil else { throw fail("no plan is set") }
            if let current {
                guard tasks[current].id == task, phase == .attemptFailed, attempt == tasks[current].attempts + 1 else {
                    throw fail("task \(tasks[current].id) is active; only its next attempt may start")
                }
                guard attempt <= settings.maxAttempts else {
                    throw fail("attempt \(attempt) exceeds the limit \(settings.maxAttempts)")
                }
            } else {
                guard let index = tasks.firstIndex(where: { $0.status == .pending }) else {
                    throw fail("no task is pending")
                }
                guard tasks[index].id == task else {
                    throw fail("the next pending task is \(tasks[index].id), not \(task)")
                }
                guard attempt == 1 else { throw fail("a task starts at attempt 1") }
                current = index
                tasks[index].status = .active
                tasks[index].startSeq = lastSeq + 1
            }
            let i = current!
            if attempt == 1 {
                startShift(at: lastSeq + 1)
            } else {
                shiftTokens += estimateTokens(bytes: tasks[i].feedback?.utf8.count ?? 0)
            }
            tasks[i].attempts = attempt
            tasks[i].turnsThisAttempt = 0
            tasks[i].checkResults = []
            tasks[i].protectedChanged = nil
            phase = .working

        case let .modelRequested(call, task, turn, role):
            guard call == RunState.modelCallID(modelCalls + 1) else {
                throw fail("expected call id \(RunState.modelCallID(modelCalls + 1))")
            }
            let role = role ?? Role.worker
            switch role {
            case Role.worker:
                guard let i = current, tasks[i].id == task else { throw fail("task \(task) is not active") }
                guard phase == .working else {
                    throw fail("the harness is not waiting to call the model (phase \(phase))")
                }
                guard turn == tasks[i].turns else { throw fail("expected turn \(tasks[i].turns)") }
            case Role.planner:
                guard current == nil, plan == nil || replanning, goal != nil, task == RunState.planTaskID else {
                    throw fail("no plan is to be made now")
                }
            case Role.judge:
                guard let i = current, tasks[i].id == task, case .checking = phase else {
                    throw fail("task \(task) is not being checked")
                }
            case Role.compactor, Role.handoff:
                guard let i = current, tasks[i].id == task, phase == .working else {
                    throw fail("task \(task) is not being worked on")
                }
            }
            if role != Role.worker {
                let key = role.rawValue + ":" + task.rawValue
                guard turn == roleCalls[key, default: 0] else {
                    throw fail("expected \(role) turn \(roleCalls[key, default: 0])")
                }
                roleCalls[key] = turn + 1
                roleRequestSeq = lastSeq + 1
            }
            modelCalls += 1
            awaitingRole = role
            returnPhase = phase
            roleResponse = nil
            phase = .awaitingModel(call: call)

        case let .modelResponded(call, text, toolCalls, claimsDone, summary, usage, _, cost, handoff):
            guard phase == .awaitingModel(call: call) else { throw fail("no request \(call) is waiting") }
            guard Set(toolCalls.map(\.id)).count == toolCalls.count else { throw fail("tool call ids repeat") }
            for (n, t) in toolCalls.enumerated() where t.id != RunState.toolCallID(call, n + 1) {
                throw fail("tool call \(n + 1) must have id \(RunState.toolCallID(call, n + 1))")
            }
            // Numbers from outside are bounded where they enter; a log that carries others anyway
            // (written by hand) is refused here rather than trapping on an overflow.
            if let why = usage.implausibility { throw fail("the response's usage is out of range: \(why)") }
            if let cost, !(0...Money.maxPicoPerCall).contains(cost) {
                throw fail("the response's cost \(cost) is out of range")
            }
            guard self.usage.input <= Int.max / 2, self.usage.output <= Int.max / 2, costPicoUSD <= Int64.max / 2 else {
                throw fail("the run's token or cost totals are out of range")
            }
            self.usage = self.usage + usage
            let l = ledgerIndex(awaitingRole ?? Role.worker)
            ledger[l].calls += 1
            ledger[l].usage = ledger[l].usage + usage
            if let cost { ledger[l].costPicoUSD += cost } else { ledger[l].unpricedCalls += 1 }
            lastCallCostPicoUSD = cost ?? 0
            lastCallTokens = usage.input + usage.output
            if let i = current {
                tasks[i].usage = tasks[i].usage + usage
                if let cost { tasks[i].costPicoUSD += cost }
            }
            guard (awaitingRole ?? Role.worker) == Role.worker, let i = current else {
                // A role's answer waits for the core to read it (a plan, a verdict, a summary, a handoff).
                roleResponse = RoleResponse(role: awaitingRole ?? Role.worker, text: text.text, toolCalls: toolCalls)
                phase = returnPhase ?? .working
                returnPhase = nil
                break
            }
            returnPhase = nil
            tasks[i].turns += 1
            tasks[i].turnsThisAttempt += 1
            shiftTurns += 1
            turnsSinceCompaction += 1
            shiftTokens += estimateTokens(
                bytes: text.text.utf8.count
                    + toolCalls.reduce(0) { $0 + $1.arguments.text.utf8.count + $1.name.utf8.count + 16 })
            unreportedInDoubt = []
            claimHandoff = claimsDone ? handoff : nil
            pendingTools = toolCalls.map { PendingTool(call: $0) }
            if !pendingTools.isEmpty {
                phase = .runningTools
                pendingClaim = claimsDone ? (summary ?? "") : nil
            } else {
                phase = claimsDone ? .checking(summary: summary ?? "") : .working
                pendingClaim = nil
            }

        case let .modelFailed(call, _):
            guard phase == .awaitingModel(call: call) else { throw fail("no request \(call) is waiting") }
            phase = returnPhase ?? .working
            returnPhase = nil

        case let .modelRetried(call, attempt, _, delayMs):
            guard phase == .awaitingModel(call: call) else { throw fail("no request \(call) is waiting") }
            guard attempt >= 1, delayMs >= 0 else {
                throw fail("attempt must be at least 1 and the delay not negative")
            }
            ledger[ledgerIndex(awaitingRole ?? Role.worker)].retries += 1

        case let .toolRequested(call, name, idempotent):
            guard phase == .runningTools, let k = pendingTools.firstIndex(where: { !$0.requested }) else {
                throw fail("no proposed tool call awaits a request")
            }
            guard pendingTools[k].call.id == call, pendingTools[k].call.name == name else {
                throw fail("the next proposed call is \(pendingTools[k].call.id) (\(pendingTools[k].call.name))")
            }
            pendingTools[k].requested = true
            pendingTools[k].idempotent = idempotent
            // Only where a breaker counts repeats: off the step path (and out of snapshots) otherwise.
            if policy?.breakers.repeatedCall != nil {
                let key = name + " " + pendingTools[k].call.arguments.text
                repeatCount = key == lastCallKey ? repeatCount + 1 : 1
                lastCallKey = key
            }

        case let .toolStarted(call):
            guard let k = pendingTools.firstIndex(where: { $0.call.id == call }), k == 0 else {
                throw fail("\(call) is not the next pending tool call")
            }
            guard pendingTools[k].requested, !pendingTools[k].started else {
                throw fail("\(call) is not requested or already started")
            }
            pendingTools[k].started = true

        case let .toolFinished(call, result):
            guard let k = pendingTools.firstIndex(where: { $0.call.id == call }), k == 0, pendingTools[k].requested
            else {
                throw fail("\(call) is not the next requested tool call")
            }
            pendingTools.removeFirst()
            toolCalls += 1
            if let i = current { tasks[i].toolCalls += 1 }
            shiftTokens += estimateTokens(bytes: result.output.text.utf8.count + 32)
            consecutiveToolErrors = result.ok ? 0 : consecutiveToolErrors + 1
            afterTool()

        case let .toolInDoubt(call, _):
            guard let k = pendingTools.firstIndex(where: { $0.call.id == call }), k == 0, pendingTools[k].started else {
                throw fail("\(call) was not started")
            }
            let p = pendingTools.removeFirst()
            unreportedInDoubt.append(InDoubtNotice(call: call, name: p.call.name, arguments: p.call.arguments.text))
            toolCalls += 1
            if let i = current { tasks[i].toolCalls += 1 }
            afterTool()

        case let .checkRan(task, attempt, index, command, expectExit, exitCode, passed, output, _):
            guard let i = current, tasks[i].id == task, case .checking = phase else {
                throw fail("task \(task) is not being checked")
            }
            guard attempt == tasks[i].attempts else {
                throw fail("attempt \(attempt) is not the current one (\(tasks[i].attempts))")
            }
            guard index == tasks[i].checkResults.count, index < attemptChecks(i).count else {
                throw fail("expected check index \(tasks[i].checkResults.count)")
            }
            tasks[i].checkResults.append(
                CheckOutcome(
                    command: command, passed: passed, exitCode: exitCode,
                    expectExit: expectExit, outputTail: String(output.text.suffix(2000))))

        case let .taskFinished(task, attempt, summary):
            guard let i = current, tasks[i].id == task, case .checking = phase, attempt == tasks[i].attempts else {
                throw fail("task \(task) is not being checked")
            }
            guard tasks[i].checkResults.count == attemptChecks(i).count, tasks[i].checkResults.allSatisfy(\.passed)
            else {
                throw fail("task \(task) has not passed all its checks")
            }
            guard !needsJudge(i) || tasks[i].judgedAttempt == attempt else {
                throw fail("task \(task) needs the judge's pass")
            }
            tasks[i].status = .done
            tasks[i].feedback = nil
            consecutiveFailedAttempts = 0
            current = nil
            phase = .idle
            if branch != nil {
                pendingCommit = task
                pendingCommitMessage = "nightshift: task \(task) done" + (summary.isEmpty ? "" : "\n\n\(summary)")
            }

        case let .taskAttemptFailed(task, attempt, feedback):
            guard let i = current, tasks[i].id == task, attempt == tasks[i].attempts else {
                throw fail("task \(task) is not active")
            }
            switch phase {
            case .checking, .working: break
            default: throw fail("an attempt can only fail while working or checking")
            }
            tasks[i].feedback = feedback.text
            phase = .attemptFailed
            consecutiveFailedAttempts += 1

        case let .taskBlocked(task, _):
            guard let i = current, tasks[i].id == task, phase == .attemptFailed else {
                throw fail("task \(task) has no failed attempt")
            }
            tasks[i].status = .blocked
            current = nil
            phase = .idle

        case let .noteWritten(_, text):
            lastNote = text.text

        case let .noteAdded(task, text):
            notes.append(WorkerNote(task: task, text: text))
            if notes.count > RunState.notesKept { notes.removeFirst(notes.count - RunState.notesKept) }

        case let .runPaused(reason):
            guard status == .running else { throw fail("the run is not running") }
            status = .paused
            statusReason = reason

        case .runResumed:
            status = .running
            statusReason = nil
            resumes += 1
            // A human looked: the init script, the planner and the judge get their tries again.
            initFailure = nil
            planRejections = 0
            if let i = current { tasks[i].judgeInvalid = 0 }
            for k in pendingTools.indices where pendingTools[k].started { pendingTools[k].interrupted = true }

        case .runReported:
            guard current == nil else { throw fail("a report comes when no task is active") }

        case .runFinished:
            guard current == nil, tasks.allSatisfy({ $0.status == .done || $0.status == .blocked }) else {
                throw fail("tasks remain unfinished")
            }
            status = .finished

        case let .runFailed(reason):
            status = .failed
            statusReason = reason

        case let .isolationSet(mode):
            isolation = mode

        case let .rollbackAccepted(lostFrom, lostThrough, _):
            // For the audit: the run goes on from the log as it is.
            // lostThrough == lostFrom - 1: nothing missing, but the head was replaced (another copy of the log).
            guard lostFrom == lastSeq + 1, lostThrough >= lostFrom - 1 else {
                throw fail("events \(lostFrom)–\(lostThrough) are not what this log lost")
            }

        case let .snapshotTaken(seq, _):
            // Vouches for a snapshot of an earlier position; nothing to fold.
            guard (1...lastSeq).contains(seq) else {
                throw fail("a snapshot of event \(seq) cannot be vouched for at this point")
            }

        case .toolServerStarted:
            break  // audit only: the catalog comes from the running servers, not the fold

        case let .policySet(policy, source, hash, _):
            self.policy = policy
            policyHash = hash
            policySource = source

        case let .toolDecided(call, effect, _, reason):
            guard phase == .runningTools, let k = pendingTools.firstIndex(where: { !$0.requested }),
                pendingTools[k].call.id == call, pendingTools[k].verdict == nil
            else {
                throw fail("\(call) is not the next proposed call awaiting a decision")
            }
            pendingTools[k].verdict = effect
            pendingTools[k].verdictReason = reason
            if effect == .deny { rememberDenied(pendingTools[k].call) }

        case let .approvalDecided(call, approved, by, note, argumentsHash):
            guard let k = pendingTools.firstIndex(where: { $0.call.id == call }) else {
                throw fail("\(call) is not a pending call")
            }
            guard pendingTools[k].verdict == .ask, !pendingTools[k].requested else {
                throw fail("\(call) is not waiting for approval")
            }
            guard pendingTools[k].approved == nil else { throw fail("\(call) was already decided") }
            guard argumentsHash == pendingTools[k].call.arguments.sha256Hex else {
                throw fail("the approval is for other arguments than \(call)'s")
            }
            pendingTools[k].approved = approved
            if !approved { rememberDenied(pendingTools[k].call) }
            pendingTools[k].approvalNote =
                (approved ? "approved" : "denied") + " by \(by)" + (note.isEmpty ? "" : ": \(note)")

        case .budgetExhausted:
            break  // the pause that follows holds the run

        case let .budgetSet(scope, budget, _):
            guard scope == "run" || scope == "task" else { throw fail("a budget's scope is run or task, not \(scope)") }
            budgetOverrides[scope] = budget

        case let .breakerTripped(breaker, _, _):
            switch breaker {
            case "tool_errors": consecutiveToolErrors = 0
            case "failed_checks": consecutiveFailedAttempts = 0
            case "repeated_call":
                repeatCount = 0
                lastCallKey = nil
            default: throw fail("unknown breaker \(breaker)")
            }

        case .escalated:
            break

        case let .guidanceSet(source, hash, text):
            guidanceSpec = text.text
            guidanceSource = source
            guidanceHash = hash

        case let .protectedHashed(hashes):
            protectedBaseline = hashes

        case let .protectedVerified(task, attempt, changed):
            guard let i = current, tasks[i].id == task, attempt == tasks[i].attempts, case .checking = phase else {
                throw fail("task \(task) attempt \(attempt) is not being checked")
            }
            tasks[i].protectedVerified = attempt
            tasks[i].protectedChanged = changed

        case let .guidanceGiven(text, by):
            guidance.append("\(by): \(text)")
            if guidance.count > 10 { guidance.removeFirst(guidance.count - 10) }

        case let .workspaceProvisioned(path, branch, _):
            guard path == workspace else { throw fail("the run's workspace is \(workspace), not \(path)") }
            self.branch = branch

        case let .workCommitted(task, commit, _):
            guard pendingCommit == task else { throw fail("task \(task) has no work waiting to be committed") }
            if let k = tasks.firstIndex(where: { $0.id == task }) { tasks[k].commit = commit }
            pendingCommit = nil
            pendingCommitMessage = nil
        }
    }

    /// A new shift starts its transcript at `seq`, with nothing compacted.
    private mutating func startShift(at seq: Int64) {
        shiftStartSeq = seq
        shiftTokens = 0
        shiftCompactions = 0
        compactionSummary = nil
        compactedThroughSeq = 0
        shifts += 1
        shiftTurns = 0
        turnsSinceCompaction = 0
    }

    private mutating func acceptedPlan() {
        phase = .idle
        current = nil
        replanning = false
        planApproved = false
        planFeedback = nil
        planRejections = 0
        roleResponse = nil
    }

    func estimateTokens(bytes: Int) -> Int { (settings.loop ?? LoopSettings()).tokens(bytes: bytes) }

    /// The pseudo task id planner calls are made under.
    public static let planTaskID = TaskID("plan")

    private mutating func afterTool() {
        guard pendingTools.isEmpty else { return }
        if let claim = pendingClaim {
            phase = .checking(summary: claim)
            pendingClaim = nil
        } else {
            phase = .working
        }
    }

    /// Model call ids are numbered in the order calls are made: m1, m2, …
    public static func modelCallID(_ n: Int) -> CallID { CallID("m\(n)") }
    /// Tool calls are numbered within the response that proposed them: m7.1, m7.2, …
    public static func toolCallID(_ modelCall: CallID, _ n: Int) -> CallID { CallID("\(modelCall.rawValue).\(n)") }
}

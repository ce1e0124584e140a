import Foundation

extension RunState {
    /// Decides the next step from the state alone. Same state and catalog ⇒ same decision.
    public func nextAction(tools: ToolCatalog) -> Decision {
        switch status {
        case .finished: return .stop(.finished)
        case .failed: return .stop(.failed(statusReason ?? "failed"))
        case .paused: return .stop(.paused(statusReason ?? "paused"))
        case .running: break
        }
        if !fleet.children.isEmpty {
            let uncreated = uncreatedChildren
            if !uncreated.isEmpty { return .createChildren(uncreated) }
        }
        if let task = pending.pendingCommit {
            return .commitWork(task: task, message: pending.pendingCommitMessage ?? "nightshift: task \(task) done")
        }
        if created, goal != nil, plan == nil || planning.replanning { return planStep() }
        guard created, let plan else { return .emit([.runFailed(reason: "the run has no plan")]) }

        if let globs = policy?.protectedPaths, !globs.isEmpty, gate.protectedBaseline == nil {
            return .hashProtected(globs: globs, verify: nil)
        }
        guard let i = current else {
            if let loop = settings.loop {
                if loop.reviewPlan, goal != nil, !planning.planApproved {
                    return .emit([
                        .runPaused(
                            reason: "the plan (version \(planning.planVersion)) waits for review (PLAN.md): "
                                + "approve it, or deny it with a reason for a new version",
                            kind: .planReview)
                    ])
                }
                if let script = plan.initScript, !planning.initDone {
                    if let failure = planning.initFailure {
                        return .emit([
                            .runPaused(
                                reason:
                                    "the plan's init script failed: \(failure.suffix(300)); fix the workspace and resume (it runs again)",
                                kind: .planning)
                        ])
                    }
                    return .runInit(script: script)
                }
                if loop.baseline {
                    let missing = baselineChecks().filter { planning.baselineExit[$0.command] == nil }
                    if !missing.isEmpty { return .runBaseline(missing) }
                }
            }
            if settings.workers != nil, let step = fleetStep(workerProfile: tools.profiles?[Self.workerProfile]) {
                return step
            }
            if let (task, on) = blockedByDependency() {
                return .emit([.taskBlocked(task: task, reason: "it comes after task \(on), which is blocked")])
            }
            if let next = tasks.indices.first(where: isReady) {
                return .emit([.taskStarted(task: tasks[next].id, attempt: 1)])
            }
            let done = tasks.filter { $0.status == .done }.count
            let blocked = tasks.count - done
            let summary = "\(done) of \(tasks.count) tasks done" + (blocked > 0 ? ", \(blocked) blocked" : "")
            return .emit([.runReported(report: Payload(finalReport(summary: summary))), .runFinished(summary: summary)])
        }
        let task = plan.tasks[i]
        let progress = tasks[i]

        switch phase {
        case .idle:
            return .emit([.runFailed(reason: "inconsistent state: task \(task.id) active while idle")])

        case .working:
            if let shift = shiftStep(task) { return .emit(shift) }
            if let stop = breakerOrBudget(forModelCall: true) { return .emit(stop) }
            if progress.turnsThisAttempt >= settings.maxTurnsPerAttempt {
                return .emit(
                    failAttempt(
                        task, progress,
                        feedback: Self.turnLimitFeedback(settings.maxTurnsPerAttempt)))
            }
            // The memories for this shift's task, found once per shift, before its first worker call.
            if let memory = settings.memory, shiftState.memoriesForShift != shiftState.shiftStartSeq {
                return .recallMemories(task: task, scopes: memory.scopes, tokens: memory.tokens)
            }
            // The project's shift_start hooks run once per shift, before its first worker call.
            let shiftHooks = hooks(.shiftStart)
            if !shiftHooks.isEmpty, shiftState.hooksRanForShift != shiftState.shiftStartSeq {
                return .runHooks(on: .shiftStart, hooks: shiftHooks)
            }
            return .emit([
                .modelRequested(
                    call: RunState.modelCallID(spend.modelCalls + 1), task: task.id, turn: progress.turns,
                    role: Role.worker)
            ])

        case let .awaitingModel(call):
            return .callModel(
                call: call, task: task, attempt: progress.attempts, turn: awaitingTurn(task: task.id),
                role: pending.awaitingRole ?? Role.worker)

        case .runningTools:
            guard let p = pending.pendingTools.first else {
                return .emit([.runFailed(reason: "inconsistent state: no pending tool")])
            }
            if let write = pending.memoryWrite, write.call == p.call.id { return .writeMemory(write) }
            if !p.requested, p.call.name == ToolSpec.note.name { return .emit(noteEvents(p.call)) }
            if !p.requested, p.call.name == ToolSpec.escalate.name { return .emit(escalateEvents(p.call)) }
            if !p.requested, p.call.name == ToolSpec.remember.name, tools.idempotent[p.call.name] != nil {
                return .emit(rememberEvents(p.call))
            }
            if tools.profiles != nil || !fleet.children.isEmpty {
                if !p.requested, p.call.name == ToolSpec.spawnAgents.name {
                    return .emit(spawnEvents(p.call, profiles: tools.profiles))
                }
                if !p.requested, p.call.name == ToolSpec.waitAgents.name { return .emit(waitStartEvents(p.call)) }
                if let wait = fleet.wait, wait.call == p.call.id { return waitStep(wait) }
            }
            // The gateway: a policy's rules, and budgets (a sub-agent's reservation needs no policy).
            if !p.requested, policy != nil || !gate.budgetOverrides.isEmpty, tools.idempotent[p.call.name] != nil {
                if let gate = gateway(p, traits: tools.traits[p.call.name] ?? []) { return .emit(gate) }
            }
            if !p.requested {
                guard let idempotent = tools.idempotent[p.call.name] else {
                    let known = tools.idempotent.keys.sorted().joined(separator: ", ")
                    return .emit([
                        .toolRequested(call: p.call.id, name: p.call.name, idempotent: false),
                        .toolFinished(
                            call: p.call.id,
                            result: .failure("unknown tool '\(p.call.name)'; available tools: \(known)")),
                    ])
                }
                return .emit([.toolRequested(call: p.call.id, name: p.call.name, idempotent: idempotent)])
            }
            if !p.started { return .emit([.toolStarted(call: p.call.id)]) }
            if p.interrupted && !p.idempotent {
                return .emit([
                    .toolInDoubt(
                        call: p.call.id,
                        reason:
                            "the process stopped while '\(p.call.name)' was running; it is not idempotent, so it was not run again"
                    )
                ])
            }
            let editHooks = hooks(.afterEdit)
            if !editHooks.isEmpty, tools.traits[p.call.name]?.contains(.writesPath) == true {
                return .runToolThenHooks(
                    p.call, hooks: editHooks, paths: Self.pathArgument(p.call, workspace: workspace).map { [$0] } ?? [])
            }
            return .runTool(p.call)

        case let .checking(summary):
            let checks = attemptChecks(i)
            // The project's before_check hooks: advisory, before the claim's checks run.
            let checkHooks = hooks(.beforeCheck)
            if !checkHooks.isEmpty, progress.checkResults.isEmpty,
                shiftState.hooksRanForClaim != Self.claimKey(task.id, progress.attempts)
            {
                return .runHooks(on: .beforeCheck, hooks: checkHooks)
            }
            if progress.checkResults.count < checks.count {
                return .runChecks(
                    task: task, attempt: progress.attempts, from: progress.checkResults.count, checks: checks)
            }
            if progress.checkResults.allSatisfy(\.passed) {
                // The ratchet: protected files must be as they were when the run began.
                if let globs = policy?.protectedPaths, !globs.isEmpty, gate.protectedBaseline != nil,
                    progress.protectedVerified != progress.attempts
                {
                    return .hashProtected(
                        globs: globs, verify: ProtectedCheck(task: task.id, attempt: progress.attempts))
                }
                if let changed = progress.protectedChanged, !changed.isEmpty {
                    return .emit(
                        failAttempt(
                            task, progress,
                            feedback: """
                                Your done claim for task \(task.id) was not accepted: these protected files were changed, renamed or \
                                deleted, which is never allowed (add new tests instead): \(changed.joined(separator: ", ")). \
                                Restore them exactly as they were.
                                """))
                }
                if needsJudge(i), progress.judgedAttempt != progress.attempts {
                    return .emit(judgeStep(task, progress))
                }
                var events: [Event] = [
                    .taskFinished(task: task.id, attempt: progress.attempts, summary: summary),
                    .noteWritten(task: task.id, text: Payload(progressNote(task, progress, summary: summary))),
                ]
                if settings.loop != nil {
                    var h = shiftState.claimHandoff ?? Handoff()
                    h.done = "Task \(task.id): " + (summary.isEmpty ? "done" : summary)
                    events.append(.handoffWritten(task: task.id, reason: .taskDone, handoff: h))
                }
                return .emit(events)
            }
            let own = task.checks.count
            let failedOwn = progress.checkResults.prefix(own).filter { !$0.passed }
            let broken = progress.checkResults.dropFirst(own).filter { !$0.passed }
            var feedback = ""
            if !failedOwn.isEmpty {
                feedback = "Your done claim for task \(task.id) failed \(failedOwn.count) of \(own) checks:\n"
                for f in failedOwn {
                    feedback += "\n$ \(f.command)\nexit \(f.exitCode) (expected \(f.expectExit))\n\(f.outputTail)\n"
                }
            }
            if !broken.isEmpty {
                feedback +=
                    (feedback.isEmpty ? "" : "\n")
                    + "Your change broke \(broken.count) check(s) that passed before (the ratchet: "
                    + "a task is accepted only when nothing that passed before fails now):\n"
                for f in broken {
                    feedback += "\n$ \(f.command)\nexit \(f.exitCode) (expected \(f.expectExit))\n\(f.outputTail)\n"
                }
            }
            return .emit(failAttempt(task, progress, feedback: feedback))

        case .attemptFailed:
            return .emit(nextAttemptOrBlock(task, progress))
        }
    }

    /// The planner's step: read its answer into a plan (or a rejection), or ask it (again).
    private func planStep() -> Decision {
        let loop = settings.loop ?? LoopSettings()
        if case let .awaitingModel(call) = phase {
            return .callModel(
                call: call, task: plannerTask, attempt: planning.planVersion + 1,
                turn: awaitingTurn(task: RunState.planTaskID),
                role: Role.planner)
        }
        if let r = pending.roleResponse, r.role == Role.planner {
            switch RoleTools.plan(r) {
            case let .success(newPlan):
                return .emit([
                    plan == nil
                        ? .planSet(plan: newPlan)
                        : .planRevised(
                            version: planning.planVersion + 1, plan: newPlan,
                            reason: planning.planFeedback ?? "a new version was asked for")
                ])
            case let .failure(error):
                return .emit([
                    .planRejected(
                        version: planning.planVersion + 1, by: .harness,
                        reason: "the planner's plan is not valid: \(error.message)")
                ])
            }
        }
        if planning.planRejections >= loop.roleRetries, planning.planFeedback != nil {
            return .emit([
                .runPaused(
                    reason:
                        "the planner gave no usable plan in \(planning.planRejections) tries (last: \(planning.planFeedback!.prefix(300))); "
                        + "adjust the goal or the planner model, or answer, and resume",
                    kind: .planning)
            ])
        }
        if let stop = breakerOrBudget(forModelCall: true) { return .emit(stop) }
        return .emit([
            .modelRequested(
                call: RunState.modelCallID(spend.modelCalls + 1), task: RunState.planTaskID,
                turn: spend.roleCalls[Role.planner.rawValue + ":" + RunState.planTaskID.rawValue, default: 0],
                role: Role.planner)
        ])
    }

    /// The pseudo task the planner is asked under: its description is the goal.
    public var plannerTask: PlanTask {
        PlanTask(id: RunState.planTaskID, description: goal ?? "", checks: [])
    }

    /// The judge's step for a done claim that passed its checks: read its verdict, or ask it.
    private func judgeStep(_ task: PlanTask, _ progress: TaskProgress) -> [Event] {
        let loop = settings.loop ?? LoopSettings()
        guard let r = pending.roleResponse, r.role == Role.judge else {
            if progress.judgeInvalid >= loop.roleRetries {
                let why = "the judge gave no valid verdict on task \(task.id) in \(progress.judgeInvalid) tries"
                return [
                    .escalated(task: task.id, reason: why),
                    .runPaused(
                        reason: "escalated: \(why); check the judge model and resume (it is asked again)",
                        kind: .escalation),
                ]
            }
            if let stop = breakerOrBudget(forModelCall: true) { return stop }
            return [
                .modelRequested(
                    call: RunState.modelCallID(spend.modelCalls + 1), task: task.id,
                    turn: spend.roleCalls[Role.judge.rawValue + ":" + task.id.rawValue, default: 0], role: Role.judge)
            ]
        }
        switch RoleTools.verdict(r) {
        case let .failure(error):
            return [
                .judgeVerdict(task: task.id, attempt: progress.attempts, verdict: .invalid, reasons: [error.message])
            ]
        case let .success((verdict, reasons)):
            let verdictEvent = Event.judgeVerdict(
                task: task.id, attempt: progress.attempts, verdict: verdict, reasons: reasons)
            let listed = reasons.map { "- " + $0 }.joined(separator: "\n")
            switch verdict {
            case .pass:
                return [verdictEvent]
            case .rework:
                return [verdictEvent]
                    + failAttempt(
                        task, progress,
                        feedback: """
                            Your done claim for task \(task.id) passed its checks, but the judge asked for rework:
                            \(listed)
                            """)
            default:  // escalate
                let why = "the judge escalated task \(task.id): " + reasons.joined(separator: "; ")
                if goal != nil, planning.replans < loop.maxReplans {
                    return [
                        verdictEvent,
                        .escalated(task: task.id, reason: why + " (the planner makes a new version of the plan)"),
                    ]
                }
                return [
                    verdictEvent, .escalated(task: task.id, reason: why),
                    .taskAttemptFailed(
                        task: task.id, attempt: progress.attempts,
                        feedback: Payload("The judge escalated this task:\n" + listed)),
                    .runPaused(
                        reason: "escalated: \(why); answer, and resume",
                        kind: .escalation),
                ]
            }
        }
    }

    /// Compaction and resets: read a summary or handoff the model gave, or ask for one when the
    /// shift's context has grown past its thresholds. Nil when the worker may simply go on.
    private func shiftStep(_ task: PlanTask) -> [Event]? {
        guard let loop = settings.loop else { return nil }
        if let r = pending.roleResponse {
            switch r.role {
            case Role.compactor:
                let text = r.text.trimmingCharacters(in: .whitespacesAndNewlines)
                let summary =
                    text.isEmpty
                    ? "(the model gave no summary; the earlier turns of this shift left the context)" : text
                return [
                    .contextCompacted(
                        task: task.id, summary: Payload(summary), throughSeq: pending.roleRequestSeq - 1,
                        tokensBefore: contextEstimate())
                ]
            case Role.handoff:
                return [.handoffWritten(task: task.id, reason: .contextReset, handoff: RoleTools.handoff(r))]
            default:
                break
            }
        }
        let estimate = contextEstimate()
        let role: Role
        if shiftState.shiftTurns > 0,
            estimate.timesSaturating(100) >= loop.contextWindow.timesSaturating(loop.resetAtPercent)
                || shiftState.shiftCompactions >= loop.compactionsPerShift
        {
            role = Role.handoff
        } else if shiftState.turnsSinceCompaction > 0,
            estimate.timesSaturating(100) >= loop.contextWindow.timesSaturating(loop.compactAtPercent)
                || lastSeq - max(shiftState.shiftStartSeq - 1, shiftState.compactedThroughSeq)
                    >= Int64(loop.compactAfterEvents)
        {
            role = Role.compactor
        } else {
            return nil
        }
        // A summary or a handoff is a model call like any other: budgets and breakers apply.
        if let stop = breakerOrBudget(forModelCall: true) { return stop }
        return [
            .modelRequested(
                call: RunState.modelCallID(spend.modelCalls + 1), task: task.id,
                turn: spend.roleCalls[role.rawValue + ":" + task.id.rawValue, default: 0], role: role)
        ]
    }

    /// The policy gateway for the next proposed call: nil when it may be requested now; otherwise
    /// the events that decide it (a refusal, a pause for approval, a tripped breaker, a budget).
    private func gateway(_ p: PendingTool, traits: ToolTraits) -> [Event]? {
        switch (p.verdict, p.approved) {
        case (nil, _):
            if let stop = breakerOrBudget(forModelCall: false, nextCall: p.call) { return stop }
            guard let policy else { return nil }  // budgets only: no rules to apply
            let key = p.call.name + " " + p.call.arguments.text
            if gate.deniedCalls.contains(key) {
                let why =
                    "the agent proposed again a call that was denied: \(p.call.name) \(p.call.arguments.text.prefix(200))"
                return [
                    .toolDecided(call: p.call.id, effect: .deny, rule: "denied before", reason: why),
                    .toolRequested(call: p.call.id, name: p.call.name, idempotent: false),
                    .toolFinished(
                        call: p.call.id,
                        result: .failure("refused: this exact call was denied before; a human has been asked")),
                    .escalated(task: current.map { tasks[$0].id }, reason: why),
                    .runPaused(
                        reason: "escalated: \(why); answer, and resume",
                        kind: .escalation),
                ]
            }
            let verdict = policy.decide(
                tool: p.call.name, arguments: p.call.parsed, traits: traits, workspace: workspace)
            var events: [Event] = [
                .toolDecided(call: p.call.id, effect: verdict.effect, rule: verdict.rule, reason: verdict.reason)
            ]
            switch verdict.effect {
            case .allow: break
            case .deny:
                events += [
                    .toolRequested(call: p.call.id, name: p.call.name, idempotent: false),
                    .toolFinished(
                        call: p.call.id, result: .failure("refused by policy (\(verdict.rule)): \(verdict.reason)")),
                ]
            case .ask:
                events.append(.runPaused(reason: approvalReason(p.call, verdict.reason), kind: .approval))
            }
            return events
        case (.ask?, nil):
            return [.runPaused(reason: approvalReason(p.call, p.verdictReason ?? ""), kind: .approval)]
        case (.ask?, false?):
            return [
                .toolRequested(call: p.call.id, name: p.call.name, idempotent: false),
                .toolFinished(call: p.call.id, result: .failure("not run: \(p.approvalNote ?? "denied")")),
            ]
        default:
            return nil  // allowed, or approved
        }
    }

    private func approvalReason(_ call: ToolCall, _ why: String) -> String {
        "awaiting approval of \(call.id): \(call.name) \(call.arguments.text.prefix(200)) (\(why))"
    }

    /// The `escalate` tool: the agent asks for a human. Decided here like `note`; the run pauses after it.
    private func escalateEvents(_ call: ToolCall) -> [Event] {
        let requested = Event.toolRequested(call: call.id, name: call.name, idempotent: true)
        let object = (try? JSONSerialization.jsonObject(with: Data(call.arguments.text.utf8))) as? [String: Any]
        guard let reason = (object?["reason"] as? String)?.trimmingCharacters(in: .whitespacesAndNewlines),
            !reason.isEmpty
        else {
            return [
                requested,
                .toolFinished(call: call.id, result: .failure("escalate: the arguments must be {\"reason\": \"...\"}")),
            ]
        }
        let kept = String(reason.prefix(ToolSpec.noteLimit))
        return [
            requested, .toolStarted(call: call.id), .escalated(task: current.map { tasks[$0].id }, reason: kept),
            .toolFinished(
                call: call.id, result: ToolResult(ok: true, output: "escalated; the run waits for a human's answer")),
            .runPaused(
                reason:
                    "escalated by the agent: \(kept.prefix(300)); answer, and resume",
                kind: .escalation),
        ]
    }

    /// The `note` tool runs inside the decision: its whole effect is an event, committed with its
    /// request and result in one append, so it can never be half done or in doubt.
    private func noteEvents(_ call: ToolCall) -> [Event] {
        let requested = Event.toolRequested(call: call.id, name: call.name, idempotent: true)
        let object = (try? JSONSerialization.jsonObject(with: Data(call.arguments.text.utf8))) as? [String: Any]
        guard let raw = object?["text"] as? String else {
            return [
                requested,
                .toolFinished(call: call.id, result: .failure("note: the arguments must be {\"text\": \"...\"}")),
            ]
        }
        let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else {
            return [requested, .toolFinished(call: call.id, result: .failure("note: the text is empty"))]
        }
        let limit = ToolSpec.noteLimit
        let kept = text.count > limit ? String(text.prefix(limit)) + " […]" : text
        let task = current.map { tasks[$0].id }
        return [
            requested, .toolStarted(call: call.id), .noteAdded(task: task, text: kept),
            .toolFinished(
                call: call.id,
                result: ToolResult(
                    ok: true,
                    output: Payload(
                        "noted" + (text.count > limit ? " (cut to \(limit) characters)" : "")
                            + "; the handoff note carries it to later turns and tasks"))),
        ]
    }

    private func failAttempt(_ task: PlanTask, _ progress: TaskProgress, feedback: String) -> [Event] {
        [.taskAttemptFailed(task: task.id, attempt: progress.attempts, feedback: Payload(feedback))]
            + nextAttemptOrBlock(task, progress)
    }

    private func nextAttemptOrBlock(_ task: PlanTask, _ progress: TaskProgress) -> [Event] {
        if progress.attempts < settings.maxAttempts {
            return [.taskStarted(task: task.id, attempt: progress.attempts + 1)]
        }
        let reason = "task \(task.id) failed its checks in all \(settings.maxAttempts) attempts"
        var events: [Event] = [.taskBlocked(task: task.id, reason: reason)]
        if settings.stopOnBlocked {
            events.append(.runFailed(reason: reason + " (the run stops on a blocked task)"))
        } else if policy != nil {
            // Under a policy a blocked task is escalated: a human sees it before the run moves on.
            events += [
                .escalated(task: task.id, reason: reason),
                .runPaused(
                    reason:
                        "escalated: \(reason); answer (or just resume to go on to the next task)",
                    kind: .escalation),
            ]
        }
        return events
    }

    /// The project's hooks for `on`, in the order configured.
    func hooks(_ on: Hook.When) -> [Hook] { (settings.hooks ?? []).filter { $0.on == on } }

    /// Which done claim the before_check hooks ran for.
    static func claimKey(_ task: TaskID, _ attempt: Int) -> String { "\(task.rawValue)#\(attempt)" }

    /// The feedback of an attempt that ended at its turn limit (views tell it from failed checks by it).
    public static func turnLimitFeedback(_ turns: Int) -> String {
        "The attempt used its \(turns) model turns without a done claim that passed the checks."
    }

    /// Whether `feedback` is an attempt's end at its turn limit.
    public static func isTurnLimit(_ feedback: String) -> Bool {
        feedback.hasPrefix("The attempt used its ")
            && feedback.hasSuffix(" model turns without a done claim that passed the checks.")
    }

    /// The `path` argument of a call, when it has one (the file a writing tool changes), as a hook
    /// receives it: relative to the workspace, normalised (every spelling of a file is one path),
    /// and never starting with `-`: `./--version` stays a path to the hook's program, where
    /// `--version` would be read as an option.
    static func pathArgument(_ call: ToolCall, workspace: String) -> String? {
        guard let path = call.parsed.path else { return nil }
        let normal = Policy.normalize(path, workspace: workspace)
        return normal.hasPrefix("-") ? "./" + normal : normal
    }
}

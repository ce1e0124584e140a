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
            return toolStep(tools)

        case let .checking(summary):
            return checkStep(i, task, progress, summary: summary)

        case .attemptFailed:
            return .emit(nextAttemptOrBlock(task, progress))
        }
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

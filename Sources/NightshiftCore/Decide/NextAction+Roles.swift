import Foundation

/// The roles' steps of ``RunState/nextAction(tools:)``: the planner's, the judge's, and a shift's
/// end (compaction and handoff) under the loop.
extension RunState {
    /// The planner's step: read its answer into a plan (or a rejection), or ask it (again).
    func planStep() -> Decision {
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
    func judgeStep(_ task: PlanTask, _ progress: TaskProgress) -> [Event] {
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
    func shiftStep(_ task: PlanTask) -> [Event]? {
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
}

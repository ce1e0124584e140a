import Foundation

/// The ratchet and the roles' rules, as pure functions of the folded state: which checks a done
/// claim must pass, when the judge is needed, and how full the worker's context is.
extension RunState {
    /// Whether `check` passed when the baseline was taken (false when it failed or was never run).
    public func passedAtBaseline(_ check: Check) -> Bool { planning.baselineExit[check.command] == check.expectExit }

    /// Every check of the plan (its guards, then each task's), once per command: what the baseline runs.
    public func baselineChecks() -> [Check] {
        guard let plan else { return [] }
        var seen = Set<String>()
        return ((plan.guards ?? []) + plan.tasks.flatMap(\.checks)).filter { seen.insert($0.command).inserted }
    }

    /// The checks a done claim of task `i` must pass: its own, then (under the ratchet) every other
    /// check that passed before — at the baseline, or as a check of a finished task. A check that
    /// already failed at the baseline and belongs to another unfinished task is left out: a
    /// pre-existing failure does not trap the loop.
    public func attemptChecks(_ i: Int) -> [Check] {
        guard let plan, i < plan.tasks.count else { return [] }
        let own = plan.tasks[i].checks
        guard settings.loop?.baseline == true else { return own }
        var seen = Set(own.map(\.command))
        var regression: [Check] = []
        for c in plan.guards ?? [] where passedAtBaseline(c) && seen.insert(c.command).inserted { regression.append(c) }
        for (j, t) in plan.tasks.enumerated() where j != i {
            let done = j < tasks.count && tasks[j].status == .done
            for c in t.checks where (done || passedAtBaseline(c)) && seen.insert(c.command).inserted {
                regression.append(c)
            }
        }
        return own + regression
    }

    /// Whether a check of task `i` shows progress: it is not a declared guard and it failed at the
    /// baseline. Without a baseline every check counts.
    public func hasEvidence(_ i: Int) -> Bool {
        guard let plan, i < plan.tasks.count else { return false }
        guard settings.loop?.baseline == true else { return !plan.tasks[i].checks.isEmpty }
        return plan.tasks[i].checks.contains { $0.alreadyPasses != true && !passedAtBaseline($0) }
    }

    /// The judge must pass task `i` when it has rubric items, or when no check of it can show progress.
    public func needsJudge(_ i: Int) -> Bool {
        guard settings.loop != nil, let plan, i < plan.tasks.count else { return false }
        return !(plan.tasks[i].rubric ?? []).isEmpty || !hasEvidence(i)
    }

    /// Bytes of the system prompt and tool schemas, counted into every estimate.
    static let fixedContextBytes = 6000

    /// The estimated tokens of the worker's next context: what is always there (guidance, task,
    /// checks, rubric, notes, handoff, feedback) plus the shift's turns since its last compaction.
    public func contextEstimate() -> Int {
        guard let i = current, let task = activeTask else { return 0 }
        var bytes = Self.fixedContextBytes + (gate.guidanceSpec?.utf8.count ?? 0) + task.description.utf8.count
        bytes +=
            task.checks.reduce(0) { $0 + $1.command.utf8.count + 24 }
            + (task.rubric ?? []).reduce(0) { $0 + $1.utf8.count + 4 }
        bytes +=
            (handoff?.markdown.utf8.count ?? 0) + (lastNote?.utf8.count ?? 0)
            + notes.reduce(0) { $0 + $1.text.utf8.count + 8 }
        bytes += guidance.reduce(0) { $0 + $1.utf8.count } + (tasks[i].feedback?.utf8.count ?? 0)
        return estimateTokens(bytes: bytes) + shiftState.shiftTokens
    }

    /// The turn number of the pending model call for its role (the scripted model plays by it).
    func awaitingTurn(task: TaskID) -> Int {
        let role = pending.awaitingRole ?? Role.worker
        if role == Role.worker, let i = current { return tasks[i].turns }
        return max(spend.roleCalls[role.rawValue + ":" + task.rawValue, default: 1] - 1, 0)
    }
}

import Foundation

extension RunState {
    /// REPORT.md: what was done, how many tries it took, what it cost and where the work is.
    /// Built from the state alone, so it is the same whoever finishes the run.
    func finalReport(summary: String) -> String {
        var out = "# Report: \(title)\n\n_Run \(run), written by Nightshift from the event log._\n\n**\(summary).**\n\n"
        out +=
            "| task | status | attempts | model turns | tool calls | checks | judge | cost | commit |\n|---|---|---|---|---|---|---|---|---|\n"
        for (i, t) in tasks.enumerated() {
            let checks = plan.map { $0.tasks[i].checks.count } ?? 0
            let passed = t.status == .done ? "\(checks)/\(checks) passed" : (checks == 0 ? "none" : "not passed")
            let judge = t.verdicts.isEmpty ? "—" : t.verdicts.map(\.rawValue).joined(separator: ", ")
            out +=
                "| \(t.id) | \(t.status.rawValue) | \(t.attempts) | \(t.turns) | \(t.toolCalls) | \(passed) | \(judge) | \(Money.format(t.costPicoUSD)) | "
                + (t.commit.map { "`\($0.prefix(10))`" } ?? "—") + " |\n"
        }
        let seconds = startTime > 0 ? (lastTime - startTime) / 1000 : 0
        out +=
            "\nTotal: \(spend.modelCalls) model calls, \(usage.input) input and \(usage.output) output tokens, \(Money.format(costPicoUSD))"
        let unpriced = spend.ledger.reduce(0) { $0 + $1.unpricedCalls }
        if unpriced > 0 { out += " (\(unpriced) calls without a price)" }
        out +=
            "; \(toolCalls) tool calls; \(seconds / 3600) h \(seconds / 60 % 60) min \(seconds % 60) s by the log's clock"
        if resumes > 0 { out += "; resumed \(resumes) times" }
        out += ".\n"
        if settings.loop != nil {
            var loopLine: [String] = []
            if goal != nil {
                loopLine.append(
                    "plan version \(planning.planVersion) by the planner"
                        + (planning.replans > 0 ? " (re-planned \(planning.replans) times)" : "")
                )
            }
            if !planning.baselineExit.isEmpty {
                let passing = baselineChecks().filter(passedAtBaseline).count
                loopLine.append("baseline: \(passing) of \(planning.baselineExit.count) checks passed before any work")
            }
            loopLine.append("\(shiftState.shifts) shifts, \(shiftState.compactions) context compactions")
            out += "\n" + loopLine.joined(separator: "; ") + ".\n"
        }
        if let branch { out += "\nThe work is on branch `\(branch)`.\n" }
        let blocked = tasks.filter { $0.status == .blocked }
        if !blocked.isEmpty {
            out +=
                "\nBlocked: "
                + blocked.map { "\($0.id)" + ($0.feedback.map { " (last feedback: \($0.prefix(200)))" } ?? "") }.joined(
                    separator: "; ") + "\n"
        }
        return out
    }

    func progressNote(_ task: PlanTask, _ progress: TaskProgress, summary: String) -> String {
        var note = "Task \(task.id) done on attempt \(progress.attempts) after \(progress.turns) model turns."
        if !summary.isEmpty { note += "\nWorker's summary: \(summary)" }
        if !task.checks.isEmpty {
            note += "\nChecks passed: " + task.checks.map { "`\($0.command)`" }.joined(separator: ", ")
        }
        return note
    }
}

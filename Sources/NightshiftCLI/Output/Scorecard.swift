import Foundation
import NightshiftCore
import NightshiftRuntime

/// `nightshift agents --scorecard`: a table for a person, or one JSON object per agent.
enum Scorecard {
    static func print(_ cards: [Scorecards.Card], json: Bool) {
        if json {
            for c in cards {
                var o: [String: Any] = [
                    "agent": c.agent.name, "version": c.agent.version, "runs": c.runs,
                    "tasks_finished": c.tasksFinished,
                    "first_attempt": c.firstAttempt, "rework_by_checks": c.reworkByChecks,
                    "rework_by_judge": c.reworkByJudge, "escalations": c.escalations,
                    "approvals_asked": c.approvalsAsked, "approvals_denied": c.approvalsDenied,
                    "budget_trips": c.budgetTrips, "breaker_trips": c.breakerTrips, "cost_pico_usd": c.costPicoUSD,
                    "tokens": c.tokens,
                ]
                if let r = c.firstAttemptRate { o["first_attempt_rate"] = r }
                if let r = c.reworkRate { o["rework_per_task"] = r }
                if let m = c.medianTaskMilliseconds { o["median_task_ms"] = m }
                if let data = try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]) {
                    say(String(decoding: data, as: UTF8.self))
                }
            }
            return
        }
        guard !cards.isEmpty else {
            say("no runs to score")
            return
        }
        say(
            pad("AGENT", 18) + pad("VERSION", 14) + pad("RUNS", 6) + pad("DONE", 6) + pad("1ST", 6) + pad("REWORK", 8)
                + pad("ESC", 5) + pad("ASKED/DENIED", 14) + pad("BUDGET/BRK", 12) + pad("$/TASK", 11)
                + pad("TOK/TASK", 10) + "MEDIAN")
        for c in cards {
            let percent = c.firstAttemptRate.map { "\(Int(($0 * 100).rounded()))%" } ?? "-"
            let rework = c.reworkRate.map { String(format: "%.2f", $0) } ?? "-"
            let cost = c.costPerTaskPicoUSD.map { Money.format($0) } ?? "-"
            let median = c.medianTaskMilliseconds.map { "\(($0 + 500) / 1000) s" } ?? "-"
            say(
                pad(c.agent.name, 18) + pad(c.agent.version, 14) + pad("\(c.runs)", 6) + pad("\(c.tasksFinished)", 6)
                    + pad(percent, 6) + pad(rework, 8) + pad("\(c.escalations)", 5)
                    + pad("\(c.approvalsAsked)/\(c.approvalsDenied)", 14)
                    + pad("\(c.budgetTrips)/\(c.breakerTrips)", 12)
                    + pad(cost, 11) + pad(c.tokensPerTask.map(String.init) ?? "-", 10) + median)
        }
    }
}

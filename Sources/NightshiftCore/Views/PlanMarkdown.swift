import Foundation

extension Plan {
    /// Why this plan cannot be used, or nil.
    public var problem: String? {
        if tasks.isEmpty { return "the plan has no tasks" }
        if Set(tasks.map(\.id)).count != tasks.count { return "task ids repeat" }
        return nil
    }

    /// PLAN.md: the plan as the harness holds it (the log is the truth; this is a view).
    public func markdown(version: Int, goal: String?) -> String {
        var out =
            "# Plan: \(title) (version \(version))\n\n_Written by Nightshift from the event log; editing it changes nothing._\n\n"
        if let goal { out += "Goal: \(goal)\n\n" }
        if let initScript { out += "Init script:\n\n```sh\n\(initScript)\n```\n\n" }
        if let guards, !guards.isEmpty {
            out += "Guards (must keep passing): " + guards.map { "`\($0.command)`" }.joined(separator: ", ") + "\n\n"
        }
        for (n, t) in tasks.enumerated() {
            out += "## \(n + 1). \(t.id)\n\n\(t.description)\n\nChecks:\n"
            out +=
                t.checks.map {
                    "- `\($0.command)` exits \($0.expectExit)" + ($0.alreadyPasses == true ? " (guard)" : "")
                }.joined(separator: "\n") + "\n"
            if let rubric = t.rubric {
                out += "\nRubric (the judge's):\n" + rubric.map { "- \($0)" }.joined(separator: "\n") + "\n"
            }
            out += "\n"
        }
        return out
    }
}

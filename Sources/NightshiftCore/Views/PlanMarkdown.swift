import Foundation

extension Plan {
    /// Why this plan cannot be used, or nil.
    public var problem: String? {
        if tasks.isEmpty { return "the plan has no tasks" }
        if Set(tasks.map(\.id)).count != tasks.count { return "task ids repeat" }
        return dependencyProblem
    }

    /// Why the tasks' `after` lists cannot be followed (an unknown task, itself, a cycle), or nil.
    public var dependencyProblem: String? {
        let ids = Set(tasks.map(\.id))
        for t in tasks {
            for d in t.after ?? [] {
                if d == t.id { return "task \(t.id) is listed in its own 'after'" }
                if !ids.contains(d) { return "task \(t.id) comes after '\(d)', which is no task of the plan" }
            }
        }
        // A cycle: some tasks could never start. Kahn's order, by the plan's order.
        var done = Set<TaskID>()
        var progress = true
        while progress {
            progress = false
            for t in tasks where !done.contains(t.id) && (t.after ?? []).allSatisfy(done.contains) {
                done.insert(t.id)
                progress = true
            }
        }
        if let stuck = tasks.first(where: { !done.contains($0.id) }) {
            return "task \(stuck.id)'s 'after' list goes round in a cycle: it could never start"
        }
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
            if let after = t.after, !after.isEmpty {
                out += "\nAfter: " + after.map(\.rawValue).joined(separator: ", ") + "\n"
            }
            if let rubric = t.rubric {
                out += "\nRubric (the judge's):\n" + rubric.map { "- \($0)" }.joined(separator: "\n") + "\n"
            }
            out += "\n"
        }
        return out
    }
}

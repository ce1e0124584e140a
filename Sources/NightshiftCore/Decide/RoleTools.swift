import Foundation

/// The role tools: how the planner, the judge and a shift's handoff answer. Their arguments are
/// read here, purely, so a bad answer becomes a recorded rejection, never a crash.
public enum RoleTools {
    public static let submitPlan = ToolSpec(
        name: "submit_plan",
        description:
            "Submit the plan: ordered tasks, each with acceptance checks (shell commands and the exit status they must return, "
            + "run by the harness), optional rubric items for the judge, optional 'after' (ids of tasks that must be done first), and an optional init script that prepares the workspace.",
        idempotent: true,
        parametersSchema:
            #"{"type":"object","properties":{"title":{"type":"string"},"init":{"type":"string"},"guards":{"type":"array","items":{"type":"string"}},"tasks":{"type":"array","items":{"type":"object","properties":{"id":{"type":"string"},"description":{"type":"string"},"checks":{"type":"array","items":{"type":"object","properties":{"command":{"type":"string"},"expect_exit":{"type":"integer"},"guard":{"type":"boolean"}},"required":["command"]}},"rubric":{"type":"array","items":{"type":"string"}},"after":{"type":"array","items":{"type":"string"}}},"required":["id","description","checks"]}}},"required":["title","tasks"]}"#
    )
    public static let submitVerdict = ToolSpec(
        name: "submit_verdict",
        description:
            "Give your verdict on the task: pass, rework (with concrete reasons the worker can act on) or escalate "
            + "(the task is mis-specified or needs a human).",
        idempotent: true,
        parametersSchema:
            #"{"type":"object","properties":{"verdict":{"type":"string","enum":["pass","rework","escalate"]},"reasons":{"type":"array","items":{"type":"string"}}},"required":["verdict","reasons"]}"#
    )
    public static let writeHandoff = ToolSpec(
        name: "write_handoff",
        description:
            "Write the handoff note for the next shift, which starts from it alone: what is done, what is left, what you learned, what is risky.",
        idempotent: true,
        parametersSchema:
            #"{"type":"object","properties":{"done":{"type":"string"},"left":{"type":"string"},"learned":{"type":"string"},"risks":{"type":"string"}},"required":["done","left"]}"#
    )

    static func arguments(_ r: RunState.RoleResponse, _ tool: ToolSpec) -> Result<[String: Any], RoleError> {
        guard let call = r.toolCalls.last(where: { $0.name == tool.name }) else {
            return .failure(
                RoleError(
                    "the answer did not call \(tool.name) (it called: \(r.toolCalls.map(\.name).joined(separator: ", ")))"
                ))
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(call.arguments.text.utf8))) as? [String: Any]
        else {
            return .failure(RoleError("the arguments of \(tool.name) are not a JSON object"))
        }
        return .success(object)
    }

    /// A plan from the planner's `submit_plan`; every task needs at least one check.
    public static func plan(_ r: RunState.RoleResponse) -> Result<Plan, RoleError> {
        let object: [String: Any]
        switch arguments(r, submitPlan) {
        case let .success(o): object = o
        case let .failure(e): return .failure(e)
        }
        guard let title = object["title"] as? String, !title.isEmpty else {
            return .failure(RoleError("the plan has no title"))
        }
        guard let list = object["tasks"] as? [Any], !list.isEmpty else {
            return .failure(RoleError("the plan has no tasks"))
        }
        // Bounds that keep a runaway answer from bloating every snapshot of the run.
        guard list.count <= Plan.maxTasks else {
            return .failure(
                RoleError("the plan has \(list.count) tasks; at most \(Plan.maxTasks): plan in larger steps"))
        }
        var tasks: [PlanTask] = []
        for (n, item) in list.enumerated() {
            guard let t = item as? [String: Any] else { return .failure(RoleError("task \(n + 1) is not an object")) }
            switch task(t, number: n + 1) {
            case let .success(task): tasks.append(task)
            case let .failure(e): return .failure(e)
            }
        }
        var guards: [Check] = []
        for (k, g) in ((object["guards"] as? [Any]) ?? []).enumerated() {
            switch check(g, "guard \(k + 1)") {
            case let .success(c): guards.append(c)
            case let .failure(e): return .failure(e)
            }
        }
        let initScript = (object["init"] as? String).flatMap {
            $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : $0
        }
        let plan = Plan(title: title, tasks: tasks, initScript: initScript, guards: guards.isEmpty ? nil : guards)
        if let problem = plan.problem { return .failure(RoleError(problem)) }
        return .success(plan)
    }

    /// One task as the planner (or a coordinator) writes it: an id, a description, at least one
    /// check, an optional rubric for the judge.
    static func task(_ t: [String: Any], number: Int) -> Result<PlanTask, RoleError> {
        guard let id = t["id"] as? String, !id.isEmpty, id != RunState.planTaskID.rawValue,
            id.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) })
        else {
            return .failure(
                RoleError("task \(number) needs an id of letters, digits, '-', '_' or '.' (and not 'plan')"))
        }
        guard let description = t["description"] as? String, !description.isEmpty else {
            return .failure(RoleError("task \(id) has no description"))
        }
        guard let rawChecks = t["checks"] as? [Any], !rawChecks.isEmpty else {
            return .failure(
                RoleError("task \(id) has no checks: every task needs a machine-checkable acceptance check"))
        }
        guard rawChecks.count <= Plan.maxChecksPerTask else {
            return .failure(RoleError("task \(id) has \(rawChecks.count) checks; at most \(Plan.maxChecksPerTask)"))
        }
        var checks: [Check] = []
        for (k, c) in rawChecks.enumerated() {
            switch check(c, "check \(k + 1) of task \(id)") {
            case let .success(c):
                // A repeated check would only run again at every claim: kept once.
                if !checks.contains(where: { $0.command == c.command && $0.expectExit == c.expectExit }) {
                    checks.append(c)
                }
            case let .failure(e): return .failure(e)
            }
        }
        let rubric = (t["rubric"] as? [Any])?.compactMap { $0 as? String }.filter { !$0.isEmpty }.prefix(20).map {
            String($0.prefix(1000))
        }
        // Ids of tasks that must be done first; which exist is checked with the whole plan.
        var after: [TaskID] = []
        if let raw = t["after"] {
            guard let list = raw as? [Any], list.count <= Plan.maxTasks else {
                return .failure(RoleError("task \(id): 'after' must be a list of task ids"))
            }
            for d in list {
                guard let s = d as? String, !s.isEmpty else {
                    return .failure(RoleError("task \(id): 'after' must be a list of task ids"))
                }
                if !after.contains(TaskID(s)) { after.append(TaskID(s)) }
            }
        }
        return .success(
            PlanTask(
                id: TaskID(id), description: description, checks: checks,
                rubric: (rubric?.isEmpty ?? true) ? nil : rubric, after: after.isEmpty ? nil : after))
    }

    /// One acceptance check as the planner (or a coordinator) writes it: a command, or
    /// `{command, expect_exit, timeout_seconds, guard}`.
    static func check(_ any: Any, _ what: String) -> Result<Check, RoleError> {
        if let command = any as? String, !command.isEmpty { return .success(Check(command: command)) }
        guard let o = any as? [String: Any], let command = o["command"] as? String, !command.isEmpty else {
            return .failure(RoleError("\(what) has no command"))
        }
        var c = Check(command: command)
        if let e = o["expect_exit"] as? Int {
            guard (0...255).contains(e) else { return .failure(RoleError("\(what): expect_exit must be 0…255")) }
            c.expectExit = Int32(e)
        }
        if let t = o["timeout_seconds"] as? Int, t > 0 { c.timeoutSeconds = min(t, 3600) }
        if o["guard"] as? Bool == true { c.alreadyPasses = true }
        return .success(c)
    }

    /// The judge's `submit_verdict`: rework needs at least one reason.
    public static func verdict(_ r: RunState.RoleResponse) -> Result<(verdict: Verdict, reasons: [String]), RoleError> {
        let object: [String: Any]
        switch arguments(r, submitVerdict) {
        case let .success(o): object = o
        case let .failure(e): return .failure(e)
        }
        guard let name = object["verdict"] as? String, let verdict = Verdict(rawValue: name), verdict != .invalid else {
            return .failure(RoleError("the verdict must be pass, rework or escalate"))
        }
        let reasons = ((object["reasons"] as? [Any]) ?? []).compactMap { $0 as? String }.filter { !$0.isEmpty }.map {
            String($0.prefix(2000))
        }
        if verdict != .pass, reasons.isEmpty {
            return .failure(RoleError("a \(verdict) verdict needs concrete reasons"))
        }
        return .success((verdict, Array(reasons.prefix(20))))
    }

    /// The handoff a shift leaves when its context is reset; a free-text answer is kept as "done".
    public static func handoff(_ r: RunState.RoleResponse) -> Handoff {
        guard case let .success(o) = arguments(r, writeHandoff) else {
            return Handoff(done: String(r.text.prefix(4000)), left: "(the worker wrote no structured handoff)")
        }
        func field(_ k: String) -> String { String(((o[k] as? String) ?? "").prefix(4000)) }
        return Handoff(done: field("done"), left: field("left"), learned: field("learned"), risks: field("risks"))
    }

    public struct RoleError: Error, Equatable, Sendable, CustomStringConvertible {
        public var message: String
        public init(_ message: String) { self.message = message }
        public var description: String { message }
    }
}

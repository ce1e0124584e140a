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

    /// The arguments of the role's answer through `tool`, decoded as `T`.
    static func arguments<T: Decodable>(
        _ r: RunState.RoleResponse, _ tool: ToolSpec, as _: T.Type
    ) -> Result<T, RoleError> {
        guard let call = r.toolCalls.last(where: { $0.name == tool.name }) else {
            return .failure(
                RoleError(
                    "the answer did not call \(tool.name) (it called: \(r.toolCalls.map(\.name).joined(separator: ", ")))"
                ))
        }
        return call.decode(T.self).mapError { RoleError("the arguments of \(tool.name): \($0)") }
    }

    /// A plan from the planner's `submit_plan`; every task needs at least one check.
    public static func plan(_ r: RunState.RoleResponse) -> Result<Plan, RoleError> {
        let object: PlanArguments
        switch arguments(r, submitPlan, as: PlanArguments.self) {
        case let .success(o): object = o
        case let .failure(e): return .failure(e)
        }
        guard let title = object.title, !title.isEmpty else {
            return .failure(RoleError("the plan has no title"))
        }
        guard let list = object.tasks, !list.isEmpty else {
            return .failure(RoleError("the plan has no tasks"))
        }
        // Bounds that keep a runaway answer from bloating every snapshot of the run.
        guard list.count <= Plan.maxTasks else {
            return .failure(
                RoleError("the plan has \(list.count) tasks; at most \(Plan.maxTasks): plan in larger steps"))
        }
        var tasks: [PlanTask] = []
        for (n, t) in list.enumerated() {
            switch task(t, number: n + 1) {
            case let .success(task): tasks.append(task)
            case let .failure(e): return .failure(e)
            }
        }
        var guards: [Check] = []
        for (k, g) in (object.guards ?? []).enumerated() {
            switch check(g, "guard \(k + 1)") {
            case let .success(c): guards.append(c)
            case let .failure(e): return .failure(e)
            }
        }
        let initScript = object.initScript.flatMap {
            $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : $0
        }
        let plan = Plan(title: title, tasks: tasks, initScript: initScript, guards: guards.isEmpty ? nil : guards)
        if let problem = plan.problem { return .failure(RoleError(problem)) }
        return .success(plan)
    }

    /// One task as the planner (or a coordinator) writes it: an id, a description, at least one
    /// check, an optional rubric for the judge.
    static func task(_ t: TaskArguments, number: Int) -> Result<PlanTask, RoleError> {
        guard let id = t.id, !id.isEmpty, id != RunState.planTaskID.rawValue,
            id.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) })
        else {
            return .failure(
                RoleError("task \(number) needs an id of letters, digits, '-', '_' or '.' (and not 'plan')"))
        }
        guard let description = t.description, !description.isEmpty else {
            return .failure(RoleError("task \(id) has no description"))
        }
        guard let rawChecks = t.checks, !rawChecks.isEmpty else {
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
        let rubric = t.rubric?.values.filter { !$0.isEmpty }.prefix(20).map { String($0.prefix(1000)) }
        // Ids of tasks that must be done first; which exist is checked with the whole plan.
        var after: [TaskID] = []
        if let list = t.after {
            guard list.count <= Plan.maxTasks, list.allSatisfy({ !$0.isEmpty }) else {
                return .failure(RoleError("task \(id): 'after' must be a list of task ids"))
            }
            for s in list where !after.contains(TaskID(s)) { after.append(TaskID(s)) }
        }
        return .success(
            PlanTask(
                id: TaskID(id), description: description, checks: checks,
                rubric: (rubric?.isEmpty ?? true) ? nil : rubric, after: after.isEmpty ? nil : after))
    }

    /// One acceptance check as the planner (or a coordinator) writes it: a command, or
    /// `{command, expect_exit, timeout_seconds, guard}`.
    static func check(_ o: CheckArguments, _ what: String) -> Result<Check, RoleError> {
        guard let command = o.command, !command.isEmpty else {
            return .failure(RoleError("\(what) has no command"))
        }
        var c = Check(command: command)
        if let e = o.expectExit {
            guard (0...255).contains(e) else { return .failure(RoleError("\(what): expect_exit must be 0…255")) }
            c.expectExit = Int32(e)
        }
        if let t = o.timeoutSeconds, t > 0 { c.timeoutSeconds = min(t, 3600) }
        if o.isGuard == true { c.alreadyPasses = true }
        return .success(c)
    }

    /// The judge's `submit_verdict`: rework needs at least one reason.
    public static func verdict(_ r: RunState.RoleResponse) -> Result<(verdict: Verdict, reasons: [String]), RoleError> {
        let object: VerdictArguments
        switch arguments(r, submitVerdict, as: VerdictArguments.self) {
        case let .success(o): object = o
        case let .failure(e): return .failure(e)
        }
        guard let name = object.verdict, let verdict = Verdict(rawValue: name), verdict != .invalid else {
            return .failure(RoleError("the verdict must be pass, rework or escalate"))
        }
        let reasons = (object.reasons?.values ?? []).filter { !$0.isEmpty }.map { String($0.prefix(2000)) }
        if verdict != .pass, reasons.isEmpty {
            return .failure(RoleError("a \(verdict) verdict needs concrete reasons"))
        }
        return .success((verdict, Array(reasons.prefix(20))))
    }

    /// The handoff a shift leaves when its context is reset; a free-text answer is kept as "done".
    public static func handoff(_ r: RunState.RoleResponse) -> Handoff {
        guard case let .success(o) = arguments(r, writeHandoff, as: HandoffArguments.self) else {
            return Handoff(done: String(r.text.prefix(4000)), left: "(the worker wrote no structured handoff)")
        }
        func field(_ v: String?) -> String { String((v ?? "").prefix(4000)) }
        return Handoff(done: field(o.done), left: field(o.left), learned: field(o.learned), risks: field(o.risks))
    }

    public struct RoleError: Error, Equatable, Sendable, CustomStringConvertible {
        public var message: String
        public init(_ message: String) { self.message = message }
        public var description: String { message }
    }
}

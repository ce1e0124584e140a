import Foundation
public import NightshiftCore
import Yams

/// Loads a plan file:
///
/// ```yaml
/// title: Fix the calculator
/// tasks:
///   - id: fix-add
///     description: make add() return the sum
///     checks:
///       - command: python3 -m unittest tests.test_add
///         expect_exit: 0        # optional, default 0
///         timeout_seconds: 60   # optional, default 120
/// ```
public enum PlanFile {
    public static func load(path: String) throws(FileError) -> Plan {
        try parse(try YAMLReader.readText(path, what: "plan"), file: path)
    }

    public static func parse(_ text: String, file: String) throws(FileError) -> Plan {
        let r = YAMLReader(file: file)
        let root = try r.load(text)
        let top = try r.mapping(root, "the plan")
        try r.checkKeys(top, allowed: ["title", "tasks", "init", "guards"], in: "the plan")
        guard let tasksNode = top.first(where: { $0.key == "tasks" })?.value else {
            throw r.fail(root, "the plan has no 'tasks' list")
        }
        let title =
            try top.first(where: { $0.key == "title" }).map { e throws(FileError) in try r.string(e.value, "title") }
            ?? URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        var tasks: [PlanTask] = []
        var afterNodes: [TaskID: Node] = [:]
        let items = try r.sequence(tasksNode, "'tasks'")
        guard !items.isEmpty else { throw r.fail(tasksNode, "'tasks' is empty: a plan needs at least one task") }
        guard items.count <= Plan.maxTasks else {
            throw r.fail(
                tasksNode, "the plan has \(items.count) tasks; at most \(Plan.maxTasks): split it into several plans")
        }
        for (n, item) in items.enumerated() {
            let what = "task \(n + 1)"
            let fields = try r.mapping(item, what)
            try r.checkKeys(fields, allowed: ["id", "description", "checks", "rubric", "after"], in: what)
            guard let idNode = fields.first(where: { $0.key == "id" })?.value else {
                throw r.fail(item, "\(what) has no 'id'")
            }
            let id = try r.string(idNode, "\(what)'s id")
            guard !id.isEmpty, id.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                throw r.fail(idNode, "\(what)'s id '\(id)' must be letters, digits, '-', '_' or '.'")
            }
            guard !tasks.contains(where: { $0.id.rawValue == id }) else {
                throw r.fail(idNode, "task id '\(id)' is used twice")
            }
            guard let descNode = fields.first(where: { $0.key == "description" })?.value else {
                throw r.fail(item, "task '\(id)' has no 'description'")
            }
            let description = try r.string(descNode, "task '\(id)' description")
            var checks: [Check] = []
            if let checksNode = fields.first(where: { $0.key == "checks" })?.value {
                let list = try r.sequence(checksNode, "task '\(id)' checks")
                guard list.count <= Plan.maxChecksPerTask else {
                    throw r.fail(checksNode, "task '\(id)' has \(list.count) checks; at most \(Plan.maxChecksPerTask)")
                }
                for (k, c) in list.enumerated() {
                    let made = try check(r, c, "check \(k + 1) of task '\(id)'")
                    // Each check runs at every done claim: a repeat only costs time.
                    if let first = checks.firstIndex(where: {
                        $0.command == made.command && $0.expectExit == made.expectExit
                    }) {
                        throw r.fail(
                            c, "check \(k + 1) of task '\(id)' repeats check \(first + 1); list each check once")
                    }
                    checks.append(made)
                }
            }
            var rubric: [String]?
            if let rubricNode = fields.first(where: { $0.key == "rubric" })?.value {
                rubric = try r.sequence(rubricNode, "task '\(id)' rubric").map { n throws(FileError) in
                    try r.string(n, "a rubric item of task '\(id)'")
                }
            }
            var after: [TaskID]?
            if let afterNode = fields.first(where: { $0.key == "after" })?.value {
                let list = try r.sequence(afterNode, "task '\(id)' after").map { n throws(FileError) in
                    TaskID(try r.string(n, "a task id in task '\(id)' after"))
                }
                afterNodes[TaskID(id)] = afterNode
                after = list.isEmpty ? nil : list
            }
            tasks.append(
                PlanTask(
                    id: TaskID(id), description: description, checks: checks,
                    rubric: (rubric?.isEmpty ?? true) ? nil : rubric, after: after))
        }
        // Dependencies are checked once every id is known (a task may come after a later one).
        let plan = Plan(title: title, tasks: tasks)
        if let problem = plan.dependencyProblem {
            let culprit = tasks.first { problem.hasPrefix("task \($0.id)") }
            throw r.fail(culprit.flatMap { afterNodes[$0.id] } ?? tasksNode, problem)
        }
        let initScript = try top.first(where: { $0.key == "init" }).map { e throws(FileError) in
            try r.string(e.value, "init")
        }
        var guards: [Check]?
        if let guardsNode = top.first(where: { $0.key == "guards" })?.value {
            guards = try r.sequence(guardsNode, "'guards'").enumerated().map { k, c throws(FileError) in
                try check(r, c, "guard \(k + 1)")
            }
        }
        return Plan(title: title, tasks: tasks, initScript: initScript, guards: guards)
    }

    /// A check: a plain command string, or {command, expect_exit, timeout_seconds, guard}.
    static func check(_ r: YAMLReader, _ c: Node, _ cw: String) throws(FileError) -> Check {
        if case .scalar = c { return Check(command: try r.string(c, cw)) }
        let cf = try r.mapping(c, cw)
        try r.checkKeys(cf, allowed: ["command", "expect_exit", "timeout_seconds", "guard"], in: cw)
        guard let cmd = cf.first(where: { $0.key == "command" })?.value else {
            throw r.fail(c, "\(cw) has no 'command'")
        }
        var check = Check(command: try r.string(cmd, "\(cw) command"))
        if let e = cf.first(where: { $0.key == "expect_exit" })?.value {
            let v = try r.int(e, "\(cw) expect_exit")
            guard (0...255).contains(v) else { throw r.fail(e, "\(cw) expect_exit must be 0…255") }
            check.expectExit = Int32(v)
        }
        if let t = cf.first(where: { $0.key == "timeout_seconds" })?.value {
            let v = try r.int(t, "\(cw) timeout_seconds")
            guard (1...86_400).contains(v) else { throw r.fail(t, "\(cw) timeout_seconds must be 1…86400 (a day)") }
            check.timeoutSeconds = v
        }
        if let g = cf.first(where: { $0.key == "guard" })?.value {
            guard case let .scalar(s) = g, ["true", "false"].contains(s.string) else {
                throw r.fail(g, "\(cw) guard must be true or false")
            }
            check.alreadyPasses = s.string == "true" ? true : nil
        }
        return check
    }
}

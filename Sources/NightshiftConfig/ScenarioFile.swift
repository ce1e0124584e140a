import Foundation
public import NightshiftCore
public import NightshiftModels
import Yams

/// Loads a scenario for the scripted model (a test double):
///
/// ```yaml
/// tasks:
///   fix-add:                      # a task id of the plan
///     - say: Let me look.         # optional text
///       tools:                    # optional tool calls: {tool_name: {arguments}}
///         - read_file: {path: calc.py}
///     - tools:
///         - write_file: {path: calc.py, content: "..."}
///       done: Fixed add()         # claims the task done, with a summary
///       usage: {input: 900, output: 120}   # optional declared token usage
/// ```
public enum ScenarioFile {
    public static func load(path: String) throws(FileError) -> Scenario {
        try parse(try YAMLReader.readText(path, what: "scenario"), file: path)
    }

    public static func parse(_ text: String, file: String) throws(FileError) -> Scenario {
        let r = YAMLReader(file: file)
        let root = try r.load(text)
        let top = try r.mapping(root, "the scenario")
        try r.checkKeys(
            top, allowed: ["tasks", "planner", "judge", "compactor", "handoff", "dreamer"], in: "the scenario")
        guard let tasksNode = top.first(where: { $0.key == "tasks" })?.value else {
            throw r.fail(root, "the scenario has no 'tasks' mapping")
        }
        var roleTurns: [Role: [TaskID: [Scenario.Turn]]] = [:]
        for entry in top where entry.key != "tasks" {
            guard let role = Role(rawValue: entry.key), role != .worker else {
                throw r.fail(
                    entry.keyNode,
                    "unknown key '\(entry.key)'; expected tasks, planner, judge, compactor, handoff or dreamer")
            }
            if role == .planner {
                roleTurns[.planner] = [TaskID("plan"): try turnList(r, entry.value, "the planner")]
            } else if role == .dreamer {
                // One turn per dream, in the order the dreams are made.
                roleTurns[.dreamer] = [Dream.taskID: try turnList(r, entry.value, "the dreamer")]
            } else {
                var byTask: [TaskID: [Scenario.Turn]] = [:]
                for t in try r.mapping(entry.value, "'\(entry.key)'") {
                    byTask[TaskID(t.key)] = try turnList(r, t.value, "\(entry.key) '\(t.key)'")
                }
                roleTurns[role] = byTask
            }
        }
        var turns: [TaskID: [Scenario.Turn]] = [:]
        for entry in try r.mapping(tasksNode, "'tasks'") {
            turns[TaskID(entry.key)] = try turnList(r, entry.value, "task '\(entry.key)'")
        }
        return Scenario(source: URL(fileURLWithPath: file).lastPathComponent, turns: turns, roleTurns: roleTurns)
    }

    static func turnList(_ r: YAMLReader, _ node: Node, _ owner: String) throws(FileError) -> [Scenario.Turn] {
        var list: [Scenario.Turn] = []
        for (n, turnNode) in try r.sequence(node, "the turns of \(owner)").enumerated() {
            let what = "turn \(n + 1) of \(owner)"
            let fields = try r.mapping(turnNode, what)
            try r.checkKeys(
                fields,
                allowed: [
                    "say", "tools", "done", "usage", "cost_usd", "handoff", "plan", "verdict", "reasons", "proposals",
                ],
                in: what)
            var turn = Scenario.Turn()
            var verdict: String?
            var reasons: [Any] = []
            for f in fields {
                switch f.key {
                case "say": turn.say = try r.string(f.value, "\(what) 'say'")
                case "done":
                    if case let .scalar(s) = f.value, s.string == "true" {
                        turn.done = ""
                    } else {
                        turn.done = try r.string(f.value, "\(what) 'done'")
                    }
                case "cost_usd":
                    let text = try r.string(f.value, "\(what) 'cost_usd'")
                    guard let pico = Money.parseUSD(text) else {
                        throw r.fail(f.value, "\(what) cost_usd must be dollars like 0.40")
                    }
                    guard pico <= Money.maxPicoPerCall else {
                        throw r.fail(f.value, "\(what) cost_usd must be at most 100000 (one call)")
                    }
                    turn.costPicoUSD = pico
                case "handoff":
                    let h = try r.mapping(f.value, "\(what) 'handoff'")
                    try r.checkKeys(h, allowed: ["done", "left", "learned", "risks"], in: "\(what) handoff")
                    var note = Handoff()
                    for x in h {
                        let v = try r.string(x.value, "handoff \(x.key)")
                        switch x.key {
                        case "done": note.done = v
                        case "left": note.left = v
                        case "learned": note.learned = v
                        default: note.risks = v
                        }
                    }
                    turn.handoff = note
                case "plan":
                    turn.toolCalls.append(
                        ProposedToolCall(name: "submit_plan", arguments: try jsonText(r, f.value, "\(what) 'plan'")))
                case "verdict": verdict = try r.string(f.value, "\(what) 'verdict'")
                case "reasons": reasons = (try r.jsonValue(f.value) as? [Any]) ?? []
                case "proposals":
                    // The dreamer's answer: submit_proposals with this list.
                    guard let list = try r.jsonValue(f.value) as? [Any] else {
                        throw r.fail(f.value, "\(what) 'proposals' must be a list")
                    }
                    let data =
                        (try? JSONSerialization.data(
                            withJSONObject: ["proposals": list], options: [.sortedKeys, .withoutEscapingSlashes]))
                        ?? Data("{}".utf8)
                    turn.toolCalls.append(
                        ProposedToolCall(name: DreamRules.tool.name, arguments: String(decoding: data, as: UTF8.self)))
                case "usage":
                    let u = try r.mapping(f.value, "\(what) 'usage'")
                    try r.checkKeys(u, allowed: ["input", "output", "cached_input"], in: "\(what) usage")
                    var usage = TokenUsage()
                    for x in u {
                        let v = try r.int(x.value, "usage \(x.key)")
                        switch x.key {
                        case "input": usage.input = v
                        case "output": usage.output = v
                        default: usage.cachedInput = v
                        }
                    }
                    if let why = usage.implausibility { throw r.fail(f.value, "\(what) usage is out of range: \(why)") }
                    turn.usage = usage
                default:  // tools
                    for callNode in try r.sequence(f.value, "\(what) 'tools'") {
                        let call = try r.mapping(callNode, "a tool call in \(what)")
                        guard call.count == 1, let only = call.first else {
                            throw r.fail(callNode, "a tool call in \(what) must be one 'tool_name: {arguments}' entry")
                        }
                        turn.toolCalls.append(
                            ProposedToolCall(
                                name: only.key, arguments: try jsonText(r, only.value, "the arguments of '\(only.key)'")
                            ))
                    }
                }
            }
            if let verdict {
                let object: [String: Any] = ["verdict": verdict, "reasons": reasons]
                let data =
                    (try? JSONSerialization.data(
                        withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
                turn.toolCalls.append(
                    ProposedToolCall(name: "submit_verdict", arguments: String(decoding: data, as: UTF8.self)))
            }
            list.append(turn)
        }
        return list
    }

    /// A YAML mapping as compact JSON object text.
    static func jsonText(_ r: YAMLReader, _ node: Node, _ what: String) throws(FileError) -> String {
        let args = try r.jsonValue(node)
        guard args is [String: Any] else { throw r.fail(node, "\(what) must be a mapping") }
        let data =
            (try? JSONSerialization.data(withJSONObject: args, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

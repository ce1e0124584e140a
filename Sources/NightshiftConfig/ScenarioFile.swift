public import NightshiftCore
public import NightshiftModels
import Foundation
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
        try r.checkKeys(top, allowed: ["tasks"], in: "the scenario")
        guard let tasksNode = top.first(where: { $0.key == "tasks" })?.value else { throw r.fail(root, "the scenario has no 'tasks' mapping") }
        var turns: [TaskID: [Scenario.Turn]] = [:]
        for entry in try r.mapping(tasksNode, "'tasks'") {
            var list: [Scenario.Turn] = []
            for (n, turnNode) in try r.sequence(entry.value, "the turns of task '\(entry.key)'").enumerated() {
                let what = "turn \(n + 1) of task '\(entry.key)'"
                let fields = try r.mapping(turnNode, what)
                try r.checkKeys(fields, allowed: ["say", "tools", "done", "usage", "cost_usd"], in: what)
                var turn = Scenario.Turn()
                for f in fields {
                    switch f.key {
                    case "say": turn.say = try r.string(f.value, "\(what) 'say'")
                    case "done":
                        if case let .scalar(s) = f.value, s.string == "true" { turn.done = "" } else { turn.done = try r.string(f.value, "\(what) 'done'") }
                    case "cost_usd":
                        let text = try r.string(f.value, "\(what) 'cost_usd'")
                        guard let pico = Money.parseUSD(text) else { throw r.fail(f.value, "\(what) cost_usd must be dollars like 0.40") }
                        turn.costPicoUSD = pico
                    case "usage":
                        let u = try r.mapping(f.value, "\(what) 'usage'")
                        try r.checkKeys(u, allowed: ["input", "output", "cached_input"], in: "\(what) usage")
                        var usage = TokenUsage()
                        for x in u {
                            let v = try r.int(x.value, "usage \(x.key)")
                            switch x.key { case "input": usage.input = v; case "output": usage.output = v; default: usage.cachedInput = v }
                        }
                        turn.usage = usage
                    default: // tools
                        for callNode in try r.sequence(f.value, "\(what) 'tools'") {
                            let call = try r.mapping(callNode, "a tool call in \(what)")
                            guard call.count == 1, let only = call.first else {
                                throw r.fail(callNode, "a tool call in \(what) must be one 'tool_name: {arguments}' entry")
                            }
                            let args = try r.jsonValue(only.value)
                            guard args is [String: Any] else { throw r.fail(only.value, "the arguments of '\(only.key)' must be a mapping") }
                            let data = (try? JSONSerialization.data(withJSONObject: args, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
                            turn.toolCalls.append(ProposedToolCall(name: only.key, arguments: String(decoding: data, as: UTF8.self)))
                        }
                    }
                }
                list.append(turn)
            }
            turns[TaskID(entry.key)] = list
        }
        return Scenario(source: URL(fileURLWithPath: file).lastPathComponent, turns: turns)
    }
}

import Foundation
public import NightshiftCore

/// A scenario for the scripted model: for each task, the turns to play in order.
public struct Scenario: Sendable, Equatable {
    public struct Turn: Sendable, Equatable {
        public var say: String
        public var toolCalls: [ProposedToolCall]
        /// Non-nil: the turn claims the task done with this summary.
        public var done: String?
        /// Declared usage; when nil, estimated from the context and reply sizes (4 bytes a token).
        public var usage: TokenUsage?
        /// Declared cost in 10⁻¹² USD (the scripted model has no price); nil: unpriced, like an unknown model.
        public var costPicoUSD: Int64?
        /// A worker's done claim's handoff fields; for the handoff role, the note it writes.
        public var handoff: Handoff?
        public init(
            say: String = "", toolCalls: [ProposedToolCall] = [], done: String? = nil, usage: TokenUsage? = nil,
            costPicoUSD: Int64? = nil,
            handoff: Handoff? = nil
        ) {
            self.say = say
            self.toolCalls = toolCalls
            self.done = done
            self.usage = usage
            self.costPicoUSD = costPicoUSD
            self.handoff = handoff
        }
    }
    /// Where the scenario came from, for messages ("demo.yaml").
    public var source: String
    public var turns: [TaskID: [Turn]]
    /// Turns of the other roles (planner, judge, compactor, handoff) by task ("plan" for the planner).
    public var roleTurns: [Role: [TaskID: [Turn]]]
    public init(source: String, turns: [TaskID: [Turn]], roleTurns: [Role: [TaskID: [Turn]]] = [:]) {
        self.source = source
        self.turns = turns
        self.roleTurns = roleTurns
    }
}

/// A deterministic model that plays a scenario: the turn it plays depends only on the request
/// (task and turn number), so a resumed run continues exactly where it left off.
///
/// This is a **test double**: it drives the tests and the demo and is labelled "scripted"
/// wherever a run shows its model.
public struct ScriptedModel: ModelProvider {
    public let scenario: Scenario
    public init(scenario: Scenario) { self.scenario = scenario }

    public var label: String { "scripted:\(scenario.source) (test double)" }

    public func respond(to request: ModelRequest) async throws -> ModelResponse {
        if request.role != Role.worker { return try respondInRole(request) }
        guard let turns = scenario.turns[request.task.id] else {
            throw ScriptedModelError(
                "the scenario \(scenario.source) has no turns for task '\(request.task.id)': add a '\(request.task.id):' entry under 'tasks'"
            )
        }
        guard request.turn < turns.count else {
            throw ScriptedModelError(
                "the scenario \(scenario.source) ends after \(turns.count) turn(s) of task '\(request.task.id)', but the run needs turn \(request.turn + 1): add turns, or make the last one claim the task done"
            )
        }
        let turn = turns[request.turn]
        let usage =
            turn.usage
            ?? TokenUsage(
                input: ScriptedModel.estimateTokens(request),
                output: (turn.say.utf8.count + turn.toolCalls.reduce(0) { $0 + $1.arguments.utf8.count }) / 4 + 1)
        return ModelResponse(
            text: turn.say, toolCalls: turn.toolCalls, claimsDone: turn.done != nil, summary: turn.done,
            usage: usage, model: "scripted", costPicoUSD: turn.costPicoUSD,
            handoff: turn.done != nil ? turn.handoff : nil)
    }

    /// The planner, judge, compactor and handoff roles. Planner and judge turns must be in the
    /// scenario; a compactor or handoff turn that is not is made up mechanically from the request
    /// (and says so), so long scripted runs need not script every summary.
    func respondInRole(_ request: ModelRequest) throws -> ModelResponse {
        let role = request.role
        let turns = scenario.roleTurns[role]?[request.task.id] ?? []
        let usage = TokenUsage(input: ScriptedModel.estimateTokens(request), output: 50)
        guard request.turn < turns.count else {
            switch role {
            case Role.compactor:
                let calls = request.transcript.compactMap { e -> String? in
                    if case let .assistant(_, calls) = e {
                        return calls.map(\.name).joined(separator: ", ")
                    } else {
                        return nil
                    }
                }.filter { !$0.isEmpty }
                return ModelResponse(
                    text:
                        "Scripted summary (test double) of \(request.transcript.count) transcript entries; tools called: "
                        + (calls.isEmpty ? "none" : calls.joined(separator: "; ")), usage: usage, model: "scripted")
            case Role.handoff:
                let args =
                    #"{"done":"scripted handoff (test double): shift of task \#(request.task.id) ended","left":"finish task \#(request.task.id)"}"#
                return ModelResponse(
                    text: "", toolCalls: [ProposedToolCall(name: "write_handoff", arguments: args)], usage: usage,
                    model: "scripted")
            default:
                let example =
                    role == Role.planner
                    ? "planner: [{plan: {title: …, tasks: […]}}]"
                    : role == Role.dreamer
                        ? "dreamer: [{proposals: […]}], one turn per dream"
                        : "judge: {\(request.task.id): [{verdict: pass}]}"
                throw ScriptedModelError(
                    "the scenario \(scenario.source) has \(turns.count) \(role) turn(s) for '\(request.task.id)', but the run needs turn \(request.turn + 1): add them (\(example))"
                )
            }
        }
        let turn = turns[request.turn]
        var calls = turn.toolCalls
        if role == Role.handoff, let h = turn.handoff {
            let object = ["done": h.done, "left": h.left, "learned": h.learned, "risks": h.risks]
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
            calls.append(ProposedToolCall(name: "write_handoff", arguments: String(decoding: data, as: UTF8.self)))
        }
        return ModelResponse(
            text: turn.say, toolCalls: calls, usage: turn.usage ?? usage, model: "scripted",
            costPicoUSD: turn.costPicoUSD)
    }

    /// A rough token count of the context (4 bytes a token), so usage figures move like a real model's.
    static func estimateTokens(_ r: ModelRequest) -> Int {
        var bytes = r.task.description.utf8.count + (r.progressNote?.utf8.count ?? 0) + (r.feedback?.utf8.count ?? 0)
        for n in r.notices { bytes += n.utf8.count }
        for e in r.transcript {
            switch e {
            case let .assistant(text, calls):
                bytes += text.utf8.count + calls.reduce(0) { $0 + $1.arguments.text.utf8.count }
            case let .toolResult(_, _, _, output): bytes += output.utf8.count
            case let .notice(text): bytes += text.utf8.count
            }
        }
        return bytes / 4 + 1
    }
}

public struct ScriptedModelError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

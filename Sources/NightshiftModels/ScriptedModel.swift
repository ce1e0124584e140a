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
        public init(say: String = "", toolCalls: [ProposedToolCall] = [], done: String? = nil, usage: TokenUsage? = nil, costPicoUSD: Int64? = nil) {
            self.say = say; self.toolCalls = toolCalls; self.done = done; self.usage = usage; self.costPicoUSD = costPicoUSD
        }
    }
    /// Where the scenario came from, for messages ("demo.yaml").
    public var source: String
    public var turns: [TaskID: [Turn]]
    public init(source: String, turns: [TaskID: [Turn]]) { self.source = source; self.turns = turns }
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
        guard let turns = scenario.turns[request.task.id] else {
            throw ScriptedModelError("the scenario \(scenario.source) has no turns for task '\(request.task.id)': add a '\(request.task.id):' entry under 'tasks'")
        }
        guard request.turn < turns.count else {
            throw ScriptedModelError("the scenario \(scenario.source) ends after \(turns.count) turn(s) of task '\(request.task.id)', but the run needs turn \(request.turn + 1): add turns, or make the last one claim the task done")
        }
        let turn = turns[request.turn]
        let usage = turn.usage ?? TokenUsage(input: ScriptedModel.estimateTokens(request),
                                             output: (turn.say.utf8.count + turn.toolCalls.reduce(0) { $0 + $1.arguments.utf8.count }) / 4 + 1)
        return ModelResponse(text: turn.say, toolCalls: turn.toolCalls, claimsDone: turn.done != nil, summary: turn.done,
                             usage: usage, model: "scripted", costPicoUSD: turn.costPicoUSD)
    }

    /// A rough token count of the context (4 bytes a token), so usage figures move like a real model's.
    static func estimateTokens(_ r: ModelRequest) -> Int {
        var bytes = r.task.description.utf8.count + (r.progressNote?.utf8.count ?? 0) + (r.feedback?.utf8.count ?? 0)
        for n in r.notices { bytes += n.utf8.count }
        for e in r.transcript {
            switch e {
            case let .assistant(text, calls): bytes += text.utf8.count + calls.reduce(0) { $0 + $1.arguments.text.utf8.count }
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

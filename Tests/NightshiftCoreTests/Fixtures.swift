import NightshiftCore

/// Builds a chained log in memory and folds it, the way a store would.
struct LogBuilder {
    let run = RunID("r1")
    var envelopes: [EventEnvelope] = []
    var state: RunState

    init() { state = RunState(run: run) }

    /// Appends and applies `event`; throws the reducer's error (and appends nothing) if invalid.
    mutating func add(_ event: Event) throws {
        let seq = Int64(envelopes.count + 1)
        let e = try EventCodec.encode(
            event, run: run, seq: seq, time: Timestamp(milliseconds: 1_000 + seq),
            previousHash: envelopes.last?.hash ?? EventCodec.genesisHash
        ).envelope
        try state.apply(e)
        envelopes.append(e)
    }

    mutating func add(_ events: [Event]) throws { for e in events { try add(e) } }

    /// Applies whatever `nextAction` emits until it asks for IO or stops.
    @discardableResult
    mutating func advance(tools: ToolCatalog = .standard) throws -> Decision {
        while true {
            let d = state.nextAction(tools: tools)
            guard case let .emit(events) = d else { return d }
            try add(events)
        }
    }
}

extension ToolCatalog {
    static let standard = ToolCatalog([
        ToolSpec(name: "shell", description: "", idempotent: false, parametersSchema: "{}"),
        ToolSpec(name: "read_file", description: "", idempotent: true, parametersSchema: "{}"),
    ])
}

let twoTasks = Plan(
    title: "t",
    tasks: [
        PlanTask(id: TaskID("a"), description: "do a", checks: [Check(command: "test -f a")]),
        PlanTask(id: TaskID("b"), description: "do b", checks: []),
    ])

func created(_ settings: RunSettings = RunSettings(maxAttempts: 2)) -> [Event] {
    [.runCreated(title: "t", workspace: "/w", model: "scripted:x", settings: settings), .planSet(plan: twoTasks)]
}

func response(_ call: String, tools: [(String, String)] = [], done: Bool = false) -> Event {
    let id = CallID(call)
    return .modelResponded(
        call: id, text: "ok",
        toolCalls: tools.enumerated().map {
            ToolCall(id: RunState.toolCallID(id, $0.offset + 1), name: $0.element.0, arguments: Payload($0.element.1))
        },
        claimsDone: done, summary: done ? "did it" : nil, usage: TokenUsage(input: 10, output: 2), model: "scripted",
        costPicoUSD: nil)
}

import NightshiftCore

/// The tools an agent profile allows, and no others: the model is offered only those, and a call
/// to any other is refused (a model may name a tool it was not offered).
struct ProfileToolRunner: ToolRunner {
    let inner: any ToolRunner
    let globs: [String]

    var specs: [ToolSpec] { inner.specs.filter { AgentProfile.allows(globs, $0.name) } }

    func run(_ call: ToolCall, workspace: String) async -> ToolResult {
        guard AgentProfile.allows(globs, call.name) else {
            return .failure("'\(call.name)' is not among the tools this agent's profile allows")
        }
        return await inner.run(call, workspace: workspace)
    }

    func takeEvents() async -> [Event] { await inner.takeEvents() }
    func deadline(for call: ToolCall) -> Duration? { inner.deadline(for: call) }
}

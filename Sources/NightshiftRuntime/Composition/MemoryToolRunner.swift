import Foundation
import NightshiftCore

/// Adds `recall` to a run's tools: a search of the memory bank, in the run's own scopes only
/// (a run never reads another profile's, user's or project's memories through it).
struct MemoryToolRunner: ToolRunner {
    let inner: any ToolRunner
    let bank: any MemoryStore
    let scopes: [MemoryScope]
    /// For memories' expiry.
    var clock: any WallClock = Adapters.clock

    static let recall = CoreTool.recall.spec

    var specs: [ToolSpec] { inner.specs.filter { $0.name != Self.recall.name } + [Self.recall] }

    func run(_ call: ToolCall, workspace: String) async -> ToolResult {
        guard CoreTool(name: call.name) == .recall else { return await inner.run(call, workspace: workspace) }
        let arguments: RecallArguments
        switch ArgumentDecoding.decode(RecallArguments.self, from: call.arguments.text) {
        case let .success(a): arguments = a
        case let .failure(problem):
            return .failure(#"recall: the arguments must be {"query": "...", "limit": 5}: "# + problem.message)
        }
        let query = arguments.query
        guard !query.trimmingCharacters(in: .whitespaces).isEmpty else {
            return .failure(#"recall: the arguments must be {"query": "...", "limit": 5}: the query is empty"#)
        }
        let limit = min(max(arguments.limit ?? 5, 1), 20)
        let now = clock.now().milliseconds
        do {
            let found = try await bank.search(query, scopes: scopes, limit: limit, now: now)
            guard !found.isEmpty else { return ToolResult(ok: true, output: Payload("no memory matches")) }
            let lines = found.map {
                "- [\($0.kind)] \($0.text.replacingOccurrences(of: "\n", with: " ")) (\($0.id) v\($0.version))"
            }
            return ToolResult(ok: true, output: Payload(lines.joined(separator: "\n")))
        } catch {
            return .failure("recall: the memory bank could not be read: \(error)")
        }
    }

    func takeEvents() async -> [Event] { await inner.takeEvents() }
    func deadline(for call: ToolCall) -> Duration? {
        CoreTool(name: call.name) == .recall ? nil : inner.deadline(for: call)
    }
}

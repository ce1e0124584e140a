import Foundation

/// The tools whose whole effect is decided in the core: no process runs, and each is recorded
/// with its request and result in one append, so it is never half done or in doubt. This is
/// their one list: `nextAction` and the reducers dispatch on it, never on a name they spell.
public enum CoreTool: String, CaseIterable, Sendable {
    case note, escalate, remember
    case spawnAgents = "spawn_agents"
    case waitAgents = "wait_agents"

    /// The core tool a call names; nil for a tool the runner runs.
    public init?(name: String) { self.init(rawValue: name) }

    /// Its definition as offered to the model (`spawn_agents` lists the profiles it may spawn as:
    /// see ``ToolSpec/spawnAgents(offering:)``).
    public var spec: ToolSpec {
        switch self {
        case .note: .note
        case .escalate: .escalate
        case .remember: .remember
        case .spawnAgents: .spawnAgents
        case .waitAgents: .waitAgents
        }
    }
}

/// `note`'s arguments.
struct NoteArguments: Decodable {
    let text: String
}

/// `escalate`'s arguments.
struct EscalateArguments: Decodable {
    let reason: String
}

extension ToolCall {
    /// The call's arguments decoded as `T`, once; nil when they are not a JSON object of that shape.
    func decoded<T: Decodable>(_: T.Type) -> T? {
        try? JSONDecoder().decode(T.self, from: Data(arguments.text.utf8))
    }
}

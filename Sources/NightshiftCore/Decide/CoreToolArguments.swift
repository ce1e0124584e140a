import Foundation

// The typed arguments of Nightshift's own tools (``CoreTool``), in one place. Each is decoded
// once from the call's text; a value of the wrong type is the call's failure, with its path
// (``ArgumentProblem``). What may be missing is optional here and checked, with a message a model
// can act on, where the tool is decided.

/// `note`'s arguments.
struct NoteArguments: Decodable {
    let text: String
}

/// `escalate`'s arguments.
struct EscalateArguments: Decodable {
    let reason: String
}

/// `remember`'s arguments.
struct RememberArguments: Decodable {
    let text: String
    let kind: String?
    let scope: String?
    let tags: KeptStrings?
}

/// `recall`'s arguments (the memory search the runtime runs).
public struct RecallArguments: Decodable, Sendable {
    public let query: String
    public let limit: Int?
}

/// `task_done`'s arguments: the worker's claim, with the handoff fields it may carry. Read
/// leniently by the providers: a claim is a claim even when its summary is malformed.
public struct TaskDoneArguments: Decodable, Sendable {
    public let summary: String?
    public let left: String?
    public let learned: String?
    public let risks: String?
}

/// `spawn_agents`'s arguments.
struct SpawnArguments: Decodable {
    struct Agent: Decodable {
        let profile: String?
        let task: TaskArguments?
        let budget: BudgetArguments?
    }
    let agents: [Agent]
}

/// A sub-agent's budget as a coordinator writes it: whole numbers, and dollars as text or a number.
struct BudgetArguments: Decodable {
    enum Value: Decodable {
        case whole(Int)
        case other(String)

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let n = try? c.decode(Int.self) {
                self = .whole(n)
            } else if let s = try? c.decode(String.self) {
                self = .other(s)
            } else if let d = try? c.decode(Double.self) {
                self = .other("\(d)")
            } else {
                self = .other("")
            }
        }

        /// Dollars as the coordinator wrote them (`"0.50"`, `0.5`, `1`).
        var dollars: String {
            switch self {
            case let .whole(n): "\(n)"
            case let .other(s): s
            }
        }
    }
    let fields: [String: Value]

    init(from decoder: any Decoder) throws {
        fields = try decoder.singleValueContainer().decode([String: Value].self)
    }
}

/// `wait_agents`'s arguments.
struct WaitArguments: Decodable {
    let agents: [String]?
    let mode: String?
    let count: Int?
    let timeoutSeconds: Int?

    enum CodingKeys: String, CodingKey {
        case agents, mode, count
        case timeoutSeconds = "timeout_seconds"
    }
}

/// `submit_plan`'s arguments.
struct PlanArguments: Decodable {
    let title: String?
    let tasks: [TaskArguments]?
    let guards: [CheckArguments]?
    let initScript: String?

    enum CodingKeys: String, CodingKey {
        case title, tasks, guards
        case initScript = "init"
    }
}

/// One task as a planner or a coordinator writes it.
struct TaskArguments: Decodable {
    let id: String?
    let description: String?
    let checks: [CheckArguments]?
    let rubric: KeptStrings?
    let after: [String]?
}

/// One acceptance check: a command, or `{command, expect_exit, timeout_seconds, guard}`.
struct CheckArguments: Decodable {
    let command: String?
    let expectExit: Int?
    let timeoutSeconds: Int?
    let isGuard: Bool?

    enum CodingKeys: String, CodingKey {
        case command
        case expectExit = "expect_exit"
        case timeoutSeconds = "timeout_seconds"
        case isGuard = "guard"
    }

    init(from decoder: any Decoder) throws {
        if let command = try? decoder.singleValueContainer().decode(String.self) {
            (self.command, expectExit, timeoutSeconds, isGuard) = (command, nil, nil, nil)
            return
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        command = try c.decodeIfPresent(String.self, forKey: .command)
        expectExit = try c.decodeIfPresent(Int.self, forKey: .expectExit)
        timeoutSeconds = try c.decodeIfPresent(Int.self, forKey: .timeoutSeconds)
        isGuard = try c.decodeIfPresent(Bool.self, forKey: .isGuard)
    }
}

/// `submit_verdict`'s arguments.
struct VerdictArguments: Decodable {
    let verdict: String?
    let reasons: KeptStrings?
}

/// `write_handoff`'s arguments.
struct HandoffArguments: Decodable {
    let done: String?
    let left: String?
    let learned: String?
    let risks: String?
}

/// `submit_proposals`'s arguments: the dreamer's proposals, each read on its own.
struct ProposalsArguments: Decodable {
    let proposals: [EachDecoded<ProposalArguments>]
}

/// One dream proposal; which fields it needs depends on its action.
struct ProposalArguments: Decodable {
    struct Source: Decodable {
        let run: String?
        let seq: Int64?
    }
    let action: String?
    let kind: String?
    let scope: String?
    let text: String?
    let tags: KeptStrings?
    let memory: String?
    let memories: [String]?
    let file: String?
    let old: String?
    let new: String?
    let reason: String?
    let sources: [Source]?
}

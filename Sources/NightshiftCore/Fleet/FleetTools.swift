import Foundation

/// The coordinator's tools: `spawn_agents` and `wait_agents`. Decided in the core like `note`
/// (their whole effect is events), offered only where the runtime can make child runs.
extension ToolSpec {
    public static let spawnAgents = ToolSpec(
        name: "spawn_agents",
        description:
            "Start sub-agents, each a run of its own: a profile (a specialist), a task with acceptance checks the harness "
            + "runs (and an optional rubric for the judge), and a budget held from yours until it ends. A sub-agent sees "
            + "only its task, never your conversation. Returns their ids; collect their results with wait_agents.",
        idempotent: false,
        parametersSchema:
            #"{"type":"object","properties":{"agents":{"type":"array","items":{"type":"object","properties":{"profile":{"type":"string"},"task":{"type":"object","properties":{"id":{"type":"string"},"description":{"type":"string"},"checks":{"type":"array","items":{"type":"object","properties":{"command":{"type":"string"},"expect_exit":{"type":"integer"}},"required":["command"]}},"rubric":{"type":"array","items":{"type":"string"}}},"required":["id","description","checks"]},"budget":{"type":"object","properties":{"tokens":{"type":"integer"},"cost_usd":{"type":"string"},"tool_calls":{"type":"integer"},"steps":{"type":"integer"}}}},"required":["profile","task"]}}},"required":["agents"]}"#
    )
    public static let waitAgents = ToolSpec(
        name: "wait_agents",
        description:
            "Wait for sub-agents to end (finished, blocked, failed or cancelled) and get each one's summary, branch and cost. "
            + "agents: the ids (default: every one not yet ended); mode: all (default), any, or first with count; "
            + "timeout_seconds: give up waiting after this long. A failed sub-agent is a result, not your failure.",
        idempotent: true,
        parametersSchema:
            #"{"type":"object","properties":{"agents":{"type":"array","items":{"type":"string"}},"mode":{"type":"string","enum":["all","any","first"]},"count":{"type":"integer"},"timeout_seconds":{"type":"integer"}}}"#
    )
}

extension ToolSpec {
    /// `spawn_agents` as offered to a run: its description names the profiles it may spawn and
    /// what each is for, so the coordinator can choose.
    public static func spawnAgents(offering profiles: [SpawnableProfile]) -> ToolSpec {
        var spec = spawnAgents
        let list = profiles.sorted { $0.name < $1.name }.map { "- \($0.name): \($0.description)" }
        spec.description += "\nProfiles:\n" + list.joined(separator: "\n")
        return spec
    }
}

/// What `spawn_agents` asks for, read purely from its arguments.
struct SpawnRequest: Equatable {
    struct Item: Equatable {
        var profile: String
        var task: PlanTask
        var budget: Budget?
    }
    var items: [Item]

    /// The most children one call may spawn.
    static let maxPerCall = 1000

    static func parse(_ arguments: String) -> Result<SpawnRequest, RoleTools.RoleError> {
        typealias E = RoleTools.RoleError
        let list: [SpawnArguments.Agent]
        switch ArgumentDecoding.decode(SpawnArguments.self, from: arguments) {
        case let .success(a): list = a.agents
        case let .failure(problem):
            return .failure(
                E("the arguments must be {\"agents\": [{\"profile\", \"task\", \"budget\"}, …]}: \(problem)"))
        }
        guard !list.isEmpty else { return .failure(E("agents is empty: name at least one sub-agent")) }
        guard list.count <= maxPerCall else {
            return .failure(E("\(list.count) sub-agents in one call; at most \(maxPerCall)"))
        }
        var items: [Item] = []
        for (n, o) in list.enumerated() {
            let what = "sub-agent \(n + 1)"
            guard let profile = o.profile, !profile.isEmpty else {
                return .failure(E("\(what) has no profile"))
            }
            guard let t = o.task else { return .failure(E("\(what) has no task object")) }
            var task: PlanTask
            switch RoleTools.task(t, number: n + 1) {
            case let .success(v):
                task = v
                task.after = nil  // a sub-agent's plan is this one task: it comes after nothing
            case let .failure(e): return .failure(E("\(what): \(e.message)"))
            }
            var budget: Budget?
            if let b = o.budget {
                switch parseBudget(b, what) {
                case let .success(v): budget = v
                case let .failure(e): return .failure(e)
                }
            }
            items.append(Item(profile: profile, task: task, budget: budget))
        }
        return .success(SpawnRequest(items: items))
    }

    static func parseBudget(_ o: BudgetArguments, _ what: String) -> Result<Budget, RoleTools.RoleError> {
        typealias E = RoleTools.RoleError
        var b = Budget()
        for (key, value) in o.fields.sorted(by: { $0.key < $1.key }) {
            if key == "cost_usd" {
                guard let pico = Money.parseUSD(value.dollars) else {
                    return .failure(E("the budget of \(what): cost_usd must be dollars like \"0.50\""))
                }
                b.costPicoUSD = pico
                continue
            }
            guard case let .whole(n) = value, n >= 0 else {
                return .failure(E("the budget of \(what): \(key) must be a whole number ≥ 0"))
            }
            switch key {
            case "tokens": b.tokens = n
            case "tool_calls": b.toolCalls = n
            case "steps": b.steps = n
            default:
                return .failure(
                    E("the budget of \(what) has an unknown key '\(key)' (tokens, cost_usd, tool_calls, steps)"))
            }
        }
        if let problem = b.outOfRange { return .failure(E("the budget of \(what): \(problem)")) }
        return .success(b)
    }
}

/// What `wait_agents` waits for, read purely from its arguments.
struct WaitRequest: Equatable {
    enum Mode: String { case all, any, first }
    /// Nil: every child not yet ended when the wait began.
    var agents: [RunID]?
    var mode: Mode
    var count: Int
    var timeoutSeconds: Int?

    static func parse(_ arguments: String) -> Result<WaitRequest, RoleTools.RoleError> {
        typealias E = RoleTools.RoleError
        let text = arguments.trimmingCharacters(in: .whitespacesAndNewlines)
        let object: WaitArguments
        switch ArgumentDecoding.decode(WaitArguments.self, from: text.isEmpty ? "{}" : text) {
        case let .success(a): object = a
        case let .failure(problem):
            return .failure(E("the arguments must be a JSON object ({} waits for every sub-agent): \(problem)"))
        }
        var agents: [RunID]?
        if let ids = object.agents {
            guard ids.allSatisfy({ !$0.isEmpty }) else {
                return .failure(E("agents must be a list of sub-agent ids"))
            }
            agents = ids.isEmpty ? nil : ids.map { RunID($0) }
        }
        let modeName = object.mode ?? "all"
        guard let mode = Mode(rawValue: modeName) else {
            return .failure(E("mode must be all, any or first, not '\(modeName)'"))
        }
        var count = mode == .any ? 1 : 0
        if mode == .first {
            guard let c = object.count, c >= 1 else {
                return .failure(E("mode first needs a count ≥ 1"))
            }
            count = c
        }
        var timeout: Int?
        if let s = object.timeoutSeconds {
            guard s >= 1, s <= 30 * 24 * 3600 else {
                return .failure(E("timeout_seconds must be 1 … 2592000 (30 days)"))
            }
            timeout = s
        }
        return .success(WaitRequest(agents: agents, mode: mode, count: count, timeoutSeconds: timeout))
    }
}

import Foundation

/// The coordinator's side of a fleet, decided purely: spawning (with the reservation check),
/// waiting, and what the budgets count for children.
extension RunState {
    /// The fleet limits in force.
    public var fleetLimits: FleetLimits { policy?.fleet ?? FleetLimits() }

    /// What this run itself spent, in the units budgets and reservations count.
    public var ownSpent: Spent {
        Spent(
            tokens: Int64(usage.input + usage.output), costPicoUSD: costPicoUSD, toolCalls: Int64(toolCalls),
            steps: Int64(spend.modelCalls))
    }

    /// What the run's children count against its run budget for `resource`: what the ended ones
    /// spent and what the others hold (an open child without a limit on it counts nothing more).
    func childrenCommitted(_ resource: BudgetResource) -> Int64 {
        guard !fleet.children.isEmpty, let settled = fleet.settled.amount(resource) else { return 0 }
        return settled.plusSaturating(fleet.reserved(resource) ?? 0)
    }

    /// A child's id: derived from the parent and the call that spawned it, so making it again
    /// after a crash finds the same run.
    public static func childID(parent: RunID, call: CallID, index: Int) -> RunID {
        RunID("\(parent.rawValue).\(call.rawValue).\(index)")
    }

    /// Children recorded as spawned whose logs are not known to exist.
    public var uncreatedChildren: [Fleet.Child] { fleet.children.filter { !$0.created && $0.outcome == nil } }

    /// `spawn_agents`: checked against the depth and fan-out limits, the known profiles and the
    /// run's budget; the children and their reservations are recorded with the call's result in
    /// one append, so a spawn is never half done. Their logs are made next (``Decision/createChildren``).
    func spawnEvents(_ call: ToolCall, profiles: [String: SpawnableProfile]?) -> [Event] {
        let requested = Event.toolRequested(call: call.id, name: call.name, idempotent: false)
        func refuse(_ m: String) -> [Event] {
            [requested, .toolFinished(call: call.id, result: .failure("spawn_agents: " + m))]
        }
        guard let profiles else { return refuse("this run cannot start sub-agents") }
        let request: SpawnRequest
        switch SpawnRequest.parse(call.arguments.text) {
        case let .success(r): request = r
        case let .failure(e): return refuse(e.message)
        }
        let limits = fleetLimits
        guard depth < limits.maxDepth else {
            return refuse(
                "this run is at depth \(depth) and the policy's fleet.max_depth is \(limits.maxDepth): do the work yourself"
            )
        }
        guard fleet.children.count + request.items.count <= limits.maxChildren else {
            return refuse(
                "this run has \(fleet.children.count) sub-agents; \(request.items.count) more would pass the policy's "
                    + "fleet.max_children of \(limits.maxChildren)")
        }
        var budgets: [Budget] = []
        for (n, item) in request.items.enumerated() {
            guard let profile = profiles[item.profile] else {
                let known = profiles.keys.sorted().joined(separator: ", ")
                return refuse(
                    "sub-agent \(n + 1): unknown profile '\(item.profile)'; profiles: \(known.isEmpty ? "none" : known)"
                )
            }
            budgets.append(item.budget ?? profile.budget ?? Budget())
        }
        // A profile's max_concurrent: its open sub-agents of this run, with the new ones.
        let open = fleet.open
        for (name, asked) in Dictionary(grouping: request.items, by: \.profile).mapValues(\.count).sorted(by: {
            $0.key < $1.key
        }) {
            guard let limit = profiles[name]?.maxConcurrent else { continue }
            let running = open.filter { $0.profile == name }.count
            guard running + asked <= limit else {
                return refuse(
                    "profile '\(name)' allows \(limit) at once (max_concurrent); \(running) are open and \(asked) more "
                        + "were asked: wait for some with wait_agents, or spawn fewer")
            }
        }
        // The reservation: every limited resource of the run budget must cover what is held for the new children.
        let limit = budget(.run)
        for resource in [BudgetResource.tokens, .costPicoUSD, .toolCalls, .steps] {
            guard let cap = limit.amount(resource) else { continue }
            guard budgets.allSatisfy({ $0.amount(resource) != nil }) else {
                return refuse(
                    "your run's budget limits \(resource): give every sub-agent a budget with \(Self.budgetKey(resource))"
                )
            }
            let asked = budgets.reduce(Int64(0)) { $0.plusSaturating($1.amount(resource)!) }
            let committed = ownSpent.amount(resource)!.plusSaturating(childrenCommitted(resource))
            guard committed.plusSaturating(asked) <= cap else {
                return refuse(
                    "the budgets do not fit: \(resource) asked \(Self.shown(resource, asked)), left "
                        + "\(Self.shown(resource, max(0, cap.minusSaturating(committed)))) of \(Self.shown(resource, cap))"
                )
            }
        }
        var events: [Event] = [requested, .toolStarted(call: call.id)]
        var listing: [String] = []
        for (n, item) in request.items.enumerated() {
            let id = Self.childID(parent: run, call: call.id, index: fleet.children.count + n + 1)
            let version = profiles[item.profile]!.version
            events.append(
                .childSpawned(
                    child: id, call: call.id, profile: item.profile, version: version, task: item.task,
                    budget: budgets[n]))
            listing.append("\(id) (\(item.profile), task \(item.task.id))")
        }
        let text =
            "spawned \(listing.count) sub-agent(s):\n" + listing.joined(separator: "\n")
            + "\ncollect their results with wait_agents"
        events.append(.toolFinished(call: call.id, result: ToolResult(ok: true, output: Payload(text))))
        return events
    }

    /// `wait_agents` begins: which children, how many must end, until when (by the log's clock).
    func waitStartEvents(_ call: ToolCall) -> [Event] {
        let requested = Event.toolRequested(call: call.id, name: call.name, idempotent: true)
        func refuse(_ m: String) -> [Event] {
            [requested, .toolFinished(call: call.id, result: .failure("wait_agents: " + m))]
        }
        let request: WaitRequest
        switch WaitRequest.parse(call.arguments.text) {
        case let .success(r): request = r
        case let .failure(e): return refuse(e.message)
        }
        guard !fleet.children.isEmpty else { return refuse("this run has no sub-agents to wait for") }
        var agents: [RunID]
        if let named = request.agents {
            let mine = Set(fleet.children.map(\.id))
            if let stranger = named.first(where: { !mine.contains($0) }) {
                return refuse("\(stranger) is not a sub-agent of this run (yours: spawn_agents' result lists them)")
            }
            agents = []
            for a in named where !agents.contains(a) { agents.append(a) }
        } else {
            let open = fleet.open.map(\.id)
            agents = open.isEmpty ? fleet.children.map(\.id) : open
        }
        let need =
            switch request.mode {
            case .all: agents.count
            case .any: 1
            case .first: min(request.count, agents.count)
            }
        let deadline = request.timeoutSeconds.map { lastTime + Int64($0) * 1000 }
        return [
            requested, .toolStarted(call: call.id),
            .waitStarted(call: call.id, agents: agents, need: need, deadline: deadline),
        ]
    }

    /// The started wait: its result once enough children ended (or its deadline passed), else a
    /// look at the children once per wake, else the run parks until whoever drives them wakes it.
    func waitStep(_ wait: Fleet.Wait) -> Decision {
        let outcomes = fleet.outcomes
        let ended = wait.agents.filter { outcomes[$0] != nil }
        if ended.count >= wait.need { return .emit([waitResult(wait, timedOut: false)]) }
        if let deadline = wait.deadline, lastTime >= deadline { return .emit([waitResult(wait, timedOut: true)]) }
        if fleet.polledAtResume != resumes {
            let open = wait.agents.filter { outcomes[$0] == nil }
            return .pollChildren(call: wait.call, children: open)
        }
        return .emit([
            .runPaused(
                reason:
                    "waiting for sub-agents: \(ended.count) of the \(wait.need) needed have ended "
                    + "(\(wait.agents.count) awaited); the process driving them wakes this run",
                kind: .agents)
        ])
    }

    /// Whether the parked wait would now end, given children known to have ended (not yet recorded
    /// here) and the time: lets a driver wake the run only when it will go on.
    public func waitWouldEnd(ended: Set<RunID>, now: Int64) -> Bool {
        guard let wait = fleet.wait else { return true }
        if let deadline = wait.deadline, now >= deadline { return true }
        let outcomes = fleet.outcomes
        let done = wait.agents.filter { ended.contains($0) || outcomes[$0] != nil }
        return done.count >= wait.need
    }

    private func waitResult(_ wait: Fleet.Wait, timedOut: Bool) -> Event {
        var lines: [String] = []
        var open = 0
        let byID = Dictionary(fleet.children.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for id in wait.agents {
            guard let c = byID[id] else { continue }
            guard let o = c.outcome else {
                open += 1
                lines.append("- \(id) (\(c.profile), task \(c.task)): still running")
                continue
            }
            var line = "- \(id) (\(c.profile), task \(c.task)): \(o.status)"
            if let b = o.branch { line += " on branch \(b)" }
            line +=
                "; spent \(o.spent.steps) steps, \(o.spent.tokens) tokens, \(Money.format(o.spent.costPicoUSD))"
            if !o.summary.isEmpty { line += "\n  " + o.summary.replacingOccurrences(of: "\n", with: "\n  ") }
            lines.append(line)
        }
        let head =
            timedOut
            ? "wait_agents timed out: \(wait.agents.count - open) of \(wait.agents.count) ended"
            : "\(wait.agents.count - open) of \(wait.agents.count) sub-agents ended"
        return .toolFinished(
            call: wait.call, result: ToolResult(ok: true, output: Payload(head + "\n" + lines.joined(separator: "\n"))))
    }

    static func budgetKey(_ r: BudgetResource) -> String {
        switch r {
        case .tokens: "tokens"
        case .costPicoUSD: "cost_usd"
        case .toolCalls: "tool_calls"
        case .steps: "steps"
        case .wallSeconds: "wall_minutes"
        }
    }

    static func shown(_ r: BudgetResource, _ v: Int64) -> String {
        r == .costPicoUSD ? Money.format(v) : "\(v)"
    }
}

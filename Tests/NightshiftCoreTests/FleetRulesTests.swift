import NightshiftCore
import Testing

/// The coordinator's rules, decided purely: what a spawn may ask for, how a wait ends, and how
/// children count against the parent's budget.
@Suite struct FleetRulesTests {
    static let profiles = [
        SpawnableProfile(name: "coder", description: "writes code", version: "v1", budget: Budget(steps: 10)),
        SpawnableProfile(name: "free", description: "no default budget", version: "v2", budget: nil),
    ]
    static let catalog = ToolCatalog(
        [ToolSpec(name: "shell", description: "", idempotent: false, parametersSchema: "{}")], profiles: profiles)

    static func task(_ id: String) -> String {
        #"{"id":"\#(id)","description":"do \#(id)","checks":["test -f \#(id)"]}"#
    }
    static func spawn(_ items: String) -> String { #"{"agents":[\#(items)]}"# }

    /// A run with one task whose worker just proposed `calls` (name, arguments), under `policy`.
    func proposing(
        _ calls: [(String, String)], policy: Policy? = nil, settings: RunSettings = RunSettings()
    )
        throws -> LogBuilder
    {
        var log = LogBuilder()
        try log.add(created(settings))
        if let policy { try log.add(.policySet(policy: policy, source: "p.yaml", hash: "h", text: "")) }
        try log.add([.taskStarted(task: TaskID("a"), attempt: 1)])
        try log.add(.modelRequested(call: CallID("m1"), task: TaskID("a"), turn: 0, role: nil))
        try log.add(response("m1", tools: calls))
        return log
    }

    /// The result the decision gives the model for the first proposed call.
    func result(_ log: inout LogBuilder) throws -> ToolResult? {
        _ = try log.advance(tools: Self.catalog)
        for e in log.envelopes.reversed() {
            if case let .toolFinished(_, result) = e.event { return result }
        }
        return nil
    }

    @Test(arguments: [
        (spawn(#"{"profile":"nobody","task":\#(task("x"))}"#), "unknown profile 'nobody'; profiles: coder, free"),
        (spawn(#"{"profile":"coder"}"#), "sub-agent 1 has no task object"),
        (spawn(#"{"profile":"coder","task":{"id":"x","description":"d","checks":[]}}"#), "has no checks"),
        (#"{"agents":[]}"#, "agents is empty"),
        ("not json", "the arguments must be"),
        (spawn(#"{"profile":"coder","task":\#(task("x")),"budget":{"steps":-1}}"#), "steps must be a whole number"),
        (spawn(#"{"profile":"coder","task":\#(task("x")),"budget":{"weeks":1}}"#), "unknown key 'weeks'"),
    ])
    func aBadSpawnIsAResultAndSpawnsNothing(arguments: String, message: String) throws {
        var log = try proposing([("spawn_agents", arguments)])
        let r = try #require(try result(&log))
        #expect(!r.ok && r.output.text.contains(message), "\(r.output.text)")
        #expect(log.state.fleet.children.isEmpty)
    }

    @Test func spawningRecordsChildrenWithIDsDerivedFromTheCall() throws {
        let args = Self.spawn(
            #"{"profile":"coder","task":\#(Self.task("a1"))},{"profile":"free","task":\#(Self.task("a2")),"budget":{"steps":3}}"#
        )
        var log = try proposing([("spawn_agents", args)])
        let decision = try log.advance(tools: Self.catalog)
        let ids = log.state.fleet.children.map(\.id.rawValue)
        #expect(ids == ["r1.m1.1.1", "r1.m1.1.2"])
        // The profile's default budget, or the one given.
        #expect(log.state.fleet.children.map(\.budget) == [Budget(steps: 10), Budget(steps: 3)])
        #expect(log.state.fleet.children.map(\.version) == ["v1", "v2"])
        guard case let .createChildren(children) = decision else {
            Issue.record("expected the children to be made next, got \(decision)")
            return
        }
        #expect(children.map(\.id.rawValue) == ids && children.allSatisfy { $0.spec != nil })
        // Recording the spawn again is refused by the fold: a child is spawned once.
        let again = Event.childSpawned(
            child: RunID("r1.m1.1.1"), call: CallID("m1.1"), profile: "coder", version: "v1",
            task: PlanTask(id: TaskID("a1"), description: "d", checks: []), budget: Budget())
        #expect(!log.state.accepts(again))
    }

    @Test func theDepthAndFanOutLimitsArePolicy() throws {
        var deep = RunSettings()
        deep.parent = ParentLink(run: RunID("root"), call: CallID("m1.1"), depth: 2)
        var policy = Policy()
        policy.fleet = FleetLimits(maxDepth: 2, maxChildren: 5)
        var log = try proposing(
            [("spawn_agents", Self.spawn(#"{"profile":"coder","task":\#(Self.task("x"))}"#))], policy: policy,
            settings: deep)
        var r = try #require(try result(&log))
        #expect(!r.ok && r.output.text.contains("at depth 2 and the policy's fleet.max_depth is 2"))

        let six = (1...6).map { #"{"profile":"coder","task":\#(Self.task("t\($0)"))}"# }.joined(separator: ",")
        log = try proposing([("spawn_agents", Self.spawn(six))], policy: policy)
        r = try #require(try result(&log))
        #expect(!r.ok && r.output.text.contains("fleet.max_children of 5"), "\(r.output.text)")
        #expect(log.state.fleet.children.isEmpty)
    }

    /// Reservations are carved from the run budget: what does not fit is refused before anything
    /// is spawned, and what is held counts against the parent's own next call.
    @Test func reservationsMustFitTheRunBudget() throws {
        var policy = Policy()
        policy.runBudget = Budget(steps: 25)
        // 1 step spent by the parent; 2 × 10 held: fits (21 ≤ 25).
        let two = Self.spawn(
            #"{"profile":"coder","task":\#(Self.task("a1"))},{"profile":"coder","task":\#(Self.task("a2"))}"#)
        var log = try proposing([("spawn_agents", two)], policy: policy)
        _ = try log.advance(tools: Self.catalog)
        #expect(log.state.fleet.children.count == 2)
        // A child without a steps limit under a run budget that limits steps is refused.
        var unlimited = try proposing(
            [("spawn_agents", Self.spawn(#"{"profile":"free","task":\#(Self.task("x"))}"#))], policy: policy)
        var r = try #require(try result(&unlimited))
        #expect(!r.ok && r.output.text.contains("give every sub-agent a budget with steps"), "\(r.output.text)")
        // 1 + 3 × 10 > 25.
        let three = Self.spawn(
            (1...3).map { #"{"profile":"coder","task":\#(Self.task("t\($0)"))}"# }.joined(separator: ","))
        var over = try proposing([("spawn_agents", three)], policy: policy)
        r = try #require(try result(&over))
        #expect(
            !r.ok && r.output.text.contains("the budgets do not fit: steps asked 30, left 24 of 25"), "\(r.output.text)"
        )
        #expect(over.state.fleet.children.isEmpty)

        // The parent's own calls see the held steps: 1 spent + 20 held; 4 more steps fit, the 5th does not.
        for c in log.state.fleet.children {
            try log.add(.childCreated(child: c.id, workspace: "/w/\(c.id)"))
        }
        var calls = 0
        while calls < 10 {
            guard case let .callModel(call, _, _, _, _) = try log.advance(tools: Self.catalog) else { break }
            try log.add(response(call.rawValue))
            calls += 1
        }
        let exhausted = log.envelopes.contains {
            if case .budgetExhausted(.run, .steps, 25, _) = $0.event { true } else { false }
        }
        #expect(exhausted && log.state.spend.modelCalls == 5, "\(log.state.spend.modelCalls) model calls")
        // A child's end returns the unspent part of its reservation: 5 + 2 (spent) + 10 (held) = 17 ≤ 25.
        try log.add(
            .childEnded(
                child: RunID("r1.m1.1.1"),
                outcome: ChildOutcome(status: .finished, summary: "ok", branch: nil, spent: Spent(steps: 2))))
        #expect(log.state.fleet.settled.steps == 2 && log.state.fleet.reserved(.steps) == 10)
        // Recorded once: a second end of the same child is refused.
        #expect(
            !log.state.accepts(
                .childEnded(
                    child: RunID("r1.m1.1.1"),
                    outcome: ChildOutcome(status: .finished, summary: "ok", branch: nil, spent: Spent()))))
    }

    /// A wait polls once per wake, parks, and ends when enough children ended or its deadline passed.
    @Test func aWaitPollsParksAndEnds() throws {
        let two = Self.spawn(
            #"{"profile":"coder","task":\#(Self.task("a1"))},{"profile":"coder","task":\#(Self.task("a2"))}"#)
        var log = try proposing(
            [("spawn_agents", two), ("wait_agents", #"{"mode":"any","timeout_seconds":60}"#)])
        _ = try log.advance(tools: Self.catalog)
        for c in log.state.fleet.children { try log.add(.childCreated(child: c.id, workspace: "/w")) }
        var d = try log.advance(tools: Self.catalog)
        guard case let .pollChildren(call, open) = d else {
            Issue.record("expected a poll, got \(d)")
            return
        }
        #expect(call.rawValue == "m1.2" && open.count == 2)
        // The deadline is 60 s after the wait began, by the log's clock.
        let began = try #require(log.state.fleet.wait?.deadline) - 60_000
        #expect(log.state.fleet.wait?.need == 1 && (log.state.startTime...log.state.lastTime).contains(began))
        try log.add(.childrenPolled(call: call, open: open))
        d = try log.advance(tools: Self.catalog)
        #expect(log.state.status == .paused && log.state.pauseKind == .agents)
        #expect(!log.state.waitWouldEnd(ended: [], now: log.state.lastTime))
        #expect(log.state.waitWouldEnd(ended: [RunID("r1.m1.1.2")], now: log.state.lastTime))
        #expect(log.state.waitWouldEnd(ended: [], now: log.state.fleet.wait!.deadline!))
        // Woken: it polls again, records the end, and the wait's result names it.
        try log.add(.runResumed(by: "test"))
        d = try log.advance(tools: Self.catalog)
        guard case .pollChildren = d else {
            Issue.record("expected a poll after the wake, got \(d)")
            return
        }
        try log.add(
            .childEnded(
                child: RunID("r1.m1.1.2"),
                outcome: ChildOutcome(status: .failed, summary: "broke", branch: "nightshift/x", spent: Spent(steps: 1))
            ))
        try log.add(.childrenPolled(call: call, open: [RunID("r1.m1.1.1")]))
        _ = try log.advance(tools: Self.catalog)
        let r = try #require(try result(&log))
        #expect(r.ok && r.output.text.contains("1 of 2 sub-agents ended"), "\(r.output.text)")
        #expect(r.output.text.contains("r1.m1.1.2 (coder, task a2): failed on branch nightshift/x"))
        #expect(r.output.text.contains("r1.m1.1.1 (coder, task a1): still running"))
        #expect(log.state.fleet.wait == nil && log.state.status == .running)
    }

    @Test(arguments: [
        (#"{"agents":["someone-else"]}"#, "someone-else is not a sub-agent of this run"),
        (#"{"mode":"first"}"#, "mode first needs a count"),
        (#"{"mode":"most"}"#, "mode must be all, any or first"),
        (#"{"timeout_seconds":0}"#, "timeout_seconds must be"),
    ])
    func aBadWaitIsAResult(arguments: String, message: String) throws {
        let one = Self.spawn(#"{"profile":"coder","task":\#(Self.task("a1"))}"#)
        var log = try proposing([("spawn_agents", one), ("wait_agents", arguments)])
        _ = try log.advance(tools: Self.catalog)
        try log.add(.childCreated(child: RunID("r1.m1.1.1"), workspace: "/w"))
        _ = try log.advance(tools: Self.catalog)
        let r = try #require(try result(&log))
        #expect(!r.ok && r.output.text.contains(message), "\(r.output.text)")
    }

    @Test func waitingWithNoChildrenIsAResult() throws {
        var log = try proposing([("wait_agents", "{}")])
        let r = try #require(try result(&log))
        #expect(!r.ok && r.output.text.contains("no sub-agents to wait for"))
    }

    /// A reservation of tool calls holds without a policy: the gateway counts them all the same.
    @Test func aChildsToolCallReservationHoldsWithoutAPolicy() throws {
        var settings = RunSettings()
        settings.parent = ParentLink(run: RunID("root"), call: CallID("m1.1"), depth: 1)
        var log = LogBuilder()
        try log.add(created(settings))
        try log.add(.budgetSet(scope: .run, budget: Budget(toolCalls: 1), by: "reservation from root"))
        try log.add([.taskStarted(task: TaskID("a"), attempt: 1)])
        try log.add(.modelRequested(call: CallID("m1"), task: TaskID("a"), turn: 0, role: nil))
        try log.add(response("m1", tools: [("shell", #"{"command":"a"}"#), ("shell", #"{"command":"b"}"#)]))
        guard case let .runTool(first) = try log.advance(tools: Self.catalog) else {
            Issue.record("the first call fits the reservation")
            return
        }
        try log.add(.toolFinished(call: first.id, result: ToolResult(ok: true, output: "a")))
        _ = try log.advance(tools: Self.catalog)
        #expect(log.state.status == .failed && log.state.toolCalls == 1, "\(log.state.statusReason ?? "")")
        #expect(log.state.statusReason?.contains("tool_calls 1 of 1") == true, "\(log.state.statusReason ?? "")")
    }

    /// A sub-agent's run budget is its reservation: spent, the sub-agent ends (failed) rather than
    /// waiting for a person who could raise it.
    @Test func aChildWhoseReservationIsSpentEnds() throws {
        var settings = RunSettings()
        settings.parent = ParentLink(run: RunID("root"), call: CallID("m1.1"), depth: 1)
        var log = LogBuilder()
        try log.add(created(settings))
        try log.add(.budgetSet(scope: .run, budget: Budget(steps: 1), by: "reservation from root"))
        try log.add([.taskStarted(task: TaskID("a"), attempt: 1)])
        try log.add(.modelRequested(call: CallID("m1"), task: TaskID("a"), turn: 0, role: nil))
        try log.add(response("m1"))
        _ = try log.advance(tools: Self.catalog)
        #expect(log.state.status == .failed)
        #expect(log.state.childOutcome?.status == .failed && log.state.childOutcome?.spent.steps == 1)
        #expect(log.state.statusReason?.contains("the reservation from root is spent") == true)
        // Nobody can raise it: the fold refuses a second run budget on a sub-agent.
        var raised = LogBuilder()
        try raised.add(created(settings))
        try raised.add(.budgetSet(scope: .run, budget: Budget(steps: 1), by: "reservation from root"))
        #expect(!raised.state.accepts(.budgetSet(scope: .run, budget: Budget(steps: 100), by: "mallory")))
        #expect(raised.state.accepts(.budgetSet(scope: .task, budget: Budget(steps: 100), by: "alice")))
    }

    /// A profile's `max_concurrent` caps how many of its sub-agents one coordinator has open.
    @Test func aProfilesMaxConcurrentCapsItsOpenSubAgents() throws {
        let limited = [
            SpawnableProfile(name: "coder", description: "writes code", version: "v1", budget: nil, maxConcurrent: 2)
        ]
        let catalog = ToolCatalog(
            [ToolSpec(name: "shell", description: "", idempotent: false, parametersSchema: "{}")], profiles: limited)
        let three = Self.spawn(
            [Self.task("x"), Self.task("y"), Self.task("z")].map { #"{"profile":"coder","task":\#($0)}"# }
                .joined(separator: ","))
        var log = try proposing([("spawn_agents", three)])
        _ = try log.advance(tools: catalog)
        let refused = log.envelopes.compactMap { e -> ToolResult? in
            if case let .toolFinished(_, r) = e.event { r } else { nil }
        }
        #expect(refused.first?.ok == false)
        #expect(refused.first?.output.text.contains("profile 'coder' allows 2 at once") == true, "\(refused)")
        #expect(log.state.fleet.children.isEmpty)
        // Two fit; a third, while they are open, does not.
        let two = Self.spawn(
            [Self.task("x"), Self.task("y")].map { #"{"profile":"coder","task":\#($0)}"# }.joined(separator: ","))
        let one = Self.spawn(#"{"profile":"coder","task":\#(Self.task("z"))}"#)
        var again = try proposing([("spawn_agents", two), ("spawn_agents", one)])
        _ = try again.advance(tools: catalog)
        for c in again.state.fleet.children { try again.add(.childCreated(child: c.id, workspace: "/w/\(c.id)")) }
        _ = try again.advance(tools: catalog)
        #expect(again.state.fleet.children.count == 2)
        let results = again.envelopes.compactMap { e -> ToolResult? in
            if case let .toolFinished(_, r) = e.event { r } else { nil }
        }
        #expect(results.map(\.ok) == [true, false], "\(results)")
    }
}

/// Budgets past the range (issue: a model asked for `Int64.max` steps, and every resume trapped):
/// refused where they enter, and where a log already holds one, summed without trapping.
@Suite struct BudgetRangeTests {
    let rules = FleetRulesTests()

    @Test(arguments: [
        #"{"steps":9223372036854775807}"#, #"{"tokens":1000000000001}"#, #"{"tool_calls":9223372036854775807}"#,
        #"{"cost_usd":"5000000.00"}"#,
    ])
    func aModelsHugeBudgetIsARefusalNotATrap(budget: String) throws {
        let args = FleetRulesTests.spawn(
            #"{"profile":"coder","task":\#(FleetRulesTests.task("x")),"budget":\#(budget)}"#)
        var policy = Policy()
        policy.runBudget = Budget(tokens: 1000, costPicoUSD: 1_000_000_000_000, toolCalls: 100, steps: 100)
        var log = try rules.proposing([("spawn_agents", args)], policy: policy)
        let r = try #require(try rules.result(&log))
        #expect(!r.ok && r.output.text.contains("must be 0 …"), "\(r.output.text)")
        #expect(log.state.fleet.children.isEmpty)
    }

    /// A log written before the limit, holding reservations near `Int64.max` under a run budget
    /// (as an old version recorded a model's spawn): the fold, the gateway and the next spawn's
    /// check add them up without trapping, and the next spawn is refused for want of room.
    @Test func hugeReservationsInALogAreSummedWithoutTrapping() throws {
        var policy = Policy()
        policy.runBudget = Budget(steps: 1_000_000)
        let two = FleetRulesTests.spawn(
            #"{"profile":"free","task":\#(FleetRulesTests.task("a")),"budget":{"steps":1}},"#
                + #"{"profile":"free","task":\#(FleetRulesTests.task("b")),"budget":{"steps":1}}"#)
        var valid = try rules.proposing([("spawn_agents", two)], policy: policy)
        _ = try valid.advance(tools: FleetRulesTests.catalog)
        // The same log, with the reservations an old version let through.
        var old = LogBuilder()
        for e in valid.envelopes.map(\.event) {
            if case let .childSpawned(child, call, profile, version, task, _) = e {
                try old.add(
                    .childSpawned(
                        child: child, call: call, profile: profile, version: version, task: task,
                        budget: Budget(steps: Int.max)))
            } else {
                try old.add(e)
            }
        }
        #expect(old.state.fleet.reserved(.steps) == .max)
        for child in old.state.fleet.children {
            try old.add(.childCreated(child: child.id, workspace: "/w/\(child.id)"))
        }
        try old.add(.modelRequested(call: CallID("m2"), task: TaskID("a"), turn: 1, role: nil))
        try old.add(
            response(
                "m2",
                tools: [
                    (
                        "spawn_agents",
                        FleetRulesTests.spawn(
                            #"{"profile":"free","task":\#(FleetRulesTests.task("c")),"budget":{"steps":1}}"#)
                    )
                ]))
        let r = try #require(try rules.result(&old))
        #expect(!r.ok && r.output.text.contains("do not fit"), "\(r.output.text)")
    }

    @Test func saturatingSumsHoldAtTheEnds() {
        #expect(Int64.max.plusSaturating(1) == .max)
        #expect(Int64.min.plusSaturating(-1) == .min)
        #expect(Int64(5).minusSaturating(Int64.min) == .max)
        #expect(Int64(5).plusSaturating(3) == 8)
    }
}

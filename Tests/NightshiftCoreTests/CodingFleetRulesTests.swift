import NightshiftCore
import Testing

/// A coding fleet's rules, decided purely: task dependencies, handing ready tasks to at most N
/// workers with reservations, the merge queue one at a time, and rework or blocking.
@Suite struct CodingFleetRulesTests {
    static func task(_ id: String, after: [String] = []) -> PlanTask {
        PlanTask(
            id: TaskID(id), description: "do \(id)", checks: [Check(command: "test -f \(id)")],
            after: after.isEmpty ? nil : after.map { TaskID($0) })
    }

    /// A fleet of `workers` on `tasks`, its worktree made, under `policy` when given.
    func fleet(_ tasks: [PlanTask], workers: Int = 2, policy: Policy? = nil) throws -> LogBuilder {
        var settings = RunSettings(maxAttempts: 2, worktreeOf: "/repo")
        settings.workers = workers
        var log = LogBuilder()
        try log.add([
            .runCreated(title: "t", workspace: "/w", model: "scripted:x", settings: settings),
            .planSet(plan: Plan(title: "t", tasks: tasks)),
            .workspaceProvisioned(path: "/w", branch: "nightshift/r1", base: "c0"),
        ])
        if let policy { try log.add(.policySet(policy: policy, source: "p.yaml", hash: "h", text: "")) }
        return log
    }

    func dispatched(_ log: LogBuilder) -> [(TaskID, Int, RunID, PlanTask, Budget)] {
        log.envelopes.compactMap {
            if case let .taskDispatched(task, attempt, child, spec, budget) = $0.event {
                (task, attempt, child, spec, budget)
            } else {
                nil
            }
        }
    }

    /// Records the worker's log as made and then its end, as the effects would.
    func end(_ log: inout LogBuilder, _ child: RunID, _ status: ChildEnd, summary: String = "done") throws {
        if log.state.fleet.children.first(where: { $0.id == child })?.created == false {
            try log.add(.childCreated(child: child, workspace: "/wt/\(child)"))
        }
        try log.add(
            .childEnded(
                child: child,
                outcome: ChildOutcome(
                    status: status, summary: summary, branch: "nightshift/\(child)", spent: Spent(steps: 1))))
    }

    @Test(arguments: [
        ([task("a", after: ["z"])], "task a comes after 'z', which is no task of the plan"),
        ([task("a", after: ["a"])], "task a is listed in its own 'after'"),
        ([task("a", after: ["b"]), task("b", after: ["a"])], "task a's 'after' list goes round in a cycle"),
    ])
    func aPlanWhoseDependenciesCannotBeFollowedIsRefused(tasks: [PlanTask], problem: String) {
        let found = Plan(title: "t", tasks: tasks).problem
        #expect(found?.hasPrefix(problem) == true, "\(found ?? "none")")
    }

    @Test func aTaskStartsOnlyAfterTheTasksItComesAfterAreDone() throws {
        var log = LogBuilder()
        try log.add([
            .runCreated(title: "t", workspace: "/w", model: "scripted:x", settings: RunSettings(maxAttempts: 1)),
            .planSet(plan: Plan(title: "t", tasks: [Self.task("b", after: ["a"]), Self.task("a")])),
        ])
        _ = try log.advance()
        // Listed second, a goes first: b comes after it.
        #expect(log.state.current == 1)
        #expect(throws: (any Error).self) {
            try log.state.applyUncommitted(.taskStarted(task: TaskID("b"), attempt: 1))
        }
    }

    @Test func aTaskAfterABlockedTaskIsBlockedWithTheReason() throws {
        var log = try fleet([Self.task("a"), Self.task("b", after: ["a"])], workers: 1)
        _ = try log.advance()
        let first = try #require(dispatched(log).first)
        try log.add(.childCreated(child: first.2, workspace: "/wt"))
        try end(&log, first.2, .blocked, summary: "0 of 1 tasks done")
        _ = try log.advance()
        #expect(log.state.tasks.map(\.status) == [.blocked, .blocked])
        let reasons = log.envelopes.compactMap {
            if case let .taskBlocked(_, reason) = $0.event { reason } else { nil }
        }
        #expect(reasons.last == "it comes after task a, which is blocked", "\(reasons)")
        #expect(log.state.status == .finished)
    }

    @Test func readyTasksGoToAtMostNWorkersAndTheRunParks() throws {
        var log = try fleet([Self.task("a"), Self.task("b"), Self.task("c"), Self.task("d", after: ["a"])])
        let decision = try log.advance()
        // a and b are handed out (c waits for a free worker, d for a); their logs are made next.
        #expect(dispatched(log).map(\.0) == [TaskID("a"), TaskID("b")])
        #expect(dispatched(log).map(\.2) == [RunID("r1.w1"), RunID("r1.w2")])
        guard case let .createChildren(children) = decision else {
            Issue.record("expected the workers to be made, got \(decision)")
            return
        }
        #expect(children.map(\.call) == [RunState.dispatchCall, RunState.dispatchCall])
        for c in children { try log.add(.childCreated(child: c.id, workspace: "/wt/\(c.id)")) }
        let poll = try log.advance()
        #expect(poll == .pollChildren(call: RunState.dispatchCall, children: [RunID("r1.w1"), RunID("r1.w2")]))
        try log.add(.childrenPolled(call: RunState.dispatchCall, open: [RunID("r1.w1"), RunID("r1.w2")]))
        #expect(try log.advance() == .stop(.paused(log.state.statusReason ?? "")))
        #expect(log.state.pauseKind == .agents)
        #expect(!log.state.waitWouldEnd(ended: [], now: 0) && log.state.waitWouldEnd(ended: [RunID("r1.w2")], now: 0))
    }

    @Test func aFinishedWorkerGoesThroughTheQueueAndTheRatchetOfTheMergedTree() throws {
        var log = try fleet([Self.task("a"), Self.task("b")])
        _ = try log.advance()
        for c in log.state.fleet.children { try log.add(.childCreated(child: c.id, workspace: "/wt")) }
        try end(&log, RunID("r1.w2"), .finished)
        let merge = try log.advance()
        // The merge of b runs b's check and (the ratchet) nothing else yet: a is not done.
        #expect(
            merge
                == .mergeWork(
                    MergeWork(
                        task: TaskID("b"), child: RunID("r1.w2"), branch: "nightshift/r1.w2",
                        checks: [Check(command: "test -f b")], message: "nightshift: merge task b (worker r1.w2)")))
        // One merge at a time: a second start is refused while it runs.
        try end(&log, RunID("r1.w1"), .finished)
        #expect(throws: (any Error).self) {
            try log.state.applyUncommitted(
                .mergeStarted(task: TaskID("a"), child: RunID("r1.w1"), branch: "nightshift/r1.w1"))
        }
        try log.add(.workMerged(task: TaskID("b"), child: RunID("r1.w2"), commit: "m1"))
        // a's merge now holds it to b's check too: b is done.
        guard case let .mergeWork(next) = try log.advance() else {
            Issue.record("expected a's merge")
            return
        }
        #expect(next.task == TaskID("a") && next.checks.map(\.command) == ["test -f a", "test -f b"])
        #expect(throws: (any Error).self) {
            try log.state.applyUncommitted(.workMerged(task: TaskID("b"), child: RunID("r1.w2"), commit: "again"))
        }
        try log.add(.workMerged(task: TaskID("a"), child: RunID("r1.w1"), commit: "m2"))
        _ = try log.advance()
        #expect(log.state.status == .finished && log.state.tasks.map(\.commit) == ["m2", "m1"])
    }

    @Test func rejectedWorkIsReworkedByANewWorkerUntilTheAttemptsRunOut() throws {
        var log = try fleet([Self.task("a")], workers: 1)
        for attempt in 1...2 {
            _ = try log.advance()
            let d = try #require(dispatched(log).last)
            #expect(d.1 == attempt && d.2 == RunID("r1.w\(attempt)"))
            if attempt == 2 { #expect(d.3.description.contains("conflicting files: a")) }
            try log.add(.childCreated(child: d.2, workspace: "/wt"))
            try end(&log, d.2, .finished)
            guard case .mergeWork = try log.advance() else {
                Issue.record("expected a merge")
                return
            }
            try log.add(.workRejected(task: TaskID("a"), child: d.2, feedback: Payload("conflicting files: a")))
        }
        _ = try log.advance()
        #expect(log.state.tasks.first?.status == .blocked)
        #expect(dispatched(log).count == 2)
    }

    @Test func workersHoldAnEvenShareOfWhatIsLeftAndNothingIsHandedOutBeyondIt() throws {
        let policy = Policy(runBudget: Budget(steps: 10))
        var log = try fleet([Self.task("a"), Self.task("b"), Self.task("c")], workers: 3, policy: policy)
        _ = try log.advance()
        #expect(dispatched(log).map(\.4.steps) == [3, 3, 3])
        #expect(log.state.fleet.reserved(.steps) == 9)
        // With the policy's task budget, each worker holds that (when it fits).
        let taskBudget = Policy(runBudget: Budget(steps: 10), taskBudget: Budget(steps: 4))
        var capped = try fleet([Self.task("a"), Self.task("b"), Self.task("c")], workers: 3, policy: taskBudget)
        _ = try capped.advance()
        #expect(dispatched(capped).map(\.4.steps) == [4, 4, 2])
        // Nothing left: the run stops for a person, with the reason.
        let spent = Policy(runBudget: Budget(steps: 0))
        var none = try fleet([Self.task("a")], workers: 1, policy: spent)
        _ = try none.advance()
        #expect(dispatched(none).isEmpty)
        #expect(none.state.pauseKind == .budget, "\(none.state.statusReason ?? "")")
    }

    /// An `agents/worker.yaml` with `max_concurrent` lowers `--workers`.
    @Test func theWorkerProfilesMaxConcurrentLowersTheWorkers() throws {
        var log = try fleet([Self.task("a"), Self.task("b"), Self.task("c")], workers: 3)
        let worker = SpawnableProfile(
            name: RunState.workerProfile, description: "works", version: "v", budget: nil, maxConcurrent: 1)
        _ = try log.advance(tools: ToolCatalog([], profiles: [worker]))
        #expect(dispatched(log).map(\.0) == [TaskID("a")])
    }
}

extension RunState {
    /// Sub-agents: spawned (with their reservations), created, waited for, ended.
    mutating func reduceFleet(_ event: Event) throws(Invalid) {
        func fail(_ m: String) -> Invalid { Invalid(text: m) }
        switch event {
        case let .childSpawned(child, call, profile, version, task, budget):
            guard let p = pending.pendingTools.first, p.call.id == call, p.started,
                CoreTool(name: p.call.name) == .spawnAgents
            else { throw fail("\(call) is not a started spawn_agents call") }
            guard !fleet.children.contains(where: { $0.id == child }) else {
                throw fail("child \(child) was already spawned")
            }
            fleet.children.append(
                Fleet.Child(
                    id: child, call: call, profile: profile, version: version, task: task.id, spec: task, budget: budget
                ))

        case let .childCreated(child, workspace):
            guard let k = fleet.children.firstIndex(where: { $0.id == child }) else {
                throw fail("\(child) is not a child of this run")
            }
            guard !fleet.children[k].created, fleet.children[k].outcome == nil else {
                throw fail("child \(child) was already created")
            }
            fleet.children[k].created = true
            fleet.children[k].workspace = workspace
            fleet.children[k].spec = nil

        case let .waitStarted(call, agents, need, deadline):
            if call == Self.dispatchCall {
                // A coding fleet waits for any of its workers, with no tool call.
                guard settings.workers != nil, fleet.wait == nil, pending.pendingTools.isEmpty else {
                    throw fail("only a coding fleet with no wait pending waits for its workers")
                }
            } else {
                guard let p = pending.pendingTools.first, p.call.id == call, p.started,
                    CoreTool(name: p.call.name) == .waitAgents, fleet.wait == nil
                else { throw fail("\(call) is not a started wait_agents call") }
            }
            guard need >= 0, need <= agents.count else { throw fail("a wait for \(need) of \(agents.count)") }
            for a in agents where !fleet.children.contains(where: { $0.id == a }) {
                throw fail("\(a) is not a child of this run")
            }
            fleet.wait = Fleet.Wait(call: call, agents: agents, need: need, deadline: deadline)
            fleet.polledAtResume = nil

        case let .childrenPolled(call, _):
            guard let wait = fleet.wait, wait.call == call else { throw fail("no wait of \(call) is pending") }
            fleet.polledAtResume = resumes
            // A coding fleet's wait ends with the poll that saw a worker end (it has no result event).
            if call == Self.dispatchCall,
                wait.agents.contains(where: { id in
                    fleet.children.contains { $0.id == id && $0.outcome != nil }
                })
            {
                fleet.wait = nil
            }

        case let .childEnded(child, outcome):
            guard let k = fleet.children.firstIndex(where: { $0.id == child }) else {
                throw fail("\(child) is not a child of this run")
            }
            guard fleet.children[k].outcome == nil else { throw fail("child \(child)'s end was already recorded") }
            fleet.children[k].outcome = outcome
            fleet.children[k].spec = nil
        case let .taskDispatched(task, attempt, child, spec, budget):
            guard settings.workers != nil else { throw fail("only a coding fleet dispatches tasks") }
            guard let i = tasks.firstIndex(where: { $0.id == task }), tasks[i].status == .pending, current == nil
            else { throw fail("task \(task) is not pending") }
            guard isReady(i) else { throw fail("task \(task) comes after tasks that are not done") }
            guard attempt == tasks[i].attempts + 1, attempt <= settings.maxAttempts else {
                throw fail("attempt \(attempt) of task \(task) is not its next (limit \(settings.maxAttempts))")
            }
            guard !fleet.children.contains(where: { $0.id == child }) else {
                throw fail("child \(child) was already spawned")
            }
            tasks[i].status = .dispatched
            tasks[i].attempts = attempt
            tasks[i].worker = child
            if tasks[i].startTime == 0 { tasks[i].startTime = lastTime }
            fleet.children.append(
                Fleet.Child(
                    id: child, call: Self.dispatchCall, profile: Self.workerProfile, version: "", task: task,
                    spec: spec, budget: budget))

        case let .mergeStarted(task, child, branch):
            guard fleet.merging == nil else { throw fail("a merge is in progress") }
            _ = try dispatched(task, to: child)
            guard fleet.children.first(where: { $0.id == child })?.outcome?.status == .finished else {
                throw fail("worker \(child) has not finished")
            }
            fleet.merging = Fleet.Merging(task: task, child: child, branch: branch)

        case let .workMerged(task, child, commit):
            guard fleet.merging?.child == child, fleet.merging?.task == task else {
                throw fail("no merge of \(child) is in progress")
            }
            let i = try dispatched(task, to: child)
            tasks[i].status = .done
            tasks[i].commit = commit
            tasks[i].feedback = nil
            fleet.merging = nil
            gate.consecutiveFailedAttempts = 0

        case let .workRejected(task, child, feedback):
            let i = try dispatched(task, to: child)
            guard fleet.children.contains(where: { $0.id == child && $0.outcome != nil }) else {
                throw fail("worker \(child) has not ended")
            }
            guard fleet.merging == nil || fleet.merging?.child == child else {
                throw fail("another worker's merge is in progress")
            }
            tasks[i].status = .pending
            tasks[i].feedback = feedback.text
            fleet.merging = nil
            gate.consecutiveFailedAttempts += 1

        default: throw fail("not a fleet event: \(event.kind)")
        }
    }

    /// The index of `task`, which must be dispatched to `child`.
    private func dispatched(_ task: TaskID, to child: RunID) throws(Invalid) -> Int {
        guard let i = tasks.firstIndex(where: { $0.id == task }), tasks[i].status == .dispatched,
            tasks[i].worker == child
        else { throw Invalid(text: "task \(task) is not dispatched to \(child)") }
        return i
    }
}

extension RunState {
    /// Sub-agents: spawned (with their reservations), created, waited for, ended.
    mutating func reduceFleet(_ event: Event) throws(Invalid) {
        func fail(_ m: String) -> Invalid { Invalid(text: m) }
        switch event {
        case let .childSpawned(child, call, profile, version, task, budget):
            guard let p = pending.pendingTools.first, p.call.id == call, p.started,
                p.call.name == ToolSpec.spawnAgents.name
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
            guard let p = pending.pendingTools.first, p.call.id == call, p.started,
                p.call.name == ToolSpec.waitAgents.name, fleet.wait == nil
            else { throw fail("\(call) is not a started wait_agents call") }
            guard need >= 0, need <= agents.count else { throw fail("a wait for \(need) of \(agents.count)") }
            for a in agents where !fleet.children.contains(where: { $0.id == a }) {
                throw fail("\(a) is not a child of this run")
            }
            fleet.wait = Fleet.Wait(call: call, agents: agents, need: need, deadline: deadline)
            fleet.polledAtResume = nil

        case let .childrenPolled(call, _):
            guard fleet.wait?.call == call else { throw fail("no wait of \(call) is pending") }
            fleet.polledAtResume = resumes

        case let .childEnded(child, outcome):
            guard let k = fleet.children.firstIndex(where: { $0.id == child }) else {
                throw fail("\(child) is not a child of this run")
            }
            guard fleet.children[k].outcome == nil else { throw fail("child \(child)'s end was already recorded") }
            fleet.children[k].outcome = outcome
            fleet.children[k].spec = nil
        default: throw fail("not a fleet event: \(event.kind)")
        }
    }
}

import Foundation

/// What the merge queue does for one finished worker: merge `branch` into the run's branch in a
/// scratch worktree, run `checks` (the ratchet) on the merged tree, and advance the run's branch
/// only when every one passes.
public struct MergeWork: Sendable, Equatable {
    public var task: TaskID
    public var child: RunID
    public var branch: String
    public var checks: [Check]
    public var message: String
    public init(task: TaskID, child: RunID, branch: String, checks: [Check], message: String) {
        self.task = task
        self.child = child
        self.branch = branch
        self.checks = checks
        self.message = message
    }
}

/// A coding fleet (`RunSettings.workers`), decided purely: the plan's ready tasks are handed to
/// worker sub-agents, at most `workers` at once; the run parks until one ends; a finished
/// worker's branch goes through the merge queue, one at a time; anything else comes back as
/// rework for the task's next worker.
extension RunState {
    /// The pseudo call a coding fleet's children and its wait are recorded under.
    public static let dispatchCall = CallID("dispatch")
    /// The profile name worker sub-agents are recorded under (an `agents/worker.yaml` shapes them).
    public static let workerProfile = "worker"

    /// A worker's id: the parent's, then `w` and the how-many-th child it is (no spawned child's
    /// id has this shape: theirs carry the spawning call too).
    public static func workerID(parent: RunID, number: Int) -> RunID { RunID("\(parent.rawValue).w\(number)") }

    /// Whether task `i` may start: pending, and every task it comes after is done.
    public func isReady(_ i: Int) -> Bool {
        guard i < tasks.count, tasks[i].status == .pending else { return false }
        guard let after = plan?.tasks[i].after, !after.isEmpty else { return true }
        return after.allSatisfy { d in tasks.first(where: { $0.id == d })?.status == .done }
    }

    /// A pending task that can never start because a task it comes after is blocked, with that task.
    func blockedByDependency() -> (task: TaskID, on: TaskID)? {
        guard let plan else { return nil }
        for (i, t) in tasks.enumerated() where t.status == .pending {
            for d in plan.tasks[i].after ?? [] where tasks.first(where: { $0.id == d })?.status == .blocked {
                return (t.id, d)
            }
        }
        return nil
    }

    /// The checks a worker on `task` must keep passing besides its own: the plan's guards, and the
    /// other tasks' checks that passed at the baseline or belong to a merged task. They are the
    /// worker's guards, so its own ratchet holds it to them before its work reaches the queue.
    public func workerGuards(for task: TaskID) -> [Check] {
        guard let plan, let i = plan.tasks.firstIndex(where: { $0.id == task }) else { return [] }
        let own = Set(plan.tasks[i].checks.map(\.command))
        return mergeChecks(i).filter { !own.contains($0.command) }
    }

    /// What the merged tree of task `i` must pass: the ratchet of a done claim, and (with or
    /// without a baseline) every check of a task already merged.
    public func mergeChecks(_ i: Int) -> [Check] {
        guard let plan else { return [] }
        var checks = attemptChecks(i)
        var seen = Set(checks.map(\.command))
        for (j, t) in plan.tasks.enumerated() where j != i && j < tasks.count && tasks[j].status == .done {
            for c in t.checks where seen.insert(c.command).inserted { checks.append(c) }
        }
        return checks
    }

    /// The next step of a coding fleet once its plan, init and baseline are settled; nil when
    /// every task is done or blocked (the run then reports and finishes as any other).
    /// `workerProfile`: the `worker` profile, when the run's registry has one (its
    /// `max_concurrent` lowers `workers`).
    func fleetStep(workerProfile: SpawnableProfile? = nil) -> Decision? {
        guard let plan, let asked = settings.workers else { return nil }
        let workers = min(asked, workerProfile?.maxConcurrent ?? asked)
        if let m = fleet.merging, let i = plan.tasks.firstIndex(where: { $0.id == m.task }) {
            return .mergeWork(
                MergeWork(
                    task: m.task, child: m.child, branch: m.branch, checks: mergeChecks(i),
                    message: "nightshift: merge task \(m.task) (worker \(m.child))"))
        }
        let outcomes = fleet.outcomes
        // A worker that ended: its work goes to the queue, or back as rework. In plan order.
        for t in tasks where t.status == .dispatched {
            guard let worker = t.worker, let o = outcomes[worker] else { continue }
            if o.status == .finished, let branch = o.branch {
                return .emit([.mergeStarted(task: t.id, child: worker, branch: branch)])
            }
            // A worker that did not finish already had the run's attempts at the task: it is blocked.
            let why =
                o.status == .finished
                ? "finished without a branch to merge" : "ended \(o.status): \(o.summary.prefix(1500))"
            return .emit([
                .workRejected(
                    task: t.id, child: worker, feedback: Payload("The worker on task \(t.id) (\(worker)) \(why)")),
                .taskBlocked(task: t.id, reason: "its worker \(worker) \(why.prefix(300))"),
            ])
        }
        if let (task, on) = blockedByDependency() {
            return .emit([.taskBlocked(task: task, reason: "it comes after task \(on), which is blocked")])
        }
        if let t = tasks.first(where: { $0.status == .pending && $0.attempts >= settings.maxAttempts }) {
            return .emit([
                .taskBlocked(
                    task: t.id,
                    reason: "its workers' work was rejected in all \(settings.maxAttempts) attempts; last: "
                        + (t.feedback ?? "").prefix(300))
            ])
        }
        let open = tasks.filter { $0.status == .dispatched }
        if fleet.wait == nil, open.count < workers {
            let ready = tasks.indices.filter(isReady)
            if !ready.isEmpty {
                switch dispatchEvents(Array(ready.prefix(workers - open.count)), plan: plan) {
                case let .success(events): return .emit(events)
                case let .failure(stop):
                    // Nothing fits the budget: wait for the open workers, or stop when there are none.
                    if open.isEmpty { return .emit(stop.events) }
                }
            }
        }
        guard !open.isEmpty else { return nil }
        guard let wait = fleet.wait else {
            return .emit([
                .waitStarted(
                    call: Self.dispatchCall, agents: open.compactMap(\.worker), need: 1, deadline: nil)
            ])
        }
        if fleet.polledAtResume != resumes {
            return .pollChildren(call: wait.call, children: wait.agents.filter { outcomes[$0] == nil })
        }
        let merged = tasks.filter { $0.status == .done }.count
        return .emit([
            .runPaused(
                reason:
                    "waiting for workers: \(open.count) at work (\(open.map(\.id.rawValue).joined(separator: ", "))); "
                    + "\(merged) of \(tasks.count) tasks merged; the process driving them wakes this run",
                kind: .agents)
        ])
    }

    /// Why nothing could be dispatched: the events that stop the run.
    struct NoRoom: Error { var events: [Event] }

    /// One `task_dispatched` per task (as many as fit the run budget), each worker's reservation
    /// the policy's task budget, and for a resource the run budget limits and the task budget does
    /// not, an even share of what is left among the tasks not yet done.
    private func dispatchEvents(_ ready: [Int], plan: Plan) -> Result<[Event], NoRoom> {
        var events: [Event] = []
        var number = fleet.children.count
        let taskBudget = budget(.task)
        let runBudget = budget(.run)
        var heldNow: [BudgetResource: Int64] = [:]
        let waiting = Int64(max(1, tasks.filter { $0.status == .pending }.count))
        let limited = [BudgetResource.tokens, .costPicoUSD, .toolCalls, .steps].filter { runBudget.amount($0) != nil }
        // What is left of the run budget now; each waiting task's share is an even part of it.
        var leftNow: [BudgetResource: Int64] = [:]
        for r in limited {
            leftNow[r] = max(
                0, runBudget.amount(r)!.minusSaturating(ownSpent.amount(r)!.plusSaturating(childrenCommitted(r))))
        }
        for i in ready {
            var reservation = taskBudget
            for resource in limited {
                let cap = runBudget.amount(resource)!
                let left = max(0, leftNow[resource]!.minusSaturating(heldNow[resource, default: 0]))
                let amount = min(taskBudget.amount(resource) ?? leftNow[resource]! / waiting, left)
                if amount < 1 {
                    if !events.isEmpty { return .success(events) }
                    let spent = cap.minusSaturating(left)
                    return .failure(
                        NoRoom(events: [
                            .budgetExhausted(scope: .run, resource: resource, limit: cap, spent: spent),
                            .runPaused(
                                reason: "budget_exhausted: the run budget has no \(resource) left for another worker "
                                    + "(\(Self.shown(resource, spent)) of \(Self.shown(resource, cap)) spent or held); "
                                    + "raise it, and resume",
                                kind: .budget),
                        ]))
                }
                reservation.set(resource, amount)
                heldNow[resource] = heldNow[resource, default: 0].plusSaturating(amount)
            }
            number += 1
            let task = plan.tasks[i]
            var spec = task
            spec.after = nil
            if let feedback = tasks[i].feedback, !feedback.isEmpty {
                spec.description +=
                    "\n\nThis is attempt \(tasks[i].attempts + 1): the work of the previous attempt was not merged.\n"
                    + feedback
            }
            events.append(
                .taskDispatched(
                    task: task.id, attempt: tasks[i].attempts + 1,
                    child: Self.workerID(parent: run, number: number), spec: spec, budget: reservation))
        }
        return .success(events)
    }
}

extension Budget {
    /// Sets the limit on `resource` (in the units ``Spent`` counts; wall time is not carved).
    mutating func set(_ resource: BudgetResource, _ value: Int64) {
        switch resource {
        case .tokens: tokens = Int(value)
        case .costPicoUSD: costPicoUSD = value
        case .toolCalls: toolCalls = Int(value)
        case .steps: steps = Int(value)
        case .wallSeconds: wallSeconds = Int(value)
        }
    }
}

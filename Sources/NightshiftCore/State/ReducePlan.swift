extension RunState {
    /// The plan: set, revised, approved or rejected; the init script and the baseline run before the first task.
    mutating func reducePlan(_ event: Event) throws(Invalid) {
        func fail(_ m: String) -> Invalid { Invalid(text: m) }
        switch event {
        case let .planSet(plan):
            guard self.plan == nil else {
                throw fail("the plan is already set; plans are not rewritten (a new version is plan_revised)")
            }
            if let problem = plan.problem { throw fail(problem) }
            self.plan = plan
            tasks = plan.tasks.map { TaskProgress(id: $0.id) }
            planning.planVersion = 1
            acceptedPlan()

        case let .planRevised(version, plan, _):
            guard let old = self.plan, version == planning.planVersion + 1 else {
                throw fail("plan version \(planning.planVersion + 1) is next, not \(version)")
            }
            guard current == nil, pending.pendingCommit == nil else {
                throw fail("a plan is revised only between tasks")
            }
            if let problem = plan.problem { throw fail(problem) }
            // Finished tasks that keep their id stay finished; everything else starts afresh.
            let kept = Dictionary(
                tasks.filter { $0.status == .done }.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            tasks = plan.tasks.map { t in
                if let k = kept[t.id], old.tasks.first(where: { $0.id == t.id }) != nil { return k }
                return TaskProgress(id: t.id)
            }
            self.plan = plan
            planning.planVersion = version
            planning.replans += 1
            acceptedPlan()

        case let .goalSet(goal):
            guard plan == nil, self.goal == nil else { throw fail("the run already has a plan or a goal") }
            guard goal.text.contains(where: { !$0.isWhitespace }) else { throw fail("the goal is empty") }
            self.goal = goal.text

        case let .planApproved(version, _, _):
            guard plan != nil, version == planning.planVersion, !planning.planApproved, current == nil else {
                throw fail("plan version \(version) is not waiting for review")
            }
            planning.planApproved = true

        case let .planRejected(version, by, reason):
            if by.isHarness {
                guard pending.roleResponse?.role == Role.planner else { throw fail("no planner answer is waiting") }
                pending.roleResponse = nil
            } else {
                guard plan != nil, version == planning.planVersion, !planning.planApproved, current == nil, goal != nil
                else {
                    throw fail("plan version \(version) is not waiting for review, or the run has no goal to plan from")
                }
                planning.replanning = true
            }
            planning.planRejections += 1
            planning.planFeedback = reason

        case let .initRan(_, passed, output, _):
            guard plan?.initScript != nil, current == nil, !planning.initDone else {
                throw fail("no init script is due")
            }
            planning.initDone = passed
            planning.initFailure = passed ? nil : String(output.text.suffix(2000))

        case let .baselineRan(command, _, exitCode, _, _, _):
            guard current == nil, plan != nil else { throw fail("the baseline is taken between tasks") }
            planning.baselineExit[command] = exitCode
        default: throw fail("not a plan event: \(event.kind)")
        }
    }
}

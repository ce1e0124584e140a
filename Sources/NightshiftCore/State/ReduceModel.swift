extension RunState {
    /// Model calls: requested, answered, failed, retried; the ledger of tokens and cost.
    mutating func reduceModel(_ event: Event) throws(Invalid) {
        func fail(_ m: String) -> Invalid { Invalid(text: m) }
        switch event {
        case let .modelRequested(call, task, turn, role):
            guard call == RunState.modelCallID(spend.modelCalls + 1) else {
                throw fail("expected call id \(RunState.modelCallID(spend.modelCalls + 1))")
            }
            let role = role ?? Role.worker
            switch role {
            case Role.worker:
                guard let i = current, tasks[i].id == task else { throw fail("task \(task) is not active") }
                guard phase == .working else {
                    throw fail("the harness is not waiting to call the model (phase \(phase))")
                }
                guard turn == tasks[i].turns else { throw fail("expected turn \(tasks[i].turns)") }
            case Role.planner:
                guard current == nil, plan == nil || planning.replanning, goal != nil, task == RunState.planTaskID
                else {
                    throw fail("no plan is to be made now")
                }
            case Role.judge:
                guard let i = current, tasks[i].id == task, case .checking = phase else {
                    throw fail("task \(task) is not being checked")
                }
            case Role.compactor, Role.handoff:
                guard let i = current, tasks[i].id == task, phase == .working else {
                    throw fail("task \(task) is not being worked on")
                }
            case Role.dreamer:
                throw fail("the dreamer is not called in a run (nightshift dream records in the memory log)")
            }
            if role != Role.worker {
                let key = role.rawValue + ":" + task.rawValue
                guard turn == spend.roleCalls[key, default: 0] else {
                    throw fail("expected \(role) turn \(spend.roleCalls[key, default: 0])")
                }
                spend.roleCalls[key] = turn + 1
                pending.roleRequestSeq = lastSeq + 1
            }
            spend.modelCalls += 1
            pending.awaitingRole = role
            pending.returnPhase = phase
            pending.roleResponse = nil
            phase = .awaitingModel(call: call)

        case let .modelResponded(call, text, toolCalls, claimsDone, summary, usage, _, cost, handoff):
            guard phase == .awaitingModel(call: call) else { throw fail("no request \(call) is waiting") }
            guard Set(toolCalls.map(\.id)).count == toolCalls.count else { throw fail("tool call ids repeat") }
            for (n, t) in toolCalls.enumerated() where t.id != RunState.toolCallID(call, n + 1) {
                throw fail("tool call \(n + 1) must have id \(RunState.toolCallID(call, n + 1))")
            }
            // Numbers from outside are bounded where they enter; a log that carries others anyway
            // (written by hand) is refused here rather than trapping on an overflow.
            if let why = usage.implausibility { throw fail("the response's usage is out of range: \(why)") }
            if let cost, !(0...Money.maxPicoPerCall).contains(cost) {
                throw fail("the response's cost \(cost) is out of range")
            }
            guard self.usage.input <= Int.max / 2, self.usage.output <= Int.max / 2, costPicoUSD <= Int64.max / 2 else {
                throw fail("the run's token or cost totals are out of range")
            }
            self.usage = self.usage + usage
            let l = ledgerIndex(pending.awaitingRole ?? Role.worker)
            spend.ledger[l].calls += 1
            spend.ledger[l].usage = spend.ledger[l].usage + usage
            if let cost { spend.ledger[l].costPicoUSD += cost } else { spend.ledger[l].unpricedCalls += 1 }
            spend.lastCallCostPicoUSD = cost ?? 0
            spend.lastCallTokens = usage.input + usage.output
            if let i = current {
                tasks[i].usage = tasks[i].usage + usage
                if let cost { tasks[i].costPicoUSD += cost }
            }
            guard (pending.awaitingRole ?? Role.worker) == Role.worker, let i = current else {
                // A role's answer waits for the core to read it (a plan, a verdict, a summary, a handoff).
                pending.roleResponse = RoleResponse(
                    role: pending.awaitingRole ?? Role.worker, text: text.text, toolCalls: toolCalls)
                phase = pending.returnPhase ?? .working
                pending.returnPhase = nil
                break
            }
            pending.returnPhase = nil
            tasks[i].turns += 1
            tasks[i].turnsThisAttempt += 1
            shiftState.shiftTurns += 1
            shiftState.turnsSinceCompaction += 1
            shiftState.shiftTokens += estimateTokens(
                bytes: text.text.utf8.count
                    + toolCalls.reduce(0) { $0 + $1.arguments.text.utf8.count + $1.name.utf8.count + 16 })
            pending.unreportedInDoubt = []
            // The hooks' notices were shown in the context this response answered.
            if shiftState.hookNotices != nil { shiftState.hookNotices = [] }
            shiftState.claimHandoff = claimsDone ? handoff : nil
            pending.pendingTools = toolCalls.map { PendingTool(call: $0) }
            if !pending.pendingTools.isEmpty {
                phase = .runningTools
                pending.pendingClaim = claimsDone ? (summary ?? "") : nil
            } else {
                phase = claimsDone ? .checking(summary: summary ?? "") : .working
                pending.pendingClaim = nil
            }

        case let .modelFailed(call, _):
            guard phase == .awaitingModel(call: call) else { throw fail("no request \(call) is waiting") }
            phase = pending.returnPhase ?? .working
            pending.returnPhase = nil

        case let .modelRetried(call, attempt, _, delayMs):
            guard phase == .awaitingModel(call: call) else { throw fail("no request \(call) is waiting") }
            guard attempt >= 1, delayMs >= 0 else {
                throw fail("attempt must be at least 1 and the delay not negative")
            }
            spend.ledger[ledgerIndex(pending.awaitingRole ?? Role.worker)].retries += 1
        default: throw fail("not a model event: \(event.kind)")
        }
    }
}

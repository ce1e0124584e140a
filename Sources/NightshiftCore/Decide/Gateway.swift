import Foundation

/// The gateway's budgets and breakers: checked before every model and tool call.
extension RunState {
    /// A tripped breaker or an exhausted budget, as the events that pause the run; nil when neither.
    /// Checked before each model call (tokens, cost, steps, time) and each tool call (tool calls, repeats).
    func breakerOrBudget(forModelCall: Bool, nextCall: ToolCall? = nil) -> [Event]? {
        guard policy != nil || !gate.budgetOverrides.isEmpty else { return nil }
        let b = policy?.breakers ?? Breakers()
        if let n = b.failedChecks, gate.consecutiveFailedAttempts >= n {
            return trip(
                .failedChecks, gate.consecutiveFailedAttempts,
                "\(gate.consecutiveFailedAttempts) attempts in a row failed their checks")
        }
        if let n = b.toolErrors, gate.consecutiveToolErrors >= n {
            return trip(
                .toolErrors, gate.consecutiveToolErrors,
                "\(gate.consecutiveToolErrors) tool calls in a row ended in an error")
        }
        if let n = b.repeatedCall, let call = nextCall, call.name + " " + call.arguments.text == gate.lastCallKey,
            gate.repeatCount + 1 > n
        {
            return trip(
                .repeatedCall, gate.repeatCount + 1,
                "\(call.name) with the same arguments \(gate.repeatCount + 1) times in a row without progress")
        }
        let i = current
        for scope in BudgetScope.allCases {
            let budget = budget(scope)
            guard !budget.isEmpty else { continue }
            let task = (scope == .task ? i.map { tasks[$0] } : nil)
            if scope == .task, task == nil { continue }
            // (resource, limit, spent, what the next call is expected to add): a call that would go over is not made.
            // The next model call is estimated to cost what the latest one did.
            var checks: [(BudgetResource, Int64?, Int64, Int64)] = []
            // The run scope counts its children too: what ended ones spent and what open ones hold.
            let countsChildren = scope == .run && !fleet.children.isEmpty
            func fleetShare(_ r: BudgetResource) -> Int64 { countsChildren ? childrenCommitted(r) : 0 }
            if forModelCall {
                let usage = task?.usage ?? self.usage
                checks.append(
                    (
                        .tokens, budget.tokens.map(Int64.init),
                        Int64(usage.input + usage.output).plusSaturating(fleetShare(.tokens)),
                        Int64(spend.lastCallTokens)
                    ))
                checks.append(
                    (
                        .costPicoUSD, budget.costPicoUSD,
                        (task?.costPicoUSD ?? costPicoUSD).plusSaturating(fleetShare(.costPicoUSD)),
                        spend.lastCallCostPicoUSD
                    ))
                checks.append(
                    (
                        .steps, budget.steps.map(Int64.init),
                        Int64(task?.turns ?? spend.modelCalls).plusSaturating(fleetShare(.steps)), 1
                    ))
            } else {
                checks.append(
                    (
                        .toolCalls, budget.toolCalls.map(Int64.init),
                        Int64(task?.toolCalls ?? toolCalls).plusSaturating(fleetShare(.toolCalls)), 1
                    ))
            }
            let since = task?.startTime ?? startTime
            checks.append(
                (.wallSeconds, budget.wallSeconds.map(Int64.init), since > 0 ? (lastTime - since) / 1000 : 0, 0))
            for (resource, limit, spent, next) in checks {
                guard let limit, spent.plusSaturating(next) > limit || spent >= limit else { continue }
                let shown =
                    resource == .costPicoUSD
                    ? "cost \(Money.format(spent)) of \(Money.format(limit))" : "\(resource) \(spent) of \(limit)"
                // A sub-agent's run budget is its reservation: nobody can raise it, so the sub-agent ends
                // and its parent gets the result.
                if scope == .run, let parent = settings.parent {
                    return [
                        .budgetExhausted(scope: scope, resource: resource, limit: limit, spent: spent),
                        .runFailed(
                            reason: "budget_exhausted: the reservation from \(parent.run) is spent (\(shown))"),
                    ]
                }
                return [
                    .budgetExhausted(scope: scope, resource: resource, limit: limit, spent: spent),
                    .runPaused(
                        reason: "budget_exhausted: the \(scope) budget is spent (\(shown)); raise it, and resume",
                        kind: .budget),
                ]
            }
        }
        return nil
    }

    private func trip(_ breaker: Breaker, _ count: Int, _ detail: String) -> [Event] {
        [
            .breakerTripped(breaker: breaker, count: count, detail: detail),
            .runPaused(
                reason: "breaker \(breaker): \(detail); escalated: answer, and resume",
                kind: .breaker),
        ]
    }
}

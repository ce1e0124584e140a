extension RunState {
    /// The gateway and the humans: policy, decisions, approvals, budgets, breakers, guidance.
    mutating func reduceGovernance(_ event: Event) throws(Invalid) {
        func fail(_ m: String) -> Invalid { Invalid(text: m) }
        switch event {
        case let .policySet(policy, source, hash, _):
            self.policy = policy
            gate.policyHash = hash
            gate.policySource = source

        case let .toolDecided(call, effect, _, reason):
            guard phase == .runningTools, let k = pending.pendingTools.firstIndex(where: { !$0.requested }),
                pending.pendingTools[k].call.id == call, pending.pendingTools[k].verdict == nil
            else {
                throw fail("\(call) is not the next proposed call awaiting a decision")
            }
            pending.pendingTools[k].verdict = effect
            pending.pendingTools[k].verdictReason = reason
            if effect == .deny { rememberDenied(pending.pendingTools[k].call) }

        case let .approvalDecided(call, approved, by, note, argumentsHash):
            guard let k = pending.pendingTools.firstIndex(where: { $0.call.id == call }) else {
                throw fail("\(call) is not a pending call")
            }
            guard pending.pendingTools[k].verdict == .ask, !pending.pendingTools[k].requested else {
                throw fail("\(call) is not waiting for approval")
            }
            guard pending.pendingTools[k].approved == nil else { throw fail("\(call) was already decided") }
            guard argumentsHash == pending.pendingTools[k].call.arguments.sha256Hex else {
                throw fail("the approval is for other arguments than \(call)'s")
            }
            pending.pendingTools[k].approved = approved
            if !approved { rememberDenied(pending.pendingTools[k].call) }
            pending.pendingTools[k].approvalNote =
                (approved ? "approved" : "denied") + " by \(by)" + (note.isEmpty ? "" : ": \(note)")

        case .budgetExhausted:
            break  // the pause that follows holds the run

        case let .budgetSet(scope, budget, _):
            // A sub-agent's run budget is its reservation, set when it is made: raising it would
            // spend past what its parent holds for it.
            if scope == .run, let parent = settings.parent, gate.budgetOverrides[.run] != nil {
                throw fail("the run budget of a sub-agent is its reservation from \(parent.run); it cannot change")
            }
            gate.budgetOverrides[scope] = budget

        case let .breakerTripped(breaker, _, _):
            switch breaker {
            case .toolErrors: gate.consecutiveToolErrors = 0
            case .failedChecks: gate.consecutiveFailedAttempts = 0
            case .repeatedCall:
                gate.repeatCount = 0
                gate.lastCallKey = nil
            }

        case .escalated:
            break

        case let .guidanceSet(source, hash, text):
            gate.guidanceSpec = text.text
            gate.guidanceSource = source
            gate.guidanceHash = hash

        case let .guidanceGiven(text, by):
            guidance.append("\(by): \(text)")
            if guidance.count > 10 { guidance.removeFirst(guidance.count - 10) }
        default: throw fail("not a governance event: \(event.kind)")
        }
    }
}

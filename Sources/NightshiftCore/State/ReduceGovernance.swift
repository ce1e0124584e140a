extension RunState {
    /// The gateway and the humans: policy, decisions, approvals, budgets, breakers, guidance.
    mutating func reduceGovernance(_ event: Event) throws(Invalid) {
        func fail(_ m: String) -> Invalid { Invalid(text: m) }
        switch event {
        case let .policySet(policy, source, hash, _):
            self.policy = policy
            policyHash = hash
            policySource = source

        case let .toolDecided(call, effect, _, reason):
            guard phase == .runningTools, let k = pendingTools.firstIndex(where: { !$0.requested }),
                pendingTools[k].call.id == call, pendingTools[k].verdict == nil
            else {
                throw fail("\(call) is not the next proposed call awaiting a decision")
            }
            pendingTools[k].verdict = effect
            pendingTools[k].verdictReason = reason
            if effect == .deny { rememberDenied(pendingTools[k].call) }

        case let .approvalDecided(call, approved, by, note, argumentsHash):
            guard let k = pendingTools.firstIndex(where: { $0.call.id == call }) else {
                throw fail("\(call) is not a pending call")
            }
            guard pendingTools[k].verdict == .ask, !pendingTools[k].requested else {
                throw fail("\(call) is not waiting for approval")
            }
            guard pendingTools[k].approved == nil else { throw fail("\(call) was already decided") }
            guard argumentsHash == pendingTools[k].call.arguments.sha256Hex else {
                throw fail("the approval is for other arguments than \(call)'s")
            }
            pendingTools[k].approved = approved
            if !approved { rememberDenied(pendingTools[k].call) }
            pendingTools[k].approvalNote =
                (approved ? "approved" : "denied") + " by \(by)" + (note.isEmpty ? "" : ": \(note)")

        case .budgetExhausted:
            break  // the pause that follows holds the run

        case let .budgetSet(scope, budget, _):
            budgetOverrides[scope] = budget

        case let .breakerTripped(breaker, _, _):
            switch breaker {
            case .toolErrors: consecutiveToolErrors = 0
            case .failedChecks: consecutiveFailedAttempts = 0
            case .repeatedCall:
                repeatCount = 0
                lastCallKey = nil
            }

        case .escalated:
            break

        case let .guidanceSet(source, hash, text):
            guidanceSpec = text.text
            guidanceSource = source
            guidanceHash = hash

        case let .guidanceGiven(text, by):
            guidance.append("\(by): \(text)")
            if guidance.count > 10 { guidance.removeFirst(guidance.count - 10) }
        default: throw fail("not a governance event: \(event.kind)")
        }
    }
}

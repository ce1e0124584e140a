import NightshiftCore

/// What a person types to let a paused run go on, said by the front end from why it paused (the
/// log records the kind and the facts, not this CLI's words: another front end says it its way).
/// Pauses recorded before that carry the words in their reason too; saying them again is harmless.
enum PauseAdvice {
    static func decide(_ kind: PauseKind?, run: RunID, call: CallID?) -> String? {
        switch kind {
        case .approval:
            guard let call else { return nil }
            return "nightshift approve \(run) \(call) | nightshift deny \(run) \(call) --reason …"
        case .planReview:
            return "nightshift approve \(run) plan | nightshift deny \(run) plan --reason … (for a new version)"
        case .budget:
            return "nightshift budget \(run) … (--task for the task's budget), then resume"
        case .breaker, .escalation, .planning:
            return "nightshift answer \(run) \"…\", then resume"
        case .model, .workspace:
            return "fix what the reason names, then nightshift resume \(run)"
        case .agents, nil:
            return nil
        }
    }
}

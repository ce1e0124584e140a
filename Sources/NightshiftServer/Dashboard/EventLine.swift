import Foundation
import NightshiftCore

/// A few words for an event in the dashboard's timeline (its whole record is one click away).
/// Agent-written text appears only cut short, and is escaped where it is put in a page.
enum EventLine {
    static func short(_ event: Event) -> String {
        func cut(_ s: String, _ n: Int = 120) -> String {
            let one = s.replacingOccurrences(of: "\n", with: " ")
            return one.count > n ? String(one.prefix(n)) + "…" : one
        }
        switch event {
        case let .runCreated(title, _, model, _): return "\(cut(title)) (model \(model))"
        case let .taskStarted(task, attempt): return "task \(task), attempt \(attempt)"
        case let .modelResponded(_, text, calls, claimsDone, _, _, _, _, _):
            let tools = calls.map(\.name).joined(separator: ", ")
            return (calls.isEmpty ? cut(text.text) : "calls \(tools)") + (claimsDone ? " · claims done" : "")
        case let .toolRequested(call, name, _): return "\(call) \(name)"
        case let .toolDecided(call, effect, rule, _): return "\(call): \(effect.rawValue) (\(cut(rule, 60)))"
        case let .toolFinished(call, result):
            return "\(call) \(result.ok ? "ok" : "failed"): \(cut(result.output.text))"
        case let .toolInDoubt(call, _): return "\(call) in doubt"
        case let .checkRan(_, _, _, command, _, _, passed, _, _): return "\(passed ? "✓" : "✗") \(cut(command))"
        case let .runPaused(reason, _): return cut(reason)
        case let .approvalDecided(call, approved, by, _, _):
            return "\(call) \(approved ? "approved" : "denied") by \(by)"
        case let .taskFinished(task, attempt, _): return "task \(task) done (attempt \(attempt))"
        case let .runFinished(summary): return cut(summary)
        case let .runFailed(reason): return cut(reason)
        case let .runResumed(by, _): return "by \(cut(by, 80))"
        default: return ""
        }
    }
}

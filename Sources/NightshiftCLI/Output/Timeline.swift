import Foundation
import NightshiftCore
import NightshiftRuntime
import Synchronization

/// Renders events as a readable timeline (shared by live progress and `nightshift log`).
enum Timeline {
    static func line(_ e: EventEnvelope, start: Timestamp) -> String {
        let elapsed = Double(e.time.milliseconds - start.milliseconds) / 1000
        let t = String(format: "%7.2fs", elapsed)
        return "\(String(format: "%5d", e.seq))  \(t)  \(describe(e.event))"
    }

    static func describe(_ event: Event) -> String {
        func short(_ s: String, _ n: Int = 80) -> String {
            let one = s.replacingOccurrences(of: "\n", with: " ⏎ ")
            return one.count > n ? String(one.prefix(n)) + "…" : one
        }
        switch event {
        case let .runCreated(title, workspace, model, _):
            return "run created: \(title)  (workspace \(workspace), model \(model))"
        case let .planSet(plan):
            return "plan: \(plan.tasks.count) task(s): " + plan.tasks.map(\.id.rawValue).joined(separator: ", ")
        case let .taskStarted(task, attempt): return "▶ task \(task)" + (attempt > 1 ? " — attempt \(attempt)" : "")
        case let .modelRequested(call, task, turn, role):
            return "  model ← \(call) · \((role ?? .worker).rawValue) · task \(task) · step \(turn + 1)"
        case let .modelRetried(call, attempt, reason, delay):
            return "  model ↻ \(call) attempt \(attempt) failed (\(short(reason, 80))); retrying in \(delay) ms"
        case let .modelResponded(call, text, calls, done, summary, usage, _, cost, _):
            var s = "  model → \(call)"
            if !text.text.isEmpty { s += " “\(short(text.text, 60))”" }
            if !calls.isEmpty { s += " calls " + calls.map(\.name).joined(separator: ", ") }
            if done { s += " claims done" + (summary.map { ": \(short($0, 50))" } ?? "") }
            return s + "  [\(usage.input)+\(usage.output) tok" + (cost.map { ", \(Money.format($0))" } ?? "") + "]"
        case let .modelFailed(call, reason): return "  model ✗ \(call): \(short(reason, 120))"
        case let .toolRequested(call, name, idempotent):
            return "    tool \(call) \(name) requested" + (idempotent ? " (idempotent)" : "")
        case let .toolStarted(call): return "    tool \(call) started"
        case let .toolFinished(call, result):
            return "    tool \(call) \(result.ok ? "ok" : "failed")" + (result.exitCode.map { " (exit \($0))" } ?? "")
                + ": \(short(result.output.text, 70))"
        case let .toolInDoubt(call, reason): return "    tool \(call) IN DOUBT: \(short(reason, 100))"
        case let .checkRan(_, _, _, command, expect, exit, passed, _, ms):
            return "  check \(passed ? "✓" : "✗") \(short(command, 60)) → exit \(exit)"
                + (passed ? "" : " (expected \(expect))") + " in \(ms) ms"
        case let .taskFinished(task, attempt, _): return "✔ task \(task) done (attempt \(attempt))"
        case let .taskAttemptFailed(task, attempt, feedback):
            return "✗ task \(task) attempt \(attempt) not accepted: "
                + (feedback.text.contains("the judge")
                    ? "the judge asked for rework"
                    : RunState.isTurnLimit(feedback.text)
                        ? "it used its model turns without a done claim" : "checks failed")
        case let .taskBlocked(task, reason): return "■ task \(task) blocked: \(short(reason, 100))"
        case let .noteWritten(_, text): return "  note: \(short(text.text, 90))"
        case let .noteAdded(_, text): return "    worker's note: \(short(text, 90))"
        case let .runPaused(reason, _): return "⏸ run paused: \(short(reason, 160))"
        case let .runResumed(by, _): return "⏵ run resumed by \(by)"
        case let .runReported(report): return "  report: \(report.text.split(separator: "\n").count) lines (REPORT.md)"
        case let .runFinished(summary): return "■ run finished: \(summary)"
        case let .runFailed(reason): return "■ run failed: \(short(reason, 160))"
        case let .workspaceProvisioned(path, branch, base):
            return "  workspace: git worktree \(path) on branch \(branch) (from \(base.prefix(10)))"
        case let .workspaceMoved(path, branch, commit, from):
            return path == from
                ? "  workspace made again: git worktree \(path) on branch \(branch) at \(commit.prefix(10)) (its folder was gone)"
                : "  workspace moved: git worktree \(path) on branch \(branch) at \(commit.prefix(10)) (was \(from))"
        case let .workCommitted(task, commit, detail):
            return "  "
                + (commit.map { "committed \($0.prefix(10)) for task \(task)" }
                    ?? "nothing committed for task \(task): \(detail)")
        case let .toolServerStarted(name, tools, _):
            return "  mcp server \(name) started: \(tools.count) tools (\(short(tools.joined(separator: ", "), 100)))"
        case let .policySet(policy, source, hash, _):
            return
                "  policy \(source) (\(hash.prefix(12))): \(policy.rules.count) rules, default \(policy.defaultEffect.rawValue)"
        case let .toolDecided(call, effect, rule, reason):
            return "    policy \(effect.rawValue.uppercased()) \(call)"
                + (effect == .allow ? "" : " by \(rule): \(short(reason, 90))")
        case let .approvalDecided(call, approved, by, note, _):
            return "  \(approved ? "✔ approved" : "✗ denied") \(call) by \(by)"
                + (note.isEmpty ? "" : ": \(short(note, 80))")
        case let .budgetExhausted(scope, resource, limit, spent):
            return "  budget exhausted: \(scope) \(resource) \(spent) of \(limit)"
        case let .budgetSet(scope, budget, by): return "  \(scope) budget set by \(by): \(BudgetText.describe(budget))"
        case let .breakerTripped(breaker, _, detail): return "  breaker \(breaker) tripped: \(short(detail, 100))"
        case let .escalated(_, reason): return "  ⚑ escalated: \(short(reason, 110))"
        case let .guidanceGiven(text, by): return "  guidance from \(by): \(short(text, 100))"
        case let .protectedHashed(hashes): return "  protected files recorded: \(hashes.count)"
        case let .protectedVerified(task, attempt, changed):
            return "  protected files of task \(task) attempt \(attempt): "
                + (changed.isEmpty ? "unchanged" : "CHANGED \(short(changed.joined(separator: ", "), 90))")
        case let .guidanceSet(source, hash, text):
            return "  guidance \(source) (\(hash.prefix(12)), \(text.text.utf8.count) bytes)"
        case let .goalSet(goal): return "goal: \(short(goal.text, 120))"
        case let .planRevised(version, plan, reason):
            return "plan version \(version): \(plan.tasks.count) task(s): "
                + plan.tasks.map(\.id.rawValue).joined(separator: ", ") + " — \(short(reason, 80))"
        case let .planApproved(version, by, _): return "  ✔ plan version \(version) approved by \(by)"
        case let .planRejected(version, by, reason):
            return "  ✗ plan version \(version) rejected by \(by): \(short(reason, 100))"
        case let .initRan(exit, passed, _, ms): return "  init script \(passed ? "✓" : "✗") exit \(exit) in \(ms) ms"
        case let .baselineRan(command, _, exit, passed, _, _):
            return "  baseline \(passed ? "passes" : "fails ") \(short(command, 60)) (exit \(exit))"
        case let .judgeVerdict(task, attempt, verdict, reasons):
            return "  ⚖ judge: \(verdict.rawValue.uppercased()) task \(task) attempt \(attempt)"
                + (reasons.isEmpty ? "" : ": \(short(reasons.joined(separator: "; "), 100))")
        case let .contextCompacted(task, summary, through, before):
            return
                "  context of task \(task) compacted (through event \(through), ~\(before) tokens): \(short(summary.text, 70))"
        case let .handoffWritten(task, reason, handoff):
            return "  handoff (\(reason)) for \(task): \(short(handoff.left.isEmpty ? handoff.done : handoff.left, 90))"
        case let .hookRan(on, command, exitCode, passed, blocking, _, ms):
            let verdict =
                passed ? "passed" : "failed (exit \(exitCode))\(blocking && on == .afterEdit ? ", blocking" : "")"
            return "    hook \(on) `\(short(command, 60))` \(verdict) in \(ms) ms"
        case let .isolationSet(mode): return "  commands run \(mode.hasPrefix("UNSANDBOXED") ? mode : "in " + mode)"
        case let .rollbackAccepted(from, through, by):
            return
                "  ⚠ rollback accepted by \(by): events \(from)–\(through) were lost; their effects may have happened"
        case let .snapshotTaken(seq, sha256):
            return "  snapshot of the state at event \(seq) stored (\(sha256.prefix(12)))"
        case let .childSpawned(child, _, profile, _, task, budget):
            return
                "  ⇢ sub-agent \(child) (\(profile)) spawned for task \(task.id), holding \(BudgetText.describe(budget))"
        case let .childCreated(child, workspace): return "  sub-agent \(child) made, working in \(workspace)"
        case let .waitStarted(_, agents, need, deadline):
            return "  waiting for \(need) of \(agents.count) sub-agent(s)"
                + (deadline.map { _ in " (with a timeout)" } ?? "")
        case let .childrenPolled(_, open): return "  \(open.count) sub-agent(s) still running"
        case let .childEnded(child, outcome):
            return "  ⇠ sub-agent \(child) \(outcome.status): \(short(outcome.summary, 80)) "
                + "(\(outcome.spent.steps) steps, \(Money.format(outcome.spent.costPicoUSD)))"
        case let .taskDispatched(task, attempt, child, _, budget):
            return "▶ task \(task) attempt \(attempt) handed to worker \(child), holding \(BudgetText.describe(budget))"
        case let .mergeStarted(task, child, branch):
            return "  ⇄ merging \(branch) (task \(task), worker \(child)) into the run's branch"
        case let .workMerged(task, _, commit):
            return "✓ task \(task) merged at \(commit.prefix(12)); the merged tree passed the ratchet"
        case let .memoryProposed(_, scope, kind, text, _):
            return "  memory proposed (\(kind), \(scope)): \(short(text, 80)); nightshift memory proposals lists it"
        case let .memorySearchDegraded(reason):
            return "  memory search is full-text only for this run: \(short(reason, 120))"
        case let .memoriesShown(task, memories):
            return memories.isEmpty
                ? "  no memories matched task \(task)"
                : "  \(memories.count) memor\(memories.count == 1 ? "y" : "ies") shown for task \(task): "
                    + memories.map { "\($0.id) v\($0.version)" }.joined(separator: ", ")
        case let .workRejected(task, child, feedback):
            return "  ✗ work of \(child) on task \(task) sent back: \(short(feedback.text, 90))"
        }
    }
}

/// Prints committed events live, with the run's elapsed time.
final class TimelinePrinter: Sendable {
    /// The time the timeline counts from: the run's first event.
    private let start = Mutex<Timestamp?>(nil)
    private let json: Bool
    init(json: Bool = false) { self.json = json }

    func print(_ e: EventEnvelope) {
        // Under the lock, so lines from concurrent appenders come out whole and in order.
        start.withLock { start in
            if start == nil { start = e.time }
            let line = json ? JSONLine.render(e) : Timeline.line(e, start: start ?? e.time)
            writeOut(line + "\n")
        }
    }

    func setStart(_ t: Timestamp) { start.withLock { $0 = t } }
}

/// A budget in words, for the timeline and `nightshift status`.
enum BudgetText {
    static func describe(_ b: Budget) -> String {
        var parts: [String] = []
        if let c = b.costPicoUSD { parts.append("cost \(Money.format(c))") }
        if let t = b.tokens { parts.append("\(t) tokens") }
        if let t = b.toolCalls { parts.append("\(t) tool calls") }
        if let s = b.steps { parts.append("\(s) steps") }
        if let w = b.wallSeconds { parts.append("\(w) s") }
        return parts.isEmpty ? "no limits" : parts.joined(separator: ", ")
    }
}

extension TimelinePrinter {
    /// For a use case's observer: every committed event, printed.
    var events: @Sendable (EventEnvelope) -> Void { { [self] in self.print($0) } }
    /// For a use case's observer: the woken run's first event time, where the timeline counts from.
    var wake: @Sendable (Timestamp) -> Void { { [self] in self.setStart($0) } }
}

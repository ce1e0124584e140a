import ArgumentParser
import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftHarness
import NightshiftSQLite
#if canImport(Glibc)
import Glibc
#endif

/// The human side of the gateway: what waits (`inbox`), and the decisions a person appends to a
/// run's log (`approve`, `deny`, `budget`, `answer`). A waiting run holds no process: these
/// commands only append an event; the run continues on the next `nightshift resume`.
enum Governance {
    /// Who is deciding: the OS user running this command (not a name the caller types).
    static var user: String {
        if let pw = getpwuid(geteuid()), let name = pw.pointee.pw_name { return String(cString: name) }
        return "uid \(geteuid())"
    }

    /// Appends a human's event to `run`, re-reading the log if another process appended first.
    /// `check` sees the current state and returns the event, or throws why it is refused.
    static func append(_ options: StoreOptions, run: String, _ check: (RunState) throws -> Event) async throws -> RunState {
        let store = try Composition.openExistingStore(options)
        let id = RunID(run)
        guard try await store.summary(of: id) != nil else { throw CLIError("no run \(run) in \(options.db) (nightshift status lists the runs)") }
        // A human's decision is the most audit-sensitive event: never append it to a log that does
        // not verify from its first event (the wake below reads only the snapshot and its tail).
        let chain = try await store.verifyChain(id)
        if let bad = chain.firstBadSeq {
            throw CLIError("""
                run \(run)'s log does not verify at event \(bad) (\(chain.problem ?? "broken chain")); no decision was recorded. \
                See nightshift audit verify \(run)
                """)
        }
        let harness = Composition.harness(store: store, model: NoModel(), printer: nil)
        for _ in 0..<10 {
            var state = try await harness.wake(id)
            if state.isTerminal { throw CLIError("run \(run) already \(state.status.rawValue); nothing to decide") }
            let event = try check(state)
            if let approvers = state.policy?.approvers, !approvers.isEmpty, !approvers.contains(user) {
                throw CLIError("\(user) may not decide for run \(run): its policy names the approvers \(approvers.joined(separator: ", "))")
            }
            do {
                for e in try await store.append([event], to: id, expectedSeq: state.lastSeq) { try state.apply(e) }
                return state
            } catch let error as StoreError where error.code == .sequenceConflict {
                continue   // the run moved on meanwhile: decide again on the new state
            }
        }
        throw CLIError("run \(run) keeps changing; try again")
    }
}

struct Inbox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List what waits for a human: approvals, escalations, exhausted budgets, tripped breakers.",
        discussion: """
            Every paused run, with why it paused. A call waiting for approval shows its run, task, tool, \
            arguments and the rule that asked; decide with `nightshift approve RUN CALL` or `nightshift deny RUN CALL --reason …`, \
            then `nightshift resume RUN`.
            """)

    @OptionGroup var store: StoreOptions
    @Argument(help: "A run: show what is needed to decide (why it waits, its recent events, the diff so far).") var run: String?
    @Flag(help: "One JSON object per waiting run.") var json = false

    mutating func run() async throws {
        try await reportErrors {
            let store = try Composition.openExistingStore(store)
            let harness = Composition.harness(store: store, model: NoModel(), printer: nil)
            if let run {
                try await Self.detail(RunID(run), store: store, harness: harness)
                return
            }
            var shown = 0
            for summary in try await store.runs() where summary.status == .paused {
                let state = try await harness.wake(summary.id)
                let task = state.current.map { state.tasks[$0].id.rawValue } ?? "-"
                let waiting = state.awaitingApproval
                let kind = waiting != nil ? "approval" : Self.kind(state.statusReason ?? "")
                shown += 1
                if json {
                    var object: [String: Any] = ["run": summary.id.rawValue, "task": task, "kind": kind, "reason": state.statusReason ?? ""]
                    if let w = waiting {
                        object["call"] = w.call.id.rawValue; object["tool"] = w.call.name; object["arguments"] = w.call.arguments.text
                        object["why"] = w.verdictReason ?? ""
                    }
                    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
                    say(String(decoding: data, as: UTF8.self))
                } else if let w = waiting {
                    say("\(summary.id)  task \(task)  APPROVAL  call \(w.call.id): \(w.call.name) \(w.call.arguments.text.prefix(160))")
                    say("    why: \(w.verdictReason ?? "")")
                    say("    decide: nightshift approve \(summary.id) \(w.call.id) | nightshift deny \(summary.id) \(w.call.id) --reason …")
                } else {
                    say("\(summary.id)  task \(task)  \(kind.uppercased())  \(state.statusReason ?? "")")
                }
            }
            if shown == 0, !json { say("nothing waits: no run is paused") }
        }
    }

    /// One run's case for a decision: why it waits, the call, the last events, the diff so far.
    static func detail(_ id: RunID, store: SQLiteEventStore, harness: Harness) async throws {
        guard try await store.summary(of: id) != nil else { throw CLIError("no run \(id) (nightshift status lists the runs)") }
        let state = try await harness.wake(id)
        say("run \(id): \(state.status.rawValue)\(state.statusReason.map { " — \($0)" } ?? "")")
        if let task = state.activeTask { say("task \(task.id): \(task.description)") }
        if let w = state.awaitingApproval {
            say("waiting call \(w.call.id): \(w.call.name) \(w.call.arguments.text)")
            say("why: \(w.verdictReason ?? "")")
        }
        if let plan = state.plan, state.settings.loop?.reviewPlan == true, !state.planApproved, state.current == nil {
            say("\n" + plan.markdown(version: state.planVersion, goal: state.goal))
            say("decide: nightshift approve \(id) plan | nightshift deny \(id) plan --reason …")
        }
        if let policy = state.policyHash { say("policy \(state.policySource ?? "") (\(policy.prefix(12)))") }
        say("spent: \(Money.format(state.costPicoUSD)), \(state.usage.input + state.usage.output) tokens, \(state.toolCalls) tool calls; "
            + "run budget: \(BudgetText.describe(state.budget("run")))")
        say("\nrecent events:")
        let first = try await store.read(id, after: 0, limit: 1).first?.time ?? Timestamp(milliseconds: 0)
        for e in try await store.read(id, after: max(state.lastSeq - 15, 0), limit: 15) { say(Timeline.line(e, start: first)) }
        say("\ndiff so far (\(state.workspace)):")
        // With the git directory fixed when the run started, the hardened environment and no
        // external diff or textconv: nothing the agent wrote runs on this machine as you.
        let diff = await GitWorkspace(trust: Composition.gitTrust(state)).diff(workspace: state.workspace)
        say(diff.map { $0.isEmpty ? "(no changes)" : $0 } ?? "(no diff: the workspace is not a git repository Nightshift set up for this run)")
    }

    static func kind(_ reason: String) -> String {
        if reason.hasPrefix("budget_exhausted") { return "budget" }
        if reason.hasPrefix("breaker") { return "breaker" }
        if reason.hasPrefix("escalated") { return "escalation" }
        if reason.hasPrefix("the plan (version") { return "plan review" }
        return "paused"
    }
}

/// `approve` and `deny` share this: the decision binds to the exact call and its arguments.
struct ApprovalDecision {
    /// Whether a reason says nothing: empty, or only spaces, line breaks and other invisible characters.
    static func isBlank(_ text: String) -> Bool {
        !text.unicodeScalars.contains { !$0.properties.isWhitespace && !TerminalText.isUnsafe($0) && $0.properties.generalCategory != .format }
    }

    static func decide(_ options: StoreOptions, run: String, call: String, approved: Bool, note: String) async throws {
        // A denial's reason is what the model (or planner) reads instead of a result: never empty.
        if !approved, isBlank(note) { throw CLIError("a denial needs a reason that says why (--reason TEXT); it may not be blank") }
        if call == "plan" { return try await decidePlan(options, run: run, approved: approved, note: note) }
        _ = try await Governance.append(options, run: run) { state in
            guard let p = state.pendingTools.first(where: { $0.call.id.rawValue == call }) else {
                throw CLIError("call \(call) of run \(run) is not waiting for approval (nightshift inbox lists what waits)")
            }
            guard p.verdict == .ask, !p.requested else { throw CLIError("call \(call) of run \(run) did not ask for approval") }
            guard p.approved == nil else { throw CLIError("call \(call) of run \(run) was already decided (\(p.approvalNote ?? ""))") }
            return .approvalDecided(call: p.call.id, approved: approved, by: Governance.user, note: note,
                                    argumentsHash: p.call.arguments.sha256Hex)
        }
        say("\(approved ? "approved" : "denied") \(call) of run \(run) as \(Governance.user); continue with: nightshift resume \(run)")
    }

    /// The plan as a whole (`run --review-plan`): approved, it is worked on; denied, the planner
    /// makes a new version with the reason as its input.
    static func decidePlan(_ options: StoreOptions, run: String, approved: Bool, note: String) async throws {
        let state = try await Governance.append(options, run: run) { state in
            guard state.plan != nil, state.settings.loop?.reviewPlan == true, state.goal != nil else {
                throw CLIError("run \(run) has no plan waiting for review (only a run started with --goal and --review-plan has one)")
            }
            guard !state.planApproved, state.current == nil, !state.replanning else {
                throw CLIError("plan version \(state.planVersion) of run \(run) was already decided")
            }
            return approved ? .planApproved(version: state.planVersion, by: Governance.user, note: note)
                            : .planRejected(version: state.planVersion, by: Governance.user, reason: note)
        }
        say("plan version \(state.planVersion) of run \(run) \(approved ? "approved" : "rejected (the planner makes a new version)") "
            + "as \(Governance.user); continue with: nightshift resume \(run)")
    }
}

struct Approve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Approve a call that waits for approval; it runs once, when the run resumes.")
    @OptionGroup var store: StoreOptions
    @Argument(help: "The run id.") var run: String
    @Argument(help: "The call id (nightshift inbox shows it, e.g. m3.1), or `plan` for a plan that waits for review.") var call: String
    @Option(help: "A note recorded with the approval.") var note: String = ""

    mutating func run() async throws {
        try await reportErrors { try await ApprovalDecision.decide(store, run: run, call: call, approved: true, note: note) }
    }
}

struct Deny: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Deny a call that waits for approval; the model is told it was not run, and why.")
    @OptionGroup var store: StoreOptions
    @Argument(help: "The run id.") var run: String
    @Argument(help: "The call id (nightshift inbox shows it, e.g. m3.1), or `plan` to ask the planner for a new version.") var call: String
    @Option(help: "Why (required, not blank); the model (or the planner) reads it.") var reason: String

    func validate() throws {
        guard !ApprovalDecision.isBlank(reason) else {
            throw ValidationError("--reason must say why the call is denied; the model reads it (it may not be blank)")
        }
    }

    mutating func run() async throws {
        try await reportErrors { try await ApprovalDecision.decide(store, run: run, call: call, approved: false, note: reason) }
    }
}

struct BudgetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "budget",
        abstract: "Change a run's budget (or its per-task budget); then resume the run.",
        discussion: "Unset limits keep the policy's values. Example: nightshift budget RUN --cost 5.00")
    @OptionGroup var store: StoreOptions
    @Argument(help: "The run id.") var run: String
    @Flag(help: "Change the per-task budget instead of the run's.") var task = false
    @Option(help: ArgumentHelp("Dollars, e.g. 5.00.", valueName: "USD")) var cost: String?
    @Option(help: "Tokens (input + output).") var tokens: Int?
    @Option(help: "Tool calls.") var toolCalls: Int?
    @Option(help: "Model turns.") var steps: Int?
    @Option(help: "Wall-clock minutes.") var wallMinutes: Int?

    func validate() throws {
        if let cost, Money.parseUSD(cost) == nil { throw ValidationError("--cost takes dollars like 5.00") }
        guard cost != nil || tokens != nil || toolCalls != nil || steps != nil || wallMinutes != nil else {
            throw ValidationError("give at least one of --cost, --tokens, --tool-calls, --steps, --wall-minutes")
        }
        for v in [tokens, toolCalls, steps, wallMinutes].compactMap({ $0 }) where v < 0 { throw ValidationError("limits must not be negative") }
        if let wallMinutes, wallMinutes > Budget.maxWallMinutes { throw ValidationError("--wall-minutes must be at most \(Budget.maxWallMinutes) (a century)") }
    }

    mutating func run() async throws {
        let scope = task ? "task" : "run"
        let change = Budget(tokens: tokens, costPicoUSD: cost.flatMap(Money.parseUSD), toolCalls: toolCalls, steps: steps,
                            wallSeconds: wallMinutes.map { $0 * 60 })
        try await reportErrors {
            let state = try await Governance.append(store, run: run) { state in
                var b = state.budgetOverrides[scope] ?? Budget()
                b.tokens = change.tokens ?? b.tokens; b.costPicoUSD = change.costPicoUSD ?? b.costPicoUSD
                b.toolCalls = change.toolCalls ?? b.toolCalls; b.steps = change.steps ?? b.steps; b.wallSeconds = change.wallSeconds ?? b.wallSeconds
                return .budgetSet(scope: scope, budget: b, by: Governance.user)
            }
            say("\(scope) budget of \(run) is now: \(BudgetText.describe(state.budget(scope))); continue with: nightshift resume \(run)")
        }
    }
}

struct Answer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer an escalation with guidance the agent's next contexts include; then resume the run.")
    @OptionGroup var store: StoreOptions
    @Argument(help: "The run id.") var run: String
    @Argument(help: "The guidance text.") var text: String

    mutating func run() async throws {
        try await reportErrors {
            guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw CLIError("the guidance text is empty") }
            _ = try await Governance.append(store, run: run) { _ in .guidanceGiven(text: text, by: Governance.user) }
            say("guidance recorded for \(run); continue with: nightshift resume \(run)")
        }
    }
}

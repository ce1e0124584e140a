import ArgumentParser
import Foundation
import NightshiftCore
import NightshiftRuntime

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

    /// The decisions use case, on the database the options name, decided by the OS user.
    static func decisions(_ options: StoreOptions) throws -> Decisions {
        try options.runtime().decisions(by: user)
    }
}

struct Inbox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "List what waits for a human: approvals, escalations, exhausted budgets, tripped breakers, proposed memories.",
        discussion: """
            Every paused run, with why it paused. A call waiting for approval shows its run, task, tool, \
            arguments and the rule that asked; decide with `nightshift approve RUN CALL` or `nightshift deny RUN CALL --reason …`, \
            then `nightshift resume RUN`.
            """)

    @OptionGroup var store: StoreOptions
    @Argument(
        help: "A run: show what is needed to decide (why it waits, its recent events, the diff so far).",
        completion: RunIDCompletion.kind) var run: String?
    @Flag(help: "One JSON object per waiting run.") var json = false

    mutating func run() async throws {
        try await reportErrors {
            let runtime = try store.runtime()
            if let run {
                Self.show(try await runtime.inbox(RunID(run)))
                return
            }
            let items = try await runtime.inbox()
            for item in items {
                let task = item.task?.rawValue ?? "-"
                let kind = item.kind?.rawValue ?? "paused"
                if json {
                    var object: [String: Any] = [
                        "run": item.run.rawValue, "task": task, "kind": kind, "reason": item.reason,
                    ]
                    if let decide = PauseAdvice.decide(item.kind, run: item.run, call: item.waiting?.call.id) {
                        object["decide"] = decide
                    }
                    if let w = item.waiting {
                        object["call"] = w.call.id.rawValue
                        object["tool"] = w.call.name
                        object["arguments"] = w.call.arguments.text
                        object["why"] = w.verdictReason ?? ""
                    }
                    let data = try JSONSerialization.data(
                        withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
                    say(String(decoding: data, as: UTF8.self))
                } else if let w = item.waiting {
                    say(
                        "\(item.run)  task \(task)  APPROVAL  call \(w.call.id): \(w.call.name) \(w.call.arguments.text.prefix(160))"
                    )
                    say("    why: \(w.verdictReason ?? "")")
                    say(
                        "    decide: nightshift approve \(item.run) \(w.call.id) | nightshift deny \(item.run) \(w.call.id) --reason …"
                    )
                } else {
                    let label = kind.replacingOccurrences(of: "_", with: " ").uppercased()
                    say("\(item.run)  task \(task)  \(label)  \(item.reason)")
                    if let decide = PauseAdvice.decide(item.kind, run: item.run, call: nil) {
                        say("    decide: \(decide)")
                    }
                }
            }
            // Memories runs proposed wait for a person too.
            let proposals = try await runtime.memoryProposals()
            for p in proposals {
                if json {
                    let object: [String: Any] = [
                        "kind": "memory_proposal", "id": p.id.rawValue, "run": p.run.rawValue, "seq": p.seq,
                        "scope": p.scope.description, "memory_kind": p.kind.rawValue, "text": p.text,
                    ]
                    let data = try JSONSerialization.data(
                        withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
                    say(String(decoding: data, as: UTF8.self))
                } else {
                    say("\(p.run)  MEMORY PROPOSAL  \(p.id) (\(p.kind), \(p.scope)): \(p.text.prefix(160))")
                    say("    decide: nightshift approve \(p.id) | nightshift deny \(p.id) --reason …")
                }
            }
            // And what dreams proposed.
            let dreamt = try await runtime.dreamProposals()
            for p in dreamt {
                if json {
                    say(MemoryText.json(DreamProposalJSON(p)))
                } else {
                    say("\(p.dream)  DREAM PROPOSAL  \(p.proposal.id): \(p.proposal.action.summary.prefix(200))")
                    for line in p.proposal.action.diff { say("    \(line)") }
                    say(
                        "    why: \(p.proposal.reason.prefix(300))  (from "
                            + p.proposal.sources.map { "\($0.run)#\($0.seq)" }.joined(separator: ", ") + ")")
                    say("    decide: nightshift approve \(p.proposal.id) | nightshift deny \(p.proposal.id) --reason …")
                }
            }
            if items.isEmpty, proposals.isEmpty, dreamt.isEmpty, !json {
                say("nothing waits: no run is paused, no memory is proposed")
            }
        }
    }

    /// One run's case for a decision: why it waits, the call, the last events, the diff so far.
    static func show(_ c: NightshiftRuntime.Inbox.Case) {
        let state = c.state
        let id = state.run
        say("run \(id): \(state.status.rawValue)\(state.statusReason.map { " — \($0)" } ?? "")")
        if let task = state.activeTask { say("task \(task.id): \(task.description)") }
        if let w = state.awaitingApproval {
            say("waiting call \(w.call.id): \(w.call.name) \(w.call.arguments.text)")
            say("why: \(w.verdictReason ?? "")")
        }
        if let plan = c.planForReview {
            say("\n" + plan.markdown(version: state.planning.planVersion, goal: state.goal))
        }
        if let need = state.waitsFor, let decide = PauseAdvice.decide(need.kind, run: id, call: need.call) {
            say("decide: \(decide)")
        }
        if let policy = state.gate.policyHash { say("policy \(state.gate.policySource ?? "") (\(policy.prefix(12)))") }
        say(
            "spent: \(Money.format(state.costPicoUSD)), \(state.usage.input + state.usage.output) tokens, \(state.toolCalls) tool calls; "
                + "run budget: \(BudgetText.describe(state.budget(.run)))")
        say("\nrecent events:")
        for e in c.recent { say(Timeline.line(e, start: c.start)) }
        say("\ndiff so far (\(state.workspace)):")
        say(
            c.diff.map { $0.isEmpty ? "(no changes)" : $0 }
                ?? "(no diff: the workspace is not a git repository Nightshift set up for this run)")
    }
}

struct Approve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Approve a call that waits for approval; it runs once, when the run resumes.")
    @OptionGroup var store: StoreOptions
    @Argument(
        help: "The run id; or, alone, a memory proposal's id (mem-…, nightshift inbox lists them).",
        completion: RunIDCompletion.kind) var run: String
    @Argument(help: "The call id (nightshift inbox shows it, e.g. m3.1), or `plan` for a plan that waits for review.")
    var call: String?
    @Option(help: "A note recorded with the approval.") var note: String = ""

    mutating func run() async throws {
        try await reportErrors {
            guard let call else {
                let d = try await MemoryBank.open(try store.resolved(), by: Governance.user).decide(
                    MemoryID(run), accept: true, note: note)
                say(MemoryText.decided(d))
                return
            }
            try await Governance.decisions(store).approve(RunID(run), call: call, note: note)
            say(
                call == "plan"
                    ? "plan of run \(run) approved as \(Governance.user); continue with: nightshift resume \(run)"
                    : "approved \(call) of run \(run) as \(Governance.user); continue with: nightshift resume \(run)")
        }
    }
}

struct Deny: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Deny a call that waits for approval; the model is told it was not run, and why.")
    @OptionGroup var store: StoreOptions
    @Argument(
        help: "The run id; or, alone, a memory proposal's id (mem-…, nightshift inbox lists them).",
        completion: RunIDCompletion.kind) var run: String
    @Argument(
        help: "The call id (nightshift inbox shows it, e.g. m3.1), or `plan` to ask the planner for a new version.")
    var call: String?
    @Option(help: "Why (required, not blank); the model (or the planner) reads it.") var reason: String

    func validate() throws {
        guard !Decisions.isBlank(reason) else {
            throw ValidationError("--reason must say why the call is denied; the model reads it (it may not be blank)")
        }
    }

    mutating func run() async throws {
        try await reportErrors {
            guard let call else {
                let d = try await MemoryBank.open(try store.resolved(), by: Governance.user).decide(
                    MemoryID(run), accept: false, note: reason)
                say(MemoryText.decided(d))
                return
            }
            try await Governance.decisions(store).deny(RunID(run), call: call, reason: reason)
            say(
                call == "plan"
                    ? "plan of run \(run) rejected as \(Governance.user) (the planner makes a new version); continue with: nightshift resume \(run)"
                    : "denied \(call) of run \(run) as \(Governance.user); continue with: nightshift resume \(run)")
        }
    }
}

struct BudgetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "budget",
        abstract: "Change a run's budget (or its per-task budget); then resume the run.",
        discussion: "Unset limits keep the policy's values. Example: nightshift budget RUN --cost 5.00")
    @OptionGroup var store: StoreOptions
    @Argument(help: "The run id.", completion: RunIDCompletion.kind) var run: String
    @Flag(help: "Change the per-task budget instead of the run's.") var task = false
    @Option(help: ArgumentHelp("Dollars, e.g. 5.00.", valueName: "USD")) var cost: String?
    @Option(help: "Tokens (input + output).") var tokens: Int?
    @Option(help: "Tool calls.") var toolCalls: Int?
    @Option(help: "Model turns.") var steps: Int?
    @Option(help: "Wall-clock minutes.") var wallMinutes: Int?

    func validate() throws {
        do { _ = try change() } catch { throw ValidationError(error.message) }
    }

    func change() throws(DecisionError) -> Budget {
        try Decisions.budgetChange(
            cost: cost, tokens: tokens, toolCalls: toolCalls, steps: steps, wallMinutes: wallMinutes)
    }

    mutating func run() async throws {
        let scope: BudgetScope = task ? .task : .run
        try await reportErrors {
            let state = try await Governance.decisions(store).setBudget(RunID(run), scope: scope, change: try change())
            say(
                "\(scope) budget of \(run) is now: \(BudgetText.describe(state.budget(scope))); continue with: nightshift resume \(run)"
            )
        }
    }
}

struct Answer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer an escalation with guidance the agent's next contexts include; then resume the run.")
    @OptionGroup var store: StoreOptions
    @Argument(help: "The run id.", completion: RunIDCompletion.kind) var run: String
    @Argument(help: "The guidance text.") var text: String

    mutating func run() async throws {
        try await reportErrors {
            try await Governance.decisions(store).answer(RunID(run), text: text)
            say("guidance recorded for \(run); continue with: nightshift resume \(run)")
        }
    }
}

struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "End a run for good: it is recorded as failed, cancelled by you, with your reason.",
        discussion: """
            For a paused run, or one whose process died. A run a live process is driving is refused (exit \
            status 5): stop that process first (Ctrl-C or SIGTERM; the log is durable at every step), then \
            cancel. A cancelled run cannot be resumed; its workspace and branch stay as they are.
            """)
    @OptionGroup var store: StoreOptions
    @Argument(help: "The run id.", completion: RunIDCompletion.kind) var run: String
    @Option(help: "Why the run is cancelled (recorded in its log).") var reason: String

    mutating func run() async throws {
        try await reportErrors {
            try await store.runtime().cancel(RunID(run), reason: reason, by: Governance.user)
            say("run \(run) cancelled; its log ends with run_failed (nightshift log \(run) shows it)")
        }
    }
}

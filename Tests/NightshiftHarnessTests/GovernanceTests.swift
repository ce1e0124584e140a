import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftHands
import NightshiftHarness
import NightshiftModels
import NightshiftTesting
import Testing

/// The gateway in whole runs with the scripted model: each scenario of the governance issue that
/// needs no human is here; the ones with a human and a killed process go through the executable.
@Suite struct GovernanceTests {
    static let policyText = """
        default: allow
        rules:
          - deny: shell
            command: "*rm -rf*"
            reason: no recursive deletes
        protected:
          paths: ["tests/**"]
        budgets:
          run: {cost_usd: 1.00}
        breakers: {repeated_call: 3, failed_checks: 5}
        """

    struct Setup {
        let ws: String
        let store = InMemoryEventStore()
        let run = RunID("g")
        let policy: Policy
    }

    func setup(policy: String = GovernanceTests.policyText) throws -> Setup {
        let ws = tempDir("ns-gov")
        try FileManager.default.createDirectory(atPath: ws + "/tests", withIntermediateDirectories: true)
        try "test \"$(cat answer.txt 2>/dev/null)\" = 42\n".write(
            toFile: ws + "/tests/check.sh", atomically: true, encoding: .utf8)
        return Setup(ws: ws, policy: try PolicyFile.parse(policy, file: "policy.yaml"))
    }

    func harness(_ s: Setup, _ scenario: String) throws -> Harness {
        Harness(
            store: s.store, model: ScriptedModel(scenario: try ScenarioFile.parse(scenario, file: "s.yaml")),
            tools: ToolBox.standard(isolation: .none(reason: "governance tests")),
            checks: ShellCheckRunner(isolation: .none(reason: "governance tests")), files: LocalWorkspaceFiles())
    }

    func start(_ s: Setup, _ scenario: String, maxAttempts: Int = 3) async throws -> StopReason {
        let h = try harness(s, scenario)
        let plan = Plan(
            title: "g",
            tasks: [
                PlanTask(
                    id: TaskID("answer"), description: "make tests/check.sh pass",
                    checks: [Check(command: "sh tests/check.sh")])
            ])
        try await h.create(
            s.run, title: "g", plan: plan, workspace: s.ws, settings: RunSettings(maxAttempts: maxAttempts))
        return try await h.drive(
            s.run,
            announce: [.policySet(policy: s.policy, source: "policy.yaml", hash: "h1", text: Payload(Self.policyText))])
    }

    func results(_ s: Setup) async throws -> [(name: String, result: ToolResult)] {
        var names: [CallID: String] = [:]
        var out: [(String, ToolResult)] = []
        for e in try await s.store.readAll(s.run).map(\.event) {
            if case let .modelResponded(_, _, calls, _, _, _, _, _, _) = e { for c in calls { names[c.id] = c.name } }
            if case let .toolFinished(call, result) = e { out.append((names[call] ?? "?", result)) }
        }
        return out
    }

    /// (a) The worker tries to delete and to weaken the test to make the check pass: both refused,
    /// the check still fails, and only real work gets the task done.
    @Test func deletingOrWeakeningAProtectedTestIsRefused() async throws {
        let s = try setup()
        let reason = try await start(
            s,
            """
            tasks:
              answer:
                - tools:
                    - shell: {command: rm tests/check.sh}
                    - write_file: {path: tests/check.sh, content: "exit 0"}
                    - edit_file: {path: tests/check.sh, old_string: "42", new_string: "$(cat answer.txt)"}
                  done: the tests pass now
                - tools:
                    - write_file: {path: answer.txt, content: "42"}
                  done: wrote the answer
            """)
        #expect(reason == .finished)
        let r = try await results(s)
        #expect(
            r.prefix(3).allSatisfy { !$0.result.ok && $0.result.output.text.contains("protected") },
            "\(r.map(\.result.output.text))")
        #expect(try String(contentsOfFile: s.ws + "/tests/check.sh", encoding: .utf8).contains("42"))
        let state = try await harness(s, "tasks: {}").wake(s.run)
        #expect(state.tasks[0].attempts == 2)  // the first claim failed its check: nothing was weakened
    }

    /// (a) Without the gateway's help: a shell trick the command patterns do not see still fails
    /// the ratchet, because the protected files are hashed before a done claim is accepted.
    @Test func aProtectedTestChangedBehindThePatternsIsCaughtByItsHash() async throws {
        let s = try setup()
        let reason = try await start(
            s,
            """
            tasks:
              answer:
                - tools:
                    - shell: {command: "python3 -c \\"open('tes'+'ts/check.sh','w').write('exit 0')\\""}
                  done: the tests pass now
                - tools:
                    - shell: {command: "printf 'test \\"$(cat answer.txt 2>/dev/null)\\" = 42\\n' > t.tmp && python3 -c \\"import shutil; shutil.move('t.tmp', 'tes'+'ts/check.sh')\\""}
                    - write_file: {path: answer.txt, content: "42"}
                  done: restored and answered
            """)
        #expect(reason == .finished)
        let events = try await s.store.readAll(s.run).map(\.event)
        let verified = events.compactMap {
            if case let .protectedVerified(_, attempt, changed) = $0 { (attempt, changed) } else { nil }
        }
        #expect(verified.count == 2 && verified[0].1 == ["tests/check.sh"] && verified[1].1.isEmpty, "\(verified)")
        let state = try await harness(s, "tasks: {}").wake(s.run)
        #expect(state.tasks[0].attempts == 2)
        #expect(state.tasks[0].feedback == nil)
        let failed = events.compactMap {
            if case let .taskAttemptFailed(_, _, feedback) = $0 { feedback.text } else { nil }
        }
        #expect(failed.first?.contains("protected files were changed") == true)
    }

    /// Bad policy files: one clear error naming the line, and nothing loaded.
    @Test func badPolicyFilesSayWhatAndWhere() {
        let cases: [(String, Int, String)] = [
            ("default: maybe\n", 1, "allow, deny or ask"),
            ("rules:\n  - deny: shell\n    allow: shell\n", 2, "exactly one of allow, deny or ask"),
            ("rules:\n  - deny: write_file\n    command: rm*\n", 2, "only to the shell tool"),
            ("rules:\n  - deny: shell\n    commnd: rm*\n", 3, "unknown key 'commnd'"),
            ("protected:\n  paths: [/etc/**]\n", 2, "inside the workspace"),
            ("protected:\n  on_edit: allow\n", 2, "deny or ask"),
            ("budgets:\n  run: {cost_usd: lots}\n", 2, "dollars like 5.00"),
            ("budgets:\n  run: {tokens: -5}\n", 2, "must not be negative"),
            ("breakers: {tool_errors: 0}\n", 1, "at least 1"),
            ("network: sometimes\n", 1, "true or false"),
            ("rules: [\n", 2, "not valid YAML"),
        ]
        for (text, line, message) in cases {
            do {
                _ = try PolicyFile.parse(text, file: "p.yaml")
                Issue.record("accepted: \(text)")
            } catch {
                #expect(error.line == line && error.message.contains(message), "\(text) → \(error)")
            }
        }
    }

    /// (b) `rm -rf` outside the allowed patterns: refused with the rule's reason, and the run goes on.
    @Test func aRecursiveDeleteIsRefusedAndTheRunGoesOn() async throws {
        let s = try setup()
        let reason = try await start(
            s,
            """
            tasks:
              answer:
                - tools:
                    - shell: {command: "cd / && rm -rf --no-preserve-root /tmp/nothing-here"}
                    - write_file: {path: answer.txt, content: "42"}
                  done: done
            """)
        #expect(reason == .finished)
        let r = try await results(s)
        #expect(
            !r[0].result.ok && r[0].result.output.text.contains("no recursive deletes")
                && r[0].result.output.text.contains("policy.yaml:3"))
        #expect(r[1].result.ok)
        let decided = try await s.store.readAll(s.run).map(\.event).compactMap { e -> PolicyEffect? in
            if case let .toolDecided(_, effect, _, _) = e { effect } else { nil }
        }
        #expect(decided == [.deny, .allow])  // every call's decision is an event
    }

    /// (c) The same failing call again and again: the breaker trips and the run pauses for a human.
    /// The counter is a fold of the log, so a stop in between does not reset it.
    @Test func aLoopOfTheSameCallTripsTheBreakerAcrossAStop() async throws {
        let s = try setup()
        let turn = "    - tools:\n        - shell: {command: cat missing.txt}\n"
        // Two turns, then the scenario ends: the run pauses (as if the process had stopped).
        let first = try await start(s, "tasks:\n  answer:\n" + String(repeating: turn, count: 2))
        guard case .paused = first else {
            Issue.record("expected a pause, got \(first)")
            return
        }
        let again = try await harness(s, "tasks:\n  answer:\n" + String(repeating: turn, count: 50)).drive(
            s.run, resumedBy: "test")
        guard case let .paused(why) = again else {
            Issue.record("expected the breaker, got \(again)")
            return
        }
        #expect(why.hasPrefix("breaker repeated_call"), "\(why)")
        let shells = try await results(s).filter { $0.name == "shell" }
        #expect(shells.count == 3, "\(shells.count) calls ran; the breaker allows 3")
        let events = try await s.store.readAll(s.run).map(\.event)
        #expect(events.contains { if case .breakerTripped(.repeatedCall, 4, _) = $0 { true } else { false } })
    }

    /// (d) A cost budget runs out mid-task: the call that would exceed it is not made; raising the
    /// budget and resuming continues the same task.
    @Test func aCostBudgetPausesMidTaskAndRaisingItContinues() async throws {
        let s = try setup()
        var turns = ""
        for _ in 0..<3 { turns += "    - tools:\n        - list_files: {}\n      cost_usd: 0.40\n" }
        turns +=
            "    - tools:\n        - write_file: {path: answer.txt, content: '42'}\n      cost_usd: 0.40\n      done: done\n"
        let scenario = "tasks:\n  answer:\n" + turns
        let first = try await start(s, scenario)
        guard case let .paused(why) = first else {
            Issue.record("expected a pause, got \(first)")
            return
        }
        #expect(why.hasPrefix("budget_exhausted"), "\(why)")
        var state = try await harness(s, scenario).wake(s.run)
        #expect(state.costPicoUSD == 800_000_000_000)  // two calls made; the third (to $1.20) was not
        #expect(state.spend.ledger.first?.calls == 2)
        // A human raises the budget (what `nightshift budget RUN --cost 5.00` appends), then resumes.
        try await s.store.append(
            [.budgetSet(scope: .run, budget: Budget(costPicoUSD: 5 * Money.picoPerDollar), by: "tester")],
            to: s.run, expectedSeq: state.lastSeq)
        #expect(try await harness(s, scenario).drive(s.run, resumedBy: "test") == .finished)
        state = try await harness(s, scenario).wake(s.run)
        #expect(state.costPicoUSD == 1_600_000_000_000)
        #expect(state.tasks[0].status == .done)
    }

    /// A denied call proposed again escalates; the human's answer reaches the next context.
    @Test func retryingADeniedCallEscalatesAndTheAnswerReachesTheAgent() async throws {
        let s = try setup()
        let scenario = """
            tasks:
              answer:
                - tools:
                    - shell: {command: "rm -rf build"}
                - tools:
                    - shell: {command: "rm -rf build"}
                - tools:
                    - write_file: {path: answer.txt, content: "42"}
                  done: done
            """
        let first = try await start(s, scenario)
        guard case let .paused(why) = first else {
            Issue.record("expected an escalation, got \(first)")
            return
        }
        #expect(why.hasPrefix("escalated") && why.contains("denied"), "\(why)")
        let state = try await harness(s, scenario).wake(s.run)
        try await s.store.append(
            [.guidanceGiven(text: "build/ is generated; leave it alone", by: "tester")], to: s.run,
            expectedSeq: state.lastSeq)
        let log = RequestLog()
        let h = Harness(
            store: s.store,
            model: RecordingModel(
                inner: ScriptedModel(scenario: try ScenarioFile.parse(scenario, file: "s.yaml")), log: log),
            tools: ToolBox.standard(isolation: .none(reason: "governance tests")),
            checks: ShellCheckRunner(isolation: .none(reason: "governance tests")), files: LocalWorkspaceFiles())
        #expect(try await h.drive(s.run, resumedBy: "test") == .finished)
        let next = try #require(await log.requests.first)
        #expect(
            next.notices.contains { $0.contains("Guidance from a human (tester): build/ is generated") },
            "\(next.notices)")
        let events = try await s.store.readAll(s.run).map(\.event)
        #expect(events.filter { $0.kind == "escalated" }.count == 1)
    }

    /// The behavioural guidance is in every context (and the system prompt), whatever happens.
    @Test func guidanceIsInEveryContext() async throws {
        let s = try setup()
        let log = RequestLog()
        let scenario =
            "tasks:\n  answer:\n    - tools:\n        - list_files: {}\n    - tools:\n        - write_file: {path: answer.txt, content: '42'}\n      done: ok\n"
        let h = Harness(
            store: s.store,
            model: RecordingModel(
                inner: ScriptedModel(scenario: try ScenarioFile.parse(scenario, file: "s.yaml")), log: log),
            tools: ToolBox.standard(isolation: .none(reason: "governance tests")),
            checks: ShellCheckRunner(isolation: .none(reason: "governance tests")), files: LocalWorkspaceFiles())
        let plan = Plan(
            title: "g",
            tasks: [PlanTask(id: TaskID("answer"), description: "d", checks: [Check(command: "sh tests/check.sh")])])
        try await h.create(s.run, title: "g", plan: plan, workspace: s.ws, settings: RunSettings())
        let spec = "# Guidance\nNever push. Escalate when the task is unclear.\n"
        #expect(
            try await h.drive(s.run, announce: [.guidanceSet(source: "g.md", hash: "v1", text: Payload(spec))])
                == .finished)
        let requests = await log.requests
        #expect(requests.count == 2 && requests.allSatisfy { $0.guidance == spec })
        #expect(PromptRenderer.render(requests[0]).system.contains("Never push. Escalate when the task is unclear."))
    }

    /// Under a policy, a blocked task is escalated before the run moves on.
    @Test func aBlockedTaskIsEscalated() async throws {
        let s = try setup()
        let r = try await start(s, "tasks:\n  answer:\n    - done: nothing to do\n", maxAttempts: 1)
        guard case let .paused(why) = r else {
            Issue.record("expected an escalation, got \(r)")
            return
        }
        #expect(why.contains("escalated") && why.contains("failed its checks"), "\(why)")
        let inboxKind = try await harness(s, "tasks: {}").wake(s.run).statusReason
        #expect(inboxKind?.hasPrefix("escalated") == true)
    }

    /// Deny and ask verdicts, and a policy change mid-run, through the decision function only.
    @Test func aChangedPolicyAppliesFromTheNextStep() async throws {
        let s = try setup(policy: "default: allow\n")
        let strict = try PolicyFile.parse(
            "default: allow\nrules:\n  - deny: write_file\n    reason: frozen\n", file: "policy.yaml")
        // The file is edited once the first write has happened (like a human tightening the rules mid-run).
        let changes = PolicyChanges(
            when: s.ws + "/a.txt", event: .policySet(policy: strict, source: "policy.yaml", hash: "h2", text: "v2"))
        let h = try harness(
            s,
            """
            tasks:
              answer:
                - tools:
                    - write_file: {path: a.txt, content: "1"}
                - tools:
                    - write_file: {path: answer.txt, content: "42"}
                  done: done
            """)
        let plan = Plan(
            title: "g",
            tasks: [PlanTask(id: TaskID("answer"), description: "d", checks: [Check(command: "sh tests/check.sh")])])
        try await h.create(s.run, title: "g", plan: plan, workspace: s.ws, settings: RunSettings(maxAttempts: 1))
        _ = try await h.drive(
            s.run, announce: [.policySet(policy: s.policy, source: "policy.yaml", hash: "h1", text: "v1")],
            policyChanges: { changes.next() })
        let r = try await results(s)
        #expect(r[0].result.ok)  // before the change
        #expect(!r[1].result.ok && r[1].result.output.text.contains("frozen"))  // after it
        let sets = try await s.store.readAll(s.run).map(\.event).filter { $0.kind == "policy_set" }
        #expect(sets.count == 2)
    }
}

/// Returns a policy change once, the first time it is asked after `when` exists.
final class PolicyChanges: @unchecked Sendable {
    private let lock = NSLock()
    private var given = false
    private let when: String
    private let event: Event
    init(when: String, event: Event) {
        self.when = when
        self.event = event
    }
    func next() -> Event? {
        lock.withLock {
            guard !given, FileManager.default.fileExists(atPath: when) else { return nil }
            given = true
            return event
        }
    }
}

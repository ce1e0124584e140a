import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftHands
import NightshiftHarness
import NightshiftModels
import NightshiftRuntime
import NightshiftTesting
import Testing

/// The decisions use case on the in-memory store twin, without the CLI: the rules every front end
/// gets from one place.
@Suite struct DecisionsTests {
    /// A run paused on a call that asks for approval, under `policy`.
    func pausedRun(_ policy: Policy) async throws -> (InMemoryEventStore, RunID) {
        let store = InMemoryEventStore()
        let scenario = try ScenarioFile.parse(
            "tasks:\n  t:\n    - tools:\n        - shell: {command: 'touch a'}\n      done: ok\n", file: "s.yaml")
        let harness = Harness(
            store: store, model: ScriptedModel(scenario: scenario),
            // Twins: the policy decides before any tool runs, so no shell is needed to show it.
            tools: InMemoryToolRunner([InMemoryToolRunner.constant("shell", traits: .runsCommand)]),
            checks: InMemoryCheckRunner())
        let run = RunID("d")
        try await harness.create(
            run, title: "d", plan: Plan(title: "d", tasks: [PlanTask(id: TaskID("t"), description: "d", checks: [])]),
            workspace: tempDir("ns-decide"), settings: RunSettings())
        let reason = try await harness.drive(
            run, announce: [.policySet(policy: policy, source: "p.yaml", hash: "h", text: "")])
        guard case .paused = reason else { throw TestFailure("expected a pause, got \(reason)") }
        return (store, run)
    }

    static let asks = Policy(rules: [PolicyRule(effect: .ask, tool: "shell", origin: "p.yaml:2")])

    @Test func anApprovalBindsOnceAndOnlyToAWaitingCall() async throws {
        let (store, run) = try await pausedRun(Self.asks)
        let decisions = Decisions(store: store, decider: "alice")
        let missing = await #expect(throws: DecisionError.self) { try await decisions.approve(run, call: "m9.9") }
        #expect(missing?.code == .notWaiting)
        let state = try await decisions.approve(run, call: "m1.1", note: "fine")
        #expect(state.pending.pendingTools.first?.approved == true)
        let again = await #expect(throws: DecisionError.self) {
            try await decisions.deny(run, call: "m1.1", reason: "changed my mind")
        }
        #expect(again?.code == .alreadyDecided)
        let blank = await #expect(throws: DecisionError.self) {
            try await decisions.deny(run, call: "m1.1", reason: " \n\u{200B}\t")
        }
        #expect(blank?.code == .invalid)
    }

    @Test func onlyThePolicysApproversMayDecide() async throws {
        var policy = Self.asks
        policy.approvers = ["bob"]
        let (store, run) = try await pausedRun(policy)
        let refused = await #expect(throws: DecisionError.self) {
            try await Decisions(store: store, decider: "mallory").approve(run, call: "m1.1")
        }
        #expect(refused?.code == .notAllowed)
        try await Decisions(store: store, decider: "bob").approve(run, call: "m1.1")
    }

    @Test func nothingIsAppendedToALogThatDoesNotVerify() async throws {
        let (store, run) = try await pausedRun(Self.asks)
        let head = try #require(await store.summary(of: run)?.headSeq)
        await store.tamper(run, seq: 3, body: Data("{}".utf8))
        let broken = await #expect(throws: DecisionError.self) {
            try await Decisions(store: store, decider: "alice").answer(run, text: "go on")
        }
        #expect(broken?.code == .brokenLog)
        #expect(await store.summary(of: run)?.headSeq == head)
    }
}

import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftHarness
import NightshiftModels
import NightshiftTesting
import Testing

/// The ends a fleet driver's harnesses share: a sub-agent's end is there only once its final
/// commit is durable, and it is exactly what its log says.
@Suite struct SettledRunsTests {
    func drive(_ run: RunID, parent: ParentLink?, done: Bool, settled: SettledRuns) async throws -> InMemoryEventStore {
        let store = InMemoryEventStore()
        // Done, or it asks for a person: the run pauses, not ended.
        let tool = done ? "note: {text: hi}" : "escalate: {reason: help}"
        let scenario = try ScenarioFile.parse(
            "tasks:\n  t:\n    - tools:\n        - \(tool)\n" + (done ? "      done: wrote it\n" : ""), file: "s.yaml")
        let harness = Harness(
            store: store, model: ScriptedModel(scenario: scenario), tools: InMemoryToolRunner([]),
            checks: InMemoryCheckRunner(["true": .init(exitCode: 0)]), settled: settled)
        var settings = RunSettings(maxAttempts: 1, maxTurnsPerAttempt: 1)
        settings.parent = parent
        try await harness.create(
            run, title: "t",
            plan: Plan(
                title: "t", tasks: [PlanTask(id: TaskID("t"), description: "d", checks: [Check(command: "true")])]),
            workspace: tempDir("ns-settled"), settings: settings)
        _ = try await harness.drive(run)
        return store
    }

    @Test func aSubAgentsEndIsSharedAsItsLogHasIt() async throws {
        let settled = SettledRuns()
        let child = RunID("p.m1.1.1")
        let store = try await drive(
            child, parent: ParentLink(run: RunID("p"), call: CallID("m1.1"), depth: 1), done: true, settled: settled)
        let fromLog = try await store.state(of: child).childOutcome
        #expect(fromLog?.status == .finished)
        #expect(settled.outcome(of: child) == fromLog)
    }

    @Test func aRunThatDidNotEndOrHasNoParentIsNotThere() async throws {
        let settled = SettledRuns()
        let link = ParentLink(run: RunID("p"), call: CallID("m1.1"), depth: 1)
        let open = RunID("p.m1.1.2")
        let store = try await drive(open, parent: link, done: false, settled: settled)
        #expect(try await store.state(of: open).status == .paused)
        #expect(settled.outcome(of: open) == nil)
        let root = RunID("root")
        _ = try await drive(root, parent: nil, done: true, settled: settled)
        #expect(settled.outcome(of: root) == nil)
    }
}

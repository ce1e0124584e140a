import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftHands
import NightshiftHarness
import NightshiftModels
import NightshiftTesting
import Testing

/// Numbers from a model's response enter the fold; out-of-range ones are a recorded, explained
/// failure, never a trap (which every resume would hit again, since the response is folded
/// before it is committed).
@Suite struct NumericInputTests {
    /// A provider that reports the usage it is given, then behaves.
    actor Counter {
        var n = 0
        func next() -> Int {
            n += 1
            return n
        }
    }

    struct OddProvider: ModelProvider {
        let usage: TokenUsage
        let cost: Int64?
        var label: String { "test double: odd usage" }
        func respond(to request: ModelRequest) async throws -> ModelResponse {
            ModelResponse(
                text: "done", claimsDone: true, summary: "done", usage: usage, model: "odd", costPicoUSD: cost)
        }
    }

    @Test(arguments: [
        (TokenUsage(input: -5, output: 1), Int64?.none),
        (TokenUsage(input: Int.max, output: Int.max), Int64?.none),
        (TokenUsage(input: 10, output: 10, cachedInput: -1), Int64?.none),
        (TokenUsage(input: 10, output: 10), Int64?.some(-1)),
        (TokenUsage(input: 10, output: 10), Int64?.some(.max)),
    ])
    func impossibleUsagePausesWithAReasonAndResumeDoesNotTrap(usage: TokenUsage, cost: Int64?) async throws {
        let ws = tempDir("ns-usage")
        let store = InMemoryEventStore()
        let harness = Harness(
            store: store, model: OddProvider(usage: usage, cost: cost),
            tools: ToolBox.standard(isolation: .none(reason: "usage tests")),
            checks: ShellCheckRunner(isolation: .none(reason: "usage tests")))
        let plan = Plan(
            title: "u", tasks: [PlanTask(id: TaskID("t"), description: "d", checks: [Check(command: "true")])])
        try await harness.create(RunID("u"), title: "u", plan: plan, workspace: ws, settings: RunSettings())
        for round in 0..<3 {
            let reason = try await harness.drive(RunID("u"), resumedBy: round == 0 ? nil : "test")
            guard case let .paused(why) = reason else {
                Issue.record("round \(round): \(reason)")
                return
            }
            #expect(why.contains("impossible usage"), "\(why)")
        }
        let events = try await store.readAll(RunID("u")).map(\.event)
        #expect(!events.contains { if case .modelResponded = $0 { true } else { false } })
        #expect(events.filter { if case .modelFailed = $0 { true } else { false } }.count == 3)
        let state = try await harness.wake(RunID("u"))
        #expect(state.usage == TokenUsage())
        #expect(try await store.verify(RunID("u")).ok)
    }
}

/// A task's check results are durable one by one: a kill during a long list loses at most the
/// check that was running.
@Suite struct CheckRecordingTests {
    actor Seen {
        var counts: [Int] = []
        func add(_ n: Int) { counts.append(n) }
    }

    struct PeekingChecks: CheckRunner {
        let store: InMemoryEventStore
        let seen: Seen
        func run(_ check: Check, workspace: String) async -> CheckResult {
            let recorded = ((try? await store.readAll(RunID("c"))) ?? []).filter { $0.event.kind == "check_ran" }.count
            await seen.add(recorded)
            return CheckResult(exitCode: 0, output: "ok", durationMs: 1)
        }
    }

    @Test func eachCheckResultIsCommittedBeforeTheNextCheckRuns() async throws {
        let store = InMemoryEventStore()
        let seen = Seen()
        let scenario = try ScenarioFile.parse("tasks:\n  t:\n    - done: claimed\n", file: "s.yaml")
        let harness = Harness(
            store: store, model: ScriptedModel(scenario: scenario),
            tools: ToolBox.standard(isolation: .none(reason: "t")),
            checks: PeekingChecks(store: store, seen: seen))
        let plan = Plan(
            title: "c",
            tasks: [
                PlanTask(
                    id: TaskID("t"), description: "d",
                    checks: [Check(command: "one"), Check(command: "two"), Check(command: "three")])
            ])
        try await harness.create(
            RunID("c"), title: "c", plan: plan, workspace: tempDir("ns-checks"), settings: RunSettings())
        #expect(try await harness.drive(RunID("c")) == .finished)
        #expect(await seen.counts == [0, 1, 2])
    }
}

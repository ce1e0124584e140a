import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftHands
import NightshiftModels
import NightshiftTesting
import Testing

@testable import NightshiftHarness

/// A tool that never returns (blocked in the kernel, say) must not hold the run: the harness
/// stops waiting at the runner's deadline and records a truthful end for the call.
@Suite struct ToolDeadlineTests {
    /// Wraps the standard tools; `read_file` and `write_file` hang, ignoring cancellation as a
    /// thread blocked in `open(2)` would, and both get a short deadline.
    struct HangingTools: ToolRunner {
        let inner = ToolBox.standard(isolation: .none(reason: "deadline tests"))
        var specs: [ToolSpec] { inner.specs }
        func run(_ call: ToolCall, workspace: String) async -> ToolResult {
            guard ["read_file", "write_file"].contains(call.name) else {
                return await inner.run(call, workspace: workspace)
            }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().asyncAfter(deadline: .now() + 30) { c.resume() }
            }
            return ToolResult(ok: true, output: "too late")
        }
        func deadline(for call: ToolCall) -> Duration? { .milliseconds(300) }
    }

    @Test func aToolThatNeverReturnsEndsInDoubtOrFailedAndTheRunGoesOn() async throws {
        let ws = tempDir("ns-deadline")
        let store = InMemoryEventStore()
        let scenario = try ScenarioFile.parse(
            """
            tasks:
              t:
                - tools:
                    - read_file: {path: pipe}
                    - write_file: {path: a.txt, content: x}
                - tools:
                    - shell: {command: "echo ok > b.txt"}
                  done: finished
            """, file: "s.yaml")
        let harness = Harness(
            store: store, model: ScriptedModel(scenario: scenario), tools: HangingTools(),
            checks: ShellCheckRunner(isolation: .none(reason: "deadline tests")))
        let plan = Plan(
            title: "d", tasks: [PlanTask(id: TaskID("t"), description: "d", checks: [Check(command: "test -f b.txt")])])
        try await harness.create(RunID("d"), title: "d", plan: plan, workspace: ws, settings: RunSettings())
        let start = ContinuousClock.now
        let reason = try await harness.drive(RunID("d"))
        #expect(reason == .finished)
        #expect(ContinuousClock.now - start < .seconds(20))
        let events = try await store.readAll(RunID("d")).map(\.event)
        // The idempotent read failed with the reason; the write may still land, so it is in doubt.
        let read = events.compactMap { if case let .toolFinished(c, r) = $0, c == CallID("m1.1") { r } else { nil } }
            .first
        #expect(read?.ok == false)
        #expect(read?.output.text.contains("did not finish within") == true, "\(String(describing: read))")
        #expect(
            events.contains {
                if case let .toolInDoubt(c, reason) = $0 {
                    c == CallID("m1.2") && reason.contains("outcome is unknown")
                } else {
                    false
                }
            })
        #expect(try await store.verify(RunID("d")).ok)
    }

    @Test func theDeadlineReturnsTheResultWhenTheWorkIsFaster() async {
        let fast = await ToolDeadline.run(limit: .seconds(30)) { 42 }
        #expect(fast == 42)
        let start = ContinuousClock.now
        let slow: Int? = await ToolDeadline.run(limit: .milliseconds(100)) {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().asyncAfter(deadline: .now() + 5) { c.resume() }
            }
            return 1
        }
        #expect(slow == nil)
        #expect(ContinuousClock.now - start < .seconds(4))
    }
}

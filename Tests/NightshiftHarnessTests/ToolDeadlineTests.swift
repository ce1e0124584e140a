import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftHands
import NightshiftModels
import NightshiftTesting
import Synchronization
import Testing

@testable import NightshiftHarness

/// A tool that never returns (blocked in the kernel, say) must not hold the run: the harness
/// stops waiting at the runner's deadline and records a truthful end for the call.
///
/// No wall-clock bound: the work blocks until the test opens a gate, so "did not wait for it" is
/// checked as the gate still being shut when the caller got its answer (a loaded machine cannot
/// fail that; a gate that was waited for would only open by its safety timer, minutes later).
@Suite struct ToolDeadlineTests {
    /// Work blocked until the test opens it, ignoring cancellation as a thread blocked in `open(2)`
    /// would; opened by a safety timer after `safety` if the test never does (then it failed anyway).
    final class Gate: Sendable {
        private struct State {
            var open = false
            var waiting: [CheckedContinuation<Void, Never>] = []
            var entered = 0
        }
        private let state = Mutex(State())
        init(safety: Duration = .seconds(120)) {
            let seconds = Double(safety.components.seconds)
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { [weak self] in self?.open() }
        }
        /// How many callers have blocked here so far.
        var entered: Int { state.withLock { $0.entered } }
        var isOpen: Bool { state.withLock { $0.open } }
        func wait() async {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let open = state.withLock { s -> Bool in
                    s.entered += 1
                    if !s.open { s.waiting.append(c) }
                    return s.open
                }
                if open { c.resume() }
            }
        }
        func open() {
            let waiting = state.withLock { s -> [CheckedContinuation<Void, Never>] in
                s.open = true
                defer { s.waiting = [] }
                return s.waiting
            }
            for c in waiting { c.resume() }
        }
    }

    /// Wraps the standard tools; `read_file` and `write_file` hang until the gate opens, and both
    /// get a short deadline.
    struct HangingTools: ToolRunner {
        let inner = ToolBox.standard(isolation: .none(reason: "deadline tests"))
        let gate: Gate
        var specs: [ToolSpec] { inner.specs }
        func run(_ call: ToolCall, workspace: String) async -> ToolResult {
            guard ["read_file", "write_file"].contains(call.name) else {
                return await inner.run(call, workspace: workspace)
            }
            await gate.wait()
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
        let gate = Gate()
        defer { gate.open() }
        let harness = Harness(
            store: store, model: ScriptedModel(scenario: scenario), tools: HangingTools(gate: gate),
            checks: ShellCheckRunner(isolation: .none(reason: "deadline tests")))
        let plan = Plan(
            title: "d", tasks: [PlanTask(id: TaskID("t"), description: "d", checks: [Check(command: "test -f b.txt")])])
        try await harness.create(RunID("d"), title: "d", plan: plan, workspace: ws, settings: RunSettings())
        let reason = try await harness.drive(RunID("d"))
        #expect(reason == .finished)
        // The run went on and finished while both calls were still blocked.
        #expect(gate.entered == 2 && !gate.isOpen)
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
        let gate = Gate()
        defer { gate.open() }
        let slow: Int? = await ToolDeadline.run(limit: .milliseconds(100)) {
            await gate.wait()
            return 1
        }
        #expect(slow == nil)
        #expect(gate.entered == 1 && !gate.isOpen)  // answered while the work was still blocked
    }
}

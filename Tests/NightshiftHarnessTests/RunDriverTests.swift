import Foundation
import NightshiftCore
import NightshiftHarness
import NightshiftTesting
import Synchronization
import Testing

/// The drive's own lifetime: nothing it starts goes on after it ends.
@Suite struct RunDriverTests {
    /// A model whose call is interrupted: the drive ends by throwing.
    struct InterruptedModel: ModelProvider {
        var label: String { "interrupted (test double)" }
        func respond(to request: ModelRequest) async throws -> ModelResponse { throw CancellationError() }
    }

    @Test func aWorkspaceBeingMadeIsCancelledAndAwaitedWhenTheDriveThrows() async throws {
        let store = InMemoryEventStore()
        let harness = Harness(
            store: store, model: InterruptedModel(), tools: InMemoryToolRunner([]), checks: InMemoryCheckRunner())
        let run = RunID("p")
        try await harness.create(
            run, title: "p", plan: Plan(title: "p", tasks: [PlanTask(id: TaskID("t"), description: "d", checks: [])]),
            workspace: "/nonexistent", settings: RunSettings())
        let seen = Mutex<[String]>([])
        await #expect(throws: CancellationError.self) {
            try await harness.drive(
                run,
                provision: {
                    seen.withLock { $0.append("started") }
                    // Making a worktree takes a while; this one waits until it is told to stop.
                    while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(5)) }
                    seen.withLock { $0.append("cancelled") }
                    return []
                })
        }
        // By the time drive has thrown, the provisioning has been told to stop and has stopped.
        #expect(seen.withLock { $0 } == ["started", "cancelled"])
        // Nothing of it was recorded: the run is where the model call left it.
        let kinds = try await store.readAll(run).map(\.event.kind)
        #expect(!kinds.contains("workspace_provisioned"), "\(kinds)")
        #expect(kinds.last == "model_requested", "\(kinds)")
    }

    /// A model that asks for one call of `wait` at every turn.
    struct CallingModel: ModelProvider {
        var label: String { "calling (test double)" }
        func respond(to request: ModelRequest) async throws -> ModelResponse {
            ModelResponse(text: "", toolCalls: [ProposedToolCall(name: "wait", arguments: "{}")], model: "double")
        }
    }

    /// A drive cancelled from outside (its process stops) records nothing more, on any store:
    /// the tool's result, got because the stop ended it, is not taken for the tool's own; the
    /// call stays in flight, in doubt at the next wake. (The in-memory twin does not refuse work
    /// in a cancelled task, as SQLite does: the drive itself must not record.)
    @Test func aCancelledDriveRecordsNothingAfterTheStepItWasIn() async throws {
        let store = InMemoryEventStore()
        let (started, starts) = AsyncStream<Void>.makeStream()
        let harness = Harness(
            store: store, model: CallingModel(), tools: KilledByTheStop(started: starts), checks: InMemoryCheckRunner())
        let run = RunID("c")
        try await harness.create(
            run, title: "c", plan: Plan(title: "c", tasks: [PlanTask(id: TaskID("t"), description: "d", checks: [])]),
            workspace: "/nonexistent", settings: RunSettings())
        let drive = Task { try await harness.drive(run) }
        var gate = started.makeAsyncIterator()
        await gate.next()
        drive.cancel()
        await #expect(throws: CancellationError.self) { try await drive.value }
        let kinds = try await store.readAll(run).map(\.event.kind)
        #expect(kinds.last == "tool_started", "\(kinds.suffix(6))")
        #expect(!kinds.contains("tool_finished"), "\(kinds.suffix(6))")
    }

    /// A tool whose command runs until the stop kills it, and then returns the kill as its
    /// result, as the process runner does. It waits without holding a thread of the pool.
    struct KilledByTheStop: ToolRunner {
        let started: AsyncStream<Void>.Continuation
        var specs: [ToolSpec] {
            [ToolSpec(name: "wait", description: "waits", idempotent: false, parametersSchema: #"{"type":"object"}"#)]
        }
        func run(_ call: ToolCall, workspace: String) async -> ToolResult {
            started.yield()
            try? await Task.sleep(for: .seconds(60))  // ended early by the cancellation
            return ToolResult(ok: false, output: Payload("killed by signal 9"))
        }
        func deadline(for call: ToolCall) -> Duration? { nil }
    }
}

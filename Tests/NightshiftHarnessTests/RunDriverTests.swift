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
}

import Foundation
import NightshiftCore
import NightshiftRuntime
import NightshiftTesting
import Testing

/// The inbox and cancel use cases on the in-memory store twin, without the CLI.
@Suite struct RuntimeUseCaseTests {
    /// A run of one task, paused with `pause` (its kind recorded, or none as older versions wrote).
    func pausedRun(_ id: String, _ pause: Event, in store: InMemoryEventStore) async throws -> RunID {
        let run = RunID(id)
        let plan = Plan(title: id, tasks: [PlanTask(id: TaskID("t"), description: "d", checks: [])])
        try await store.append(
            [
                .runCreated(title: id, workspace: "/nonexistent", model: "scripted:x", settings: RunSettings()),
                .planSet(plan: plan), pause,
            ], to: run, expectedSeq: 0)
        return run
    }

    @Test func theInboxFilesEachPauseByItsRecordedKindAndReadsOlderPausesFromTheirText() async throws {
        let store = InMemoryEventStore()
        // The recorded kind wins over the text, whatever the text says.
        _ = try await pausedRun("a", .runPaused(reason: "escalated: looks like text", kind: .budget), in: store)
        _ = try await pausedRun("b", .runPaused(reason: "breaker tool_errors: 3 tool calls in a row"), in: store)
        _ = try await pausedRun("c", .runPaused(reason: "something no version wrote"), in: store)
        _ = try await pausedRun("d", .runPaused(reason: "the plan (version 2) waits for review (PLAN.md)"), in: store)
        let items = Dictionary(
            uniqueKeysWithValues: try await Inbox.items(store).map { ($0.run.rawValue, $0) })
        #expect(items.count == 4)
        #expect(items["a"]?.kind == .budget)
        #expect(items["b"]?.kind == .breaker)
        #expect(items["c"]?.kind == nil)
        #expect(items["d"]?.kind == .planReview)
        #expect(items["b"]?.reason == "breaker tool_errors: 3 tool calls in a row")
        // A resumed run leaves the inbox, and its kind with it.
        try await store.append([.runResumed(by: "test")], to: RunID("a"), expectedSeq: 3)
        #expect(try await Inbox.items(store).map(\.run.rawValue).sorted() == ["b", "c", "d"])
        #expect(try await store.state(of: RunID("a")).pauseKind == nil)
    }

    @Test func cancellingEndsAPausedRunOnceWithWhoAndWhy() async throws {
        let store = InMemoryEventStore()
        let run = try await pausedRun("x", .runPaused(reason: "escalated: stuck", kind: .escalation), in: store)
        let blank = await #expect(throws: RuntimeError.self) {
            try await CancelRun.cancel(run, reason: " \n", by: "alice", store: store)
        }
        #expect(blank?.code == .invalidInput)
        let state = try await CancelRun.cancel(run, reason: "no longer needed", by: "alice", store: store)
        #expect(state.status == .failed)
        let stored = try await store.state(of: run)
        #expect(stored.status == .failed && stored.statusReason == "cancelled by alice: no longer needed")
        let again = await #expect(throws: RuntimeError.self) {
            try await CancelRun.cancel(run, reason: "twice", by: "alice", store: store)
        }
        #expect(again?.code == .invalidInput)
        #expect(try await store.summary(of: run)?.headSeq == 4)
        let missing = await #expect(throws: RuntimeError.self) {
            try await CancelRun.cancel(RunID("nope"), reason: "r", by: "alice", store: store)
        }
        #expect(missing?.code == .notFound)
    }

    @Test func aRunDrivenByALiveProcessIsNotCancelledUnderIt() async throws {
        let store = InMemoryEventStore()
        let run = try await pausedRun("y", .runPaused(reason: "escalated: stuck", kind: .escalation), in: store)
        // A holder on another host, heartbeating: this process cannot tell it is dead, so it is not.
        let remote = LeaseHolder(host: "elsewhere", boot: "b", pid: 7, started: 1)
        _ = try await store.acquireLease(run, holder: remote, ttl: .seconds(300), isAlive: { _ in true })
        let busy = await #expect(throws: RuntimeError.self) {
            try await CancelRun.cancel(run, reason: "stop", by: "alice", store: store)
        }
        #expect(busy?.code == .busy)
        #expect(try await store.state(of: run).status == .paused)
    }

    @Test func olderPauseTextsAreClassifiedAsTheirWritersMeantThem() {
        let cases: [(String, PauseKind?)] = [
            ("awaiting approval of m1.1: shell {} (ask); nightshift approve …", .approval),
            ("budget_exhausted: the run budget is spent (steps 3 of 3)", .budget),
            ("breaker repeated_call: shell with the same arguments", .breaker),
            ("escalated by the agent: unclear", .escalation),
            ("the plan (version 1) waits for review (PLAN.md)", .planReview),
            ("the planner gave no usable plan in 3 tries", .planning),
            ("the plan's init script failed: exit 1", .planning),
            ("the model call failed: 500", .model),
            ("the workspace could not be made: disk full", .workspace),
            ("", nil), ("Budget_exhausted in another case", nil),
        ]
        for (text, kind) in cases { #expect(PauseKind(legacyReason: text) == kind, "\(text)") }
    }
}

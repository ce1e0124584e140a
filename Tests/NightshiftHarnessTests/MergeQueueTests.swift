import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftHarness
import NightshiftModels
import NightshiftTesting
import Testing

/// The merge queue's effect on the twins, from a log that stops where a crash left it: right
/// after `merge_started`, with the merge made or not. Whatever the crash interrupted, the task is
/// merged exactly once.
@Suite struct MergeQueueTests {
    static let task = PlanTask(id: TaskID("t"), description: "write t.txt", checks: [Check(command: "test -f t.txt")])
    static let parent = RunID("P")
    static let worker = RunID("P.w1")

    /// A coding fleet's log up to its merge of the finished worker's branch, and the twins: the
    /// run's workspace on its branch, the worker's on its own with one commit.
    func crashedAtMerge() async throws -> (InMemoryEventStore, InMemoryVCS, InMemoryCheckRunner) {
        let store = InMemoryEventStore()
        var settings = RunSettings(worktreeOf: "/repo")
        settings.workers = 1
        let events: [Event] = [
            .runCreated(title: "fleet", workspace: "/p", model: "scripted", settings: settings),
            .planSet(plan: Plan(title: "fleet", tasks: [Self.task])),
            .workspaceProvisioned(path: "/p", branch: "nightshift/P", base: "c0"),
            .taskDispatched(task: Self.task.id, attempt: 1, child: Self.worker, spec: Self.task, budget: Budget()),
            .childCreated(child: Self.worker, workspace: "/p.w1"),
            .waitStarted(call: RunState.dispatchCall, agents: [Self.worker], need: 1, deadline: nil),
            .childEnded(
                child: Self.worker,
                outcome: ChildOutcome(status: .finished, summary: "done", branch: "nightshift/P.w1", spent: Spent())),
            .childrenPolled(call: RunState.dispatchCall, open: []),
            .mergeStarted(task: Self.task.id, child: Self.worker, branch: "nightshift/P.w1"),
        ]
        _ = try await store.append(events, to: Self.parent, expectedSeq: 0)
        let vcs = InMemoryVCS()
        vcs.initialise("/p", files: ["README.md": "# p\n"], branch: "nightshift/P")
        vcs.provision("/p.w1", branch: "nightshift/P.w1", from: "/p")
        vcs.write("/p.w1", "t.txt", "t")
        #expect(await vcs.commit(workspace: "/p.w1", message: "t").commit != nil)
        return (store, vcs, InMemoryCheckRunner(["test -f t.txt": .init(exitCode: 0)]))
    }

    func harness(_ store: InMemoryEventStore, _ vcs: InMemoryVCS, _ checks: InMemoryCheckRunner) throws -> Harness {
        Harness(
            store: store, model: ScriptedModel(scenario: try ScenarioFile.parse("tasks: {}\n", file: "s.yaml")),
            tools: InMemoryToolRunner([]), checks: checks, vcs: vcs)
    }

    func merged(_ store: InMemoryEventStore) async throws -> [String] {
        try await store.readAll(Self.parent).compactMap {
            if case let .workMerged(_, _, commit) = $0.event { commit } else { nil }
        }
    }

    @Test func aMergeInterruptedBeforeTheBranchMovedIsMadeOnce() async throws {
        let (store, vcs, checks) = try await crashedAtMerge()
        let reason = try await harness(store, vcs, checks).drive(Self.parent, resumedBy: "test")
        #expect(reason == .finished, "\(reason)")
        #expect(vcs.commits("/p").count == 2, "\(vcs.commits("/p"))")
        #expect(try await merged(store) == [vcs.commits("/p").last!])
        #expect(vcs.committedFiles("/p")["t.txt"] == "t")
        // The ratchet ran on the merged tree, in the scratch worktree.
        #expect(checks.commands == ["test -f t.txt"])
    }

    @Test func aMergeInterruptedAfterTheBranchMovedIsFoundNotMadeAgain() async throws {
        let (store, vcs, checks) = try await crashedAtMerge()
        // The process that crashed had merged and moved the branch, and died before recording it.
        guard
            case let .ready(scratch, base, mergeCommit) = try await vcs.prepareMerge(
                branch: "nightshift/P.w1", workspace: "/p", message: "m")
        else { throw TestFailure("expected a merge") }
        #expect(try await vcs.advance(workspace: "/p", from: base, to: mergeCommit))
        await vcs.discardMerge(scratch: scratch, workspace: "/p")
        let reason = try await harness(store, vcs, checks).drive(Self.parent, resumedBy: "test")
        #expect(reason == .finished, "\(reason)")
        #expect(vcs.commits("/p") == ["c0", mergeCommit])
        #expect(try await merged(store) == [mergeCommit])
        #expect(checks.commands.isEmpty, "nothing is merged again, so nothing is checked again")
    }

    @Test func aMergedTreeThatFailsACheckIsSentBackNotMerged() async throws {
        let (store, vcs, _) = try await crashedAtMerge()
        let checks = InMemoryCheckRunner(["test -f t.txt": .init(exitCode: 1, output: "t.txt is missing")])
        let reason = try await harness(store, vcs, checks).drive(Self.parent, resumedBy: "test")
        #expect(reason == .finished, "\(reason)")
        #expect(vcs.commits("/p") == ["c0"], "the branch never moved")
        #expect(try await merged(store).isEmpty)
        let events = try await store.readAll(Self.parent).map(\.event)
        let feedback = events.compactMap { e -> String? in
            if case let .workRejected(_, _, f) = e { f.text } else { nil }
        }
        #expect(feedback.first?.contains("merged tree failed 1 of 1 checks") == true, "\(feedback)")
        #expect(feedback.first?.contains("t.txt is missing") == true, "\(feedback)")
        // The rework is handed to a new worker with the rejection in its task (this process cannot
        // make workers, so that worker ends failed and the task is blocked, with the reason).
        let rework = events.compactMap { e -> PlanTask? in
            if case let .taskDispatched(_, 2, _, spec, _) = e { spec } else { nil }
        }
        #expect(rework.first?.description.contains("t.txt is missing") == true)
        let state = try await store.state(of: Self.parent)
        #expect(state.tasks.first?.status == .blocked)
    }
}

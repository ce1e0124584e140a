import Foundation
import NightshiftCore
import Testing

@Suite struct RunStateTests {
    @Test func createdRunStartsItsFirstTaskAndAsksTheModel() throws {
        var log = LogBuilder()
        try log.add(created())
        let d = try log.advance()
        #expect(d == .callModel(call: CallID("m1"), task: twoTasks.tasks[0], attempt: 1, turn: 0, role: .worker))
        #expect(log.envelopes.map(\.event.kind) == ["run_created", "plan_set", "task_started", "model_requested"])
        #expect(log.state.current == 0)
        #expect(log.state.tasks[0].status == .active)
        #expect(log.state.phase == .awaitingModel(call: CallID("m1")))
    }

    @Test func toolCallsAreRequestedStartedAndFinishedInOrder() throws {
        var log = LogBuilder()
        try log.add(created())
        try log.advance()
        try log.add(response("m1", tools: [("read_file", #"{"path":"x"}"#), ("shell", #"{"command":"ls"}"#)]))
        var d = try log.advance()
        #expect(d == .runTool(ToolCall(id: CallID("m1.1"), name: "read_file", arguments: #"{"path":"x"}"#)))
        #expect(log.state.pending.pendingTools.first?.idempotent == true)
        try log.add(.toolFinished(call: CallID("m1.1"), result: ToolResult(ok: true, output: "x")))
        d = try log.advance()
        #expect(d == .runTool(ToolCall(id: CallID("m1.2"), name: "shell", arguments: #"{"command":"ls"}"#)))
        #expect(log.state.pending.pendingTools.first?.idempotent == false)
        try log.add(.toolFinished(call: CallID("m1.2"), result: ToolResult(ok: true, output: "", exitCode: 0)))
        d = try log.advance()
        #expect(d == .callModel(call: CallID("m2"), task: twoTasks.tasks[0], attempt: 1, turn: 1, role: .worker))
        #expect(log.state.toolCalls == 2)
        #expect(log.state.usage == TokenUsage(input: 10, output: 2))
    }

    @Test func unknownToolGetsAnErrorResultWithoutRunning() throws {
        var log = LogBuilder()
        try log.add(created())
        try log.advance()
        try log.add(response("m1", tools: [("rm_everything", "{}")]))
        let d = try log.advance()
        guard case .callModel = d else {
            Issue.record("expected the next model call, got \(d)")
            return
        }
        guard case let .toolFinished(_, result) = log.envelopes.last(where: { $0.event.kind == "tool_finished" })?.event
        else {
            Issue.record("no tool_finished")
            return
        }
        #expect(!result.ok)
        #expect(result.output.text.contains("unknown tool 'rm_everything'"))
    }

    @Test func doneClaimRunsChecksAndPassingChecksFinishTheTask() throws {
        var log = LogBuilder()
        try log.add(created())
        try log.advance()
        try log.add(response("m1", done: true))
        #expect(
            try log.advance()
                == .runChecks(task: twoTasks.tasks[0], attempt: 1, from: 0, checks: twoTasks.tasks[0].checks))
        try log.add(
            .checkRan(
                task: TaskID("a"), attempt: 1, index: 0, command: "test -f a", expectExit: 0, exitCode: 0,
                passed: true, output: "", durationMs: 3))
        let d = try log.advance()
        #expect(log.state.tasks[0].status == .done)
        #expect(log.state.lastNote?.contains("Task a done on attempt 1") == true)
        #expect(d == .callModel(call: CallID("m2"), task: twoTasks.tasks[1], attempt: 1, turn: 0, role: .worker))
    }

    @Test func failingChecksStartANewAttemptWithFeedbackThenBlock() throws {
        var log = LogBuilder()
        try log.add(created(RunSettings(maxAttempts: 2)))
        try log.advance()
        for attempt in 1...2 {
            try log.add(response("m\(attempt)", done: true))
            try log.advance()
            try log.add(
                .checkRan(
                    task: TaskID("a"), attempt: attempt, index: 0, command: "test -f a", expectExit: 0, exitCode: 1,
                    passed: false, output: "no such file", durationMs: 1))
            try log.advance()
            if attempt == 1 {
                #expect(log.state.tasks[0].attempts == 2)
                #expect(log.state.tasks[0].feedback?.contains("no such file") == true)
            }
        }
        #expect(log.state.tasks[0].status == .blocked)
        #expect(log.state.tasks[1].status == .active)  // the run goes on by default
    }

    @Test func blockedTaskStopsTheRunWhenConfigured() throws {
        var log = LogBuilder()
        try log.add(created(RunSettings(maxAttempts: 1, stopOnBlocked: true)))
        try log.advance()
        try log.add(response("m1", done: true))
        try log.advance()
        try log.add(
            .checkRan(
                task: TaskID("a"), attempt: 1, index: 0, command: "c", expectExit: 0, exitCode: 2, passed: false,
                output: "", durationMs: 1))
        let d = try log.advance()
        #expect(log.state.status == .failed)
        guard case .stop(.failed) = d else {
            Issue.record("expected stop(failed), got \(d)")
            return
        }
    }

    @Test func turnLimitFailsTheAttempt() throws {
        var log = LogBuilder()
        try log.add(created(RunSettings(maxAttempts: 1, maxTurnsPerAttempt: 2)))
        try log.advance()
        try log.add(response("m1"))
        try log.advance()
        try log.add(response("m2"))
        try log.advance()
        #expect(log.state.tasks[0].status == .blocked)
        #expect(log.envelopes.contains { $0.event.kind == "task_attempt_failed" })
    }

    @Test func allTasksDoneFinishesTheRun() throws {
        var log = LogBuilder()
        try log.add(created())
        try log.advance()
        try log.add(response("m1", done: true))
        try log.advance()
        try log.add(
            .checkRan(
                task: TaskID("a"), attempt: 1, index: 0, command: "c", expectExit: 0, exitCode: 0, passed: true,
                output: "", durationMs: 1))
        try log.advance()
        try log.add(response("m2", done: true))
        let d = try log.advance()  // task b has no checks: done at once
        #expect(d == .stop(.finished))
        #expect(log.state.status == .finished)
        #expect(log.envelopes.last?.event.kind == "run_finished")
    }

    @Test func resumeAfterCrashPutsStartedNonIdempotentCallInDoubtAndRerunsIdempotentOnes() throws {
        var log = LogBuilder()
        try log.add(created())
        try log.advance()
        try log.add(response("m1", tools: [("read_file", "{}"), ("shell", #"{"command":"rm x"}"#)]))
        #expect(try log.advance() == .runTool(ToolCall(id: CallID("m1.1"), name: "read_file", arguments: "{}")))
        // The process dies while read_file runs; a new one resumes.
        try log.add(.runResumed(by: "test"))
        #expect(try log.advance() == .runTool(ToolCall(id: CallID("m1.1"), name: "read_file", arguments: "{}")))
        try log.add(.toolFinished(call: CallID("m1.1"), result: ToolResult(ok: true, output: "x")))
        #expect(
            try log.advance()
                == .runTool(ToolCall(id: CallID("m1.2"), name: "shell", arguments: #"{"command":"rm x"}"#)))
        // It dies again, this time while the shell call runs.
        try log.add(.runResumed(by: "test"))
        let d = try log.advance()
        #expect(d == .callModel(call: CallID("m2"), task: twoTasks.tasks[0], attempt: 1, turn: 1, role: .worker))
        #expect(log.envelopes.contains { $0.event.kind == "tool_in_doubt" })
        #expect(log.state.pending.unreportedInDoubt.map(\.call) == [CallID("m1.2")])
        // Once the model has been told, the notice is cleared.
        try log.add(response("m2"))
        #expect(log.state.pending.unreportedInDoubt.isEmpty)
        #expect(log.state.resumes == 2)
    }

    @Test func pendingModelRequestIsReissuedAfterResume() throws {
        var log = LogBuilder()
        try log.add(created())
        try log.advance()
        try log.add(.runResumed(by: "test"))
        #expect(
            try log.advance()
                == .callModel(call: CallID("m1"), task: twoTasks.tasks[0], attempt: 1, turn: 0, role: .worker))
    }

    @Test func failedModelCallPausesAndResumeRetriesWithANewCall() throws {
        var log = LogBuilder()
        try log.add(created())
        try log.advance()
        try log.add([.modelFailed(call: CallID("m1"), reason: "boom"), .runPaused(reason: "boom")])
        #expect(log.state.nextAction(tools: .standard) == .stop(.paused("boom")))
        try log.add(.runResumed(by: "user"))
        #expect(
            try log.advance()
                == .callModel(call: CallID("m2"), task: twoTasks.tasks[0], attempt: 1, turn: 0, role: .worker))
    }

    /// Every kind of invalid event is rejected with a typed error and leaves the state exactly as it was.
    @Test(
        arguments: [
            ("before run_created", [], Event.planSet(plan: twoTasks)),
            (
                "second run_created", created(),
                .runCreated(title: "x", workspace: "/", model: "m", settings: RunSettings())
            ),
            ("plan rewritten", created(), .planSet(plan: twoTasks)),
            ("wrong task first", created(), .taskStarted(task: TaskID("b"), attempt: 1)),
            ("attempt 2 first", created(), .taskStarted(task: TaskID("a"), attempt: 2)),
            (
                "model call out of turn", created(),
                .modelRequested(call: CallID("m1"), task: TaskID("a"), turn: 0, role: .worker)
            ),
            ("response without request", created() + [.taskStarted(task: TaskID("a"), attempt: 1)], response("m1")),
            (
                "wrong call id", created() + [.taskStarted(task: TaskID("a"), attempt: 1)],
                .modelRequested(call: CallID("m9"), task: TaskID("a"), turn: 0, role: .worker)
            ),
            ("tool finished without request", created(), .toolFinished(call: CallID("m1.1"), result: .failure("x"))),
            ("tool in doubt never started", created(), .toolInDoubt(call: CallID("m1.1"), reason: "x")),
            (
                "check while working", created() + [.taskStarted(task: TaskID("a"), attempt: 1)],
                .checkRan(
                    task: TaskID("a"), attempt: 1, index: 0, command: "c", expectExit: 0, exitCode: 0, passed: true,
                    output: "", durationMs: 0)
            ),
            (
                "task finished without checks", created() + [.taskStarted(task: TaskID("a"), attempt: 1)],
                .taskFinished(task: TaskID("a"), attempt: 1, summary: "")
            ),
            ("run finished early", created(), .runFinished(summary: "")),
            ("pause while paused", created() + [.runPaused(reason: "x")], .runPaused(reason: "y")),
            ("event after the end", created() + [.runFailed(reason: "x")], .runResumed(by: "me")),
        ] as [(String, [Event], Event)])
    func invalidEventIsRejectedAndNothingChanges(name: String, before: [Event], bad: Event) throws {
        var log = LogBuilder()
        try log.add(before)
        let snapshot = log.state
        #expect(throws: ReplayError.self, "\(name)") { try log.add(bad) }
        #expect(log.state == snapshot, "\(name): state changed")
    }

    @Test func eventFromAnotherRunOrOutOfOrderIsRejected() throws {
        var log = LogBuilder()
        try log.add(created())
        let foreign = try EventCodec.encode(
            .runPaused(reason: "x"), run: RunID("other"), seq: 3, time: Timestamp(milliseconds: 0),
            previousHash: log.state.lastHash
        ).envelope
        var state = log.state
        #expect(throws: ReplayError.self) { try state.apply(foreign) }
        let gap = try EventCodec.encode(
            .runPaused(reason: "x"), run: log.run, seq: 5, time: Timestamp(milliseconds: 0),
            previousHash: log.state.lastHash
        ).envelope
        #expect(throws: ReplayError.self) { try state.apply(gap) }
        #expect(state == log.state)
    }

    @Test func foldIsDeterministicAndSnapshotRoundTrips() throws {
        var log = LogBuilder()
        try log.add(created())
        try log.advance()
        try log.add(response("m1", tools: [("shell", "{}")]))
        try log.advance()
        let again = try RunState.fold(log.run, log.envelopes)
        #expect(again == log.state)
        let data = try JSONEncoder().encode(log.state)
        #expect(try JSONDecoder().decode(RunState.self, from: data) == log.state)
    }
}

@Suite struct WorkCommitTests {
    @Test func aFinishedTaskInAWorktreeIsCommittedBeforeTheNextOneStarts() throws {
        var log = LogBuilder()
        try log.add(created())
        try log.add(.workspaceProvisioned(path: "/w", branch: "nightshift/r1", base: "abc"))
        try log.advance()
        try log.add(response("m1", done: true))
        try log.advance()
        try log.add(
            .checkRan(
                task: TaskID("a"), attempt: 1, index: 0, command: "c", expectExit: 0, exitCode: 0, passed: true,
                output: "", durationMs: 1))
        let d = try log.advance()
        #expect(d == .commitWork(task: TaskID("a"), message: "nightshift: task a done\n\ndid it"))
        // After a crash the commit is still owed: the decision repeats until it is recorded.
        try log.add(.runResumed(by: "test"))
        #expect(try log.advance() == d)
        try log.add(.workCommitted(task: TaskID("a"), commit: "f00d", detail: "committed"))
        guard case .callModel = try log.advance() else {
            Issue.record("the next task did not start")
            return
        }
        #expect(log.state.pending.pendingCommit == nil)
    }

    @Test func withoutAWorktreeNothingIsCommittedAndStrayEventsAreRejected() throws {
        var log = LogBuilder()
        try log.add(created())
        try log.advance()
        try log.add(response("m1", done: true))
        try log.advance()
        try log.add(
            .checkRan(
                task: TaskID("a"), attempt: 1, index: 0, command: "c", expectExit: 0, exitCode: 0, passed: true,
                output: "", durationMs: 1))
        guard case .callModel = try log.advance() else {
            Issue.record("expected the next task")
            return
        }
        #expect(throws: ReplayError.self) { try log.add(.workCommitted(task: TaskID("a"), commit: nil, detail: "x")) }
        #expect(throws: ReplayError.self) {
            try log.add(.workspaceProvisioned(path: "/elsewhere", branch: "b", base: "c"))
        }
    }
}

/// A run working in a worktree of its own may be made again elsewhere (another host's workspace
/// home); a folder worked in place never moves, and a move names where the log says the run is.
@Suite struct WorkspaceMoveTests {
    @Test func aWorktreeMovesOnItsBranchAndNothingElseDoes() throws {
        var settings = RunSettings(maxAttempts: 2)
        settings.worktreeOf = "/repo"
        var log = LogBuilder()
        try log.add(created(settings))
        // Not before it has a branch.
        #expect(throws: ReplayError.self) {
            try log.add(.workspaceMoved(path: "/b/r1", branch: "nightshift/r1", commit: "abc", from: "/w"))
        }
        try log.add(.workspaceProvisioned(path: "/w", branch: "nightshift/r1", base: "abc"))
        for bad: Event in [
            .workspaceMoved(path: "/b/r1", branch: "nightshift/r1", commit: "abc", from: "/elsewhere"),
            .workspaceMoved(path: "/b/r1", branch: "nightshift/other", commit: "abc", from: "/w"),
            .workspaceMoved(path: "/b/r1", branch: "nightshift/r1", commit: "", from: "/w"),
        ] {
            #expect(throws: ReplayError.self) { try log.add(bad) }
        }
        try log.add(.workspaceMoved(path: "/b/r1", branch: "nightshift/r1", commit: "abc", from: "/w"))
        #expect(log.state.workspace == "/b/r1" && log.state.branch == "nightshift/r1")
        // And on: the next move starts from the new path.
        try log.add(.workspaceMoved(path: "/c/r1", branch: "nightshift/r1", commit: "def", from: "/b/r1"))
        #expect(log.state.workspace == "/c/r1")
        // Made again where it was (its folder was gone).
        try log.add(.workspaceMoved(path: "/c/r1", branch: "nightshift/r1", commit: "def", from: "/c/r1"))
        #expect(log.state.workspace == "/c/r1")
    }

    @Test func aFolderWorkedInPlaceNeverMoves() throws {
        var log = LogBuilder()
        try log.add(created())
        #expect(throws: ReplayError.self) {
            try log.add(.workspaceMoved(path: "/b/r1", branch: "main", commit: "abc", from: "/w"))
        }
        #expect(log.state.workspace == "/w")
    }
}

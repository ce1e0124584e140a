import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftHands
import NightshiftHarness
import NightshiftModels
import NightshiftSQLite
import NightshiftTesting
import Testing

private let plan = Plan(
    title: "demo",
    tasks: [
        PlanTask(
            id: TaskID("make-a"), description: "create a.txt containing hello",
            checks: [Check(command: "grep -q hello a.txt")]),
        PlanTask(id: TaskID("make-b"), description: "create b.txt", checks: [Check(command: "test -f b.txt")]),
    ])

private func scenario(_ yaml: String) throws -> Scenario { try ScenarioFile.parse(yaml, file: "test.yaml") }

private let goodScenario = """
    tasks:
      make-a:
        - say: first try
          tools:
            - write_file: {path: a.txt, content: wrong}
          done: wrote it
        - tools:
            - write_file: {path: a.txt, content: hello}
          done: fixed
      make-b:
        - tools:
            - shell: {command: touch b.txt}
          done: touched
    """

@Suite struct HarnessTests {
    func harness(_ store: any EventStore, _ model: any ModelProvider, snapshotEvery: Int64 = 256) -> Harness {
        Harness(
            store: store, model: model, tools: ToolBox.standard(isolation: .none(reason: "harness tests")),
            checks: ShellCheckRunner(isolation: .none(reason: "harness tests")),
            files: LocalWorkspaceFiles(), configuration: .init(snapshotEvery: snapshotEvery))
    }

    /// REPORT.md's time is the log's, to the last step: an attempt whose last model turn takes
    /// two seconds, then ends the run by its turn limit, is reported with them (the last step's
    /// events used to be reported on before they were committed, so before they had a time).
    @Test func theReportCountsTheLastStepsTime() async throws {
        struct SlowModel: ModelProvider {
            let inner: ScriptedModel
            var label: String { inner.label }
            func respond(to request: ModelRequest) async throws -> ModelResponse {
                try await Task.sleep(for: .seconds(2))
                return try await inner.respond(to: request)
            }
        }
        let ws = tempDir()
        let store = InMemoryEventStore(now: { Timestamp(milliseconds: Int64(Date().timeIntervalSince1970 * 1000)) })
        let slow = Plan(
            title: "slow", tasks: [PlanTask(id: TaskID("t"), description: "d", checks: [Check(command: "false")])])
        let model = SlowModel(inner: ScriptedModel(scenario: try scenario("tasks:\n  t:\n    - say: thinking\n")))
        let h = harness(store, model)
        let run = RunID("slow")
        try await h.create(
            run, title: slow.title, plan: slow, workspace: ws,
            settings: RunSettings(maxAttempts: 1, maxTurnsPerAttempt: 1))
        _ = try await h.drive(run)
        let state = try await h.wake(run)
        #expect(state.tasks.first?.status == .blocked)
        let report = try String(contentsOfFile: ws + "/REPORT.md", encoding: .utf8)
        let line = try #require(report.split(separator: "\n").first { $0.hasPrefix("Total:") })
        #expect(!line.contains("0 h 0 min 0 s") && !line.contains("0 h 0 min 1 s"), "\(line)")
    }

    @Test func runsAPlanToCompletionWithReworkAfterAFailedCheck() async throws {
        let ws = tempDir()
        let store = InMemoryEventStore()
        let log = RequestLog()
        let h = harness(store, RecordingModel(inner: ScriptedModel(scenario: try scenario(goodScenario)), log: log))
        let run = RunID("r1")
        try await h.create(run, title: plan.title, plan: plan, workspace: ws, settings: RunSettings(maxAttempts: 2))
        let reason = try await h.drive(run)
        #expect(reason == .finished)
        let state = try await h.wake(run)
        #expect(state.tasks.map(\.status) == [.done, .done])
        #expect(state.tasks[0].attempts == 2)
        // The second attempt was handed the failing check's output.
        let requests = await log.requests
        #expect(requests[1].attempt == 2)
        #expect(requests[1].feedback?.contains("grep -q hello a.txt") == true)
        #expect(try String(contentsOfFile: ws + "/a.txt", encoding: .utf8) == "hello")
        let progress = try String(contentsOfFile: ws + "/PROGRESS.md", encoding: .utf8)
        #expect(progress.contains("| make-b | done |"))
        #expect(progress.contains("Task make-b done"))
        #expect(try await store.verify(run).ok)
        // The final report: an event just before run_finished, and REPORT.md; the last commit's
        // snapshot is vouched for after them.
        let kinds = try await store.readAll(run).suffix(3).map(\.event.kind)
        #expect(kinds == ["run_reported", "run_finished", "snapshot_taken"])
        let report = try String(contentsOfFile: ws + "/REPORT.md", encoding: .utf8)
        #expect(report.contains("**2 of 2 tasks done.**"))
        #expect(report.contains("| make-a | done | 2 | 2 |"), "\(report)")  // two attempts, two model turns
        #expect(report.contains("| make-b | done | 1 | 1 | 1 | 1/1 passed |"), "\(report)")
    }

    @Test func theNoteToolAppendsToTheHandoffNoteWhichLaterTurnsAndPROGRESSmdCarry() async throws {
        let ws = tempDir()
        let store = InMemoryEventStore()
        let log = RequestLog()
        let notes = try scenario(
            """
            tasks:
              make-a:
                - tools:
                    - note: {text: "the tests live in t/, run them with make check"}
                    - note: {text: "   "}
                    - note: {words: wrong}
                    - write_file: {path: a.txt, content: hello}
                  done: wrote it
              make-b:
                - tools:
                    - shell: {command: touch b.txt}
                  done: touched
            """)
        let h = harness(store, RecordingModel(inner: ScriptedModel(scenario: notes), log: log))
        let run = RunID("r1")
        try await h.create(run, title: plan.title, plan: plan, workspace: ws, settings: RunSettings())
        #expect(try await h.drive(run) == .finished)
        let requests = await log.requests
        #expect(requests[0].tools.contains { $0.name == "note" })
        // The next task's context carries the note, tagged with the task it was written in.
        #expect(requests[1].progressNote?.contains("[make-a] the tests live in t/, run them with make check") == true)
        let events = try await store.readAll(run).map(\.event)
        let added = events.compactMap { if case let .noteAdded(task, text) = $0 { (task, text) } else { nil } }
        #expect(added.count == 1 && added.first?.0 == TaskID("make-a"))
        let results = events.compactMap { if case let .toolFinished(_, r) = $0 { r } else { nil } }
        #expect(results.contains { !$0.ok && $0.output.text.contains("the text is empty") })
        #expect(results.contains { !$0.ok && $0.output.text.contains(#"{"text": "...""#) })
        let progress = try String(contentsOfFile: ws + "/PROGRESS.md", encoding: .utf8)
        #expect(progress.contains("- [make-a] the tests live in t/"))
        #expect(try await store.verify(run).ok)
    }

    @Test func aScenarioThatEndsEarlyPausesTheRunWithAClearReasonAndResumeContinues() async throws {
        let ws = tempDir()
        let store = InMemoryEventStore()
        let short = try scenario(
            "tasks:\n  make-a:\n    - tools:\n        - write_file: {path: a.txt, content: hello}\n")
        let run = RunID("r1")
        let first = harness(store, ScriptedModel(scenario: short))
        try await first.create(run, title: "t", plan: plan, workspace: ws, settings: RunSettings())
        let reason = try await first.drive(run)
        guard case let .paused(why) = reason else {
            Issue.record("expected a pause, got \(reason)")
            return
        }
        #expect(why.contains("ends after 1 turn(s) of task 'make-a'"))
        #expect(try await store.verify(run).ok)
        // With a complete scenario the run continues where it stopped.
        let full = harness(
            store,
            ScriptedModel(
                scenario: try scenario(
                    goodScenario.replacingOccurrences(
                        of:
                            "      make-a:\n        - say: first try\n          tools:\n            - write_file: {path: a.txt, content: wrong}\n          done: wrote it\n",
                        with: "      make-a:\n        - say: placeholder\n"))))
        #expect(try await full.drive(run, resumedBy: "test") == .finished)
    }

    /// `nextContext` (what `bench context` times) is exactly what the next model call is handed.
    @Test func theNextContextIsWhatTheModelGetsOnResume() async throws {
        let ws = tempDir()
        let store = InMemoryEventStore()
        let run = RunID("r1")
        let short = try scenario(
            "tasks:\n  make-a:\n    - tools:\n        - write_file: {path: a.txt, content: hello}\n")
        let first = harness(store, ScriptedModel(scenario: short))
        try await first.create(run, title: "t", plan: plan, workspace: ws, settings: RunSettings())
        _ = try await first.drive(run)
        let predicted = try #require(try await first.nextContext(run))
        let log = RequestLog()
        let full = harness(
            store,
            RecordingModel(
                inner: ScriptedModel(
                    scenario: try scenario(
                        goodScenario.replacingOccurrences(
                            of:
                                "      make-a:\n        - say: first try\n          tools:\n            - write_file: {path: a.txt, content: wrong}\n          done: wrote it\n",
                            with: "      make-a:\n        - say: placeholder\n"))), log: log))
        _ = try await full.drive(run, resumedBy: "test")
        let actual = try #require(await log.requests.first)
        #expect(predicted == actual)
        #expect(predicted.transcript.count == 2)  // the first turn's call and its result
    }

    @Test func wakingFromASnapshotGivesTheSameStateAsAFullFold() async throws {
        let store = InMemoryEventStore()
        let h = harness(store, ScriptedModel(scenario: try scenario(goodScenario)), snapshotEvery: 4)
        let run = RunID("r1")
        try await h.create(run, title: "t", plan: plan, workspace: tempDir(), settings: RunSettings(maxAttempts: 2))
        _ = try await h.drive(run)
        let snapshot = try #require(try await store.latestSnapshot(of: run))
        #expect(snapshot.seq > 4)
        let woken = try await h.wake(run)
        let folded = try RunState.fold(run, try await store.readAll(run))
        #expect(woken == folded)
    }

    @Test func aSnapshotThatDisagreesWithTheLogIsIgnored() async throws {
        let store = InMemoryEventStore()
        let run = RunID("r1")
        let h = harness(store, ScriptedModel(scenario: try scenario(goodScenario)))
        try await h.create(run, title: "t", plan: plan, workspace: tempDir(), settings: RunSettings())
        var forged = try await h.wake(run)
        forged.title = "forged"
        try await store.append(
            [.noteWritten(task: nil, text: "x")], to: run, expectedSeq: 2,
            snapshot: Snapshot(
                seq: 2,
                state: Array(
                    try JSONEncoder().encode(
                        {
                            var f = forged
                            f.lastHash = [UInt8](repeating: 7, count: 32)
                            return f
                        }()))))
        let woken = try await h.wake(run)
        #expect(woken.title == "t")
    }

    @Test func inDoubtCallIsToldToTheModelAtTheTopOfItsNextContext() async throws {
        let ws = tempDir()
        let store = InMemoryEventStore()
        let run = RunID("r1")
        let s = try scenario(
            """
            tasks:
              make-a:
                - tools:
                    - shell: {command: echo once >> effects.log}
                - tools:
                    - write_file: {path: a.txt, content: hello}
                  done: ok
              make-b:
                - tools:
                    - shell: {command: touch b.txt}
                  done: ok
            """)
        // Simulate a process that died while the shell call ran: its intent is logged, no result.
        var state = RunState(run: run)
        var events: [Event] = [
            .runCreated(title: "t", workspace: ws, model: "scripted", settings: RunSettings()), .planSet(plan: plan),
        ]
        for e in events { try state.applyUncommitted(e) }
        while case let .emit(more) = state.nextAction(
            tools: ToolCatalog(ToolBox.standard(isolation: .none(reason: "harness tests")).specs))
        {
            for e in more { try state.applyUncommitted(e) }
            events += more
        }
        events.append(
            .modelResponded(
                call: CallID("m1"), text: "",
                toolCalls: [
                    ToolCall(id: CallID("m1.1"), name: "shell", arguments: #"{"command":"echo once >> effects.log"}"#)
                ],
                claimsDone: false, summary: nil, usage: TokenUsage(), model: "scripted", costPicoUSD: nil))
        events += [
            .toolRequested(call: CallID("m1.1"), name: "shell", idempotent: false), .toolStarted(call: CallID("m1.1")),
        ]
        try await store.append(events, to: run, expectedSeq: 0)

        let log = RequestLog()
        let h = harness(store, RecordingModel(inner: ScriptedModel(scenario: s), log: log))
        #expect(try await h.drive(run, resumedBy: "test") == .finished)
        #expect(!FileManager.default.fileExists(atPath: ws + "/effects.log"))  // never re-run
        let first = try #require(await log.requests.first)
        #expect(first.notices.count == 1)
        #expect(first.notices[0].contains("m1.1"))
        #expect(first.notices[0].contains("UNKNOWN"))
        let kinds = try await store.readAll(run).map(\.event.kind)
        #expect(kinds.filter { $0 == "tool_in_doubt" }.count == 1)
        #expect(await log.requests.dropFirst().allSatisfy { $0.notices.isEmpty })
    }

    @Test func theTranscriptWindowStaysBoundedOnALongTask() async throws {
        let turns = (1...40).map { _ in "    - tools:\n        - list_files: {}\n" }.joined() + "    - done: ok\n"
        let s = try scenario("tasks:\n  only:\n" + turns)
        let log = RequestLog()
        let store = InMemoryEventStore()
        let h = Harness(
            store: store, model: RecordingModel(inner: ScriptedModel(scenario: s), log: log),
            tools: ToolBox.standard(isolation: .none(reason: "harness tests")),
            checks: ShellCheckRunner(isolation: .none(reason: "harness tests")), files: LocalWorkspaceFiles(),
            configuration: .init(transcriptWindow: 12))
        let run = RunID("r1")
        try await h.create(
            run, title: "t",
            plan: Plan(title: "t", tasks: [PlanTask(id: TaskID("only"), description: "d", checks: [])]),
            workspace: tempDir(), settings: RunSettings())
        #expect(try await h.drive(run) == .finished)
        let sizes = await log.requests.map(\.transcript.count)
        #expect(sizes.max()! <= 12)
        #expect(await log.requests.last?.turn == 40)
    }

    @Test func sqliteBackedRunSurvivesAFreshHarnessInstance() async throws {
        let db = tempDir() + "/ns.db"
        let run = RunID("r1")
        let ws = tempDir()
        do {
            let h = harness(try SQLiteEventStore(path: db), ScriptedModel(scenario: try scenario(goodScenario)))
            try await h.create(run, title: "t", plan: plan, workspace: ws, settings: RunSettings(maxAttempts: 2))
            #expect(try await h.drive(run) == .finished)
        }
        let reopened = try SQLiteEventStore(path: db)
        #expect(try await reopened.verify(run).ok)
        #expect(try await reopened.summary(of: run)?.status == .finished)
    }
}

@Suite struct FileErrorTests {
    @Test(arguments: [
        (
            "title: x\ntasks:\n  - id: a\n    description: d\n    checks:\n      - command: [unclosed\n", 7,
            "not valid YAML"
        ),
        ("title: x\ntasks:\n  - id: a\n    descripton: typo\n", 4, "unknown key 'descripton'"),
        (
            "title: x\ntasks:\n  - id: a\n    description: d\n  - id: a\n    description: e\n", 5,
            "task id 'a' is used twice"
        ),
        (
            "title: x\ntasks:\n  - id: a\n    description: d\n    checks:\n      - expect_exit: 0\n", 6,
            "has no 'command'"
        ),
        (
            "title: x\ntasks:\n  - id: a\n    description: d\n    checks:\n      - command: ls\n        expect_exit: two\n",
            7, "must be a whole number"
        ),
        ("title: x\ntasks: []\n", 2, "'tasks' is empty"),
        ("title: x\n", 1, "no 'tasks' list"),
        ("title: x\ntasks:\n  - id: a\n    description: d\n    rubric: clear names\n", 5, "must be a list"),
        (
            "title: x\ntasks:\n  - id: a\n    description: d\n    checks:\n      - command: ls\n        guard: maybe\n",
            7, "guard must be true or false"
        ),
        ("title: x\nguards:\n  - exit_code: 1\ntasks:\n  - id: a\n    description: d\n", 3, "unknown key 'exit_code'"),
        ("title: x\ninit: [a]\ntasks:\n  - id: a\n    description: d\n", 2, "init"),
    ])
    func malformedPlanNamesTheLine(yaml: String, line: Int, message: String) throws {
        let error = #expect(throws: FileError.self) { try PlanFile.parse(yaml, file: "plan.yaml") }
        #expect(error?.line == line, "\(String(describing: error))")
        #expect(error?.message.contains(message) == true, "\(String(describing: error))")
        #expect(error?.description.hasPrefix("plan.yaml:\(line)") == true)
    }

    @Test(arguments: [
        ("tasks:\n  a:\n    - say: hi\n      tool:\n        - shell: {command: ls}\n", 4, "unknown key 'tool'"),
        (
            "tasks:\n  a:\n    - tools:\n        - shell: {command: ls}\n          read_file: {path: x}\n", 4,
            "one 'tool_name: {arguments}' entry"
        ),
        ("tasks:\n  a:\n    - tools:\n        - shell: ls\n", 4, "must be a mapping"),
        ("tasks:\n  a: {\n", 3, "not valid YAML"),
        ("tasks: {}\njudge:\n  a:\n    - verdict: pass\n      handoff: {done: x, next: y}\n", 5, "unknown key 'next'"),
        ("tasks: {}\nplanner:\n  - plan: [a]\n", 3, "must be a mapping"),
        ("tasks: {}\nreviewer: {}\n", 2, "unknown key 'reviewer'"),
    ])
    func malformedScenarioNamesTheLine(yaml: String, line: Int, message: String) throws {
        let error = #expect(throws: FileError.self) { try ScenarioFile.parse(yaml, file: "s.yaml") }
        #expect(error?.line == line, "\(String(describing: error))")
        #expect(error?.message.contains(message) == true, "\(String(describing: error))")
    }

    @Test func validPlanParsesWithDefaults() throws {
        let p = try PlanFile.parse(
            "tasks:\n  - id: a\n    description: d\n    checks:\n      - ls\n      - command: false\n        expect_exit: 1\n",
            file: "/x/my-plan.yaml")
        #expect(p.title == "my-plan")
        #expect(p.tasks[0].checks == [Check(command: "ls"), Check(command: "false", expectExit: 1)])
    }

    @Test func jsonPlansWorkToo() throws {
        let p = try PlanFile.parse(
            #"{"title": "j", "tasks": [{"id": "a", "description": "d", "checks": [{"command": "true"}]}]}"#,
            file: "p.json")
        #expect(p.tasks.map(\.id) == [TaskID("a")])
    }

    @Test func scenarioToolArgumentsBecomeSortedJSON() throws {
        let s = try ScenarioFile.parse(
            "tasks:\n  a:\n    - tools:\n        - read_file: {path: x.txt, start_line: 2}\n      done: yes\n",
            file: "s.yaml")
        let turn = try #require(s.turns[TaskID("a")]?.first)
        #expect(turn.toolCalls == [ProposedToolCall(name: "read_file", arguments: #"{"path":"x.txt","start_line":2}"#)])
        #expect(turn.done == "yes")
    }
}

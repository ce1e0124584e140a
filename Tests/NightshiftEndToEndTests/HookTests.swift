import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftHands
import NightshiftHarness
import NightshiftModels
import NightshiftSQLite
import NightshiftTesting
import Testing

/// The project's hooks: when they run, what the agent sees of them, what a blocking one does, and
/// that they never decide a task.
@Suite struct HookTests {
    static let plan = Plan(
        title: "h", tasks: [PlanTask(id: TaskID("t"), description: "write a.txt", checks: [Check(command: "check")])])

    /// Two turns: write a file, then claim done.
    static let scenario = """
        tasks:
          t:
            - tools:
                - write_file: {path: a.txt, content: x}
            - done: wrote it
        """

    func drive(hooks: [Hook], checks: InMemoryCheckRunner) async throws -> (InMemoryEventStore, RequestLog, RunID) {
        let store = InMemoryEventStore()
        let log = RequestLog()
        let model = RecordingModel(
            inner: ScriptedModel(scenario: try ScenarioFile.parse(Self.scenario, file: "s.yaml")), log: log)
        let harness = Harness(
            store: store, model: model,
            tools: InMemoryToolRunner([InMemoryToolRunner.constant("write_file", traits: .writesPath)]),
            checks: checks)
        let run = RunID("h")
        try await harness.create(
            run, title: "h", plan: Self.plan, workspace: "/ws", settings: RunSettings(hooks: hooks))
        _ = try await harness.drive(run)
        return (store, log, run)
    }

    @Test func anAdvisoryHookIsToldToTheWorkerAndDecidesNothing() async throws {
        let checks = InMemoryCheckRunner([
            "check": .init(exitCode: 0), "lint": .init(exitCode: 1, output: "a.txt:1: E501 line too long\n"),
            "prep": .init(exitCode: 0),
        ])
        let (store, log, run) = try await drive(
            hooks: [Hook(on: .shiftStart, command: "prep"), Hook(on: .afterEdit, command: "lint")], checks: checks)
        let events = try await store.readAll(run).map(\.event)
        let kinds = events.map(\.kind)
        // shift_start before the first worker call; after_edit between the write's start and its result.
        let firstHook = try #require(kinds.firstIndex(of: "hook_ran"))
        #expect(firstHook < kinds.firstIndex(of: "model_requested")!, "\(kinds)")
        let started = try #require(kinds.firstIndex(of: "tool_started"))
        let finished = try #require(kinds.firstIndex(of: "tool_finished"))
        #expect(kinds[started..<finished].contains("hook_ran"), "\(kinds)")
        // Advisory: the write still succeeded; the hook's output is in the next worker context, marked as the hook's.
        #expect(events.contains { if case let .toolFinished(_, r) = $0 { r.ok } else { false } })
        let requests = await log.requests
        #expect(requests.count == 2)
        let notice = requests[1].notices.first { $0.contains("hook `lint` failed") }
        #expect(notice?.contains("E501 line too long") == true, "\(requests[1].notices)")
        #expect(!requests[0].notices.contains { $0.contains("hook") })
        // The task is decided by its check alone, and the hook ran on the path the call wrote.
        #expect(try await store.state(of: run).tasks.map(\.status) == [.done])
        #expect(checks.commands == ["prep", "lint", "check"])
    }

    @Test func aFailingBlockingHookIsTheCallsResult() async throws {
        let checks = InMemoryCheckRunner([
            "check": .init(exitCode: 0), "typecheck": .init(exitCode: 2, output: "error: x is not defined\n"),
        ])
        let (store, log, run) = try await drive(
            hooks: [Hook(on: .afterEdit, command: "typecheck", blocking: true)], checks: checks)
        let events = try await store.readAll(run).map(\.event)
        let result = events.compactMap { if case let .toolFinished(_, r) = $0 { r } else { nil } }.first
        #expect(result?.ok == false)
        #expect(result?.output.text.contains("`typecheck` failed (exit 2)") == true, "\(result?.output.text ?? "")")
        #expect(result?.output.text.contains("x is not defined") == true)
        // Not repeated as a notice: the agent already has it as the call's answer.
        #expect(!(await log.requests).contains { $0.notices.contains { $0.contains("typecheck") } })
    }

    @Test func beforeCheckHooksRunOnceAClaimIsMadeAndTheChecksStillDecide() async throws {
        let checks = InMemoryCheckRunner(["check": .init(exitCode: 0), "slow-suite": .init(exitCode: 1)])
        let (store, _, run) = try await drive(hooks: [Hook(on: .beforeCheck, command: "slow-suite")], checks: checks)
        #expect(checks.commands == ["slow-suite", "check"])
        // It failed, and the task is done all the same: a hook never decides whether a task is done.
        #expect(try await store.state(of: run).tasks.map(\.status) == [.done])
    }

    @Test func theFoldRefusesAHookOutOfPlace() throws {
        var state = RunState(run: RunID("x"))
        try state.applyUncommitted(
            .runCreated(title: "x", workspace: "/w", model: "m", settings: RunSettings(hooks: [])))
        try state.applyUncommitted(.planSet(plan: Self.plan))
        for on in Hook.When.allCases {
            #expect(
                !state.accepts(
                    .hookRan(
                        on: on, command: "c", exitCode: 0, passed: true, blocking: false, output: "", durationMs: 1)),
                "\(on)")
        }
    }

}

/// Hooks through the executable, from the project's configuration, and a kill while one runs.
@Suite struct HookRunTests {
    func project(hooks: String, scenario: String) throws -> String {
        let root = tempDir("ns-hookrun")
        try FileManager.default.createDirectory(atPath: root + "/.nightshift", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/ws", withIntermediateDirectories: true)
        try
            "model: scripted:.nightshift/scenario.yaml\ndb: .nightshift/nightshift.db\nsandbox: {unsandboxed: true}\nhooks:\n\(hooks)"
            .write(
                toFile: root + "/.nightshift/config.yaml", atomically: true, encoding: .utf8)
        try scenario.write(toFile: root + "/.nightshift/scenario.yaml", atomically: true, encoding: .utf8)
        try "title: h\ntasks:\n  - id: t\n    description: write a.txt\n    checks:\n      - grep -q good a.txt\n"
            .write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        return root
    }

    /// A blocking hook refuses the first write (its output is the call's answer); the second passes.
    @Test func aBlockingHookSendsTheAgentBackFromTheConfiguration() async throws {
        let root = try project(
            hooks:
                "  - {on: after_edit, command: 'if grep -q bad \"$1\"; then echo \"lint: bad in $1\"; exit 1; fi', blocking: true}\n",
            scenario: """
                tasks:
                  t:
                    - tools:
                        - write_file: {path: a.txt, content: bad}
                    - tools:
                        - write_file: {path: a.txt, content: good}
                    - done: fixed
                """)
        try await trustProject(root)
        let r = try await nightshift(
            ["run", "--plan", "plan.yaml", "--workspace", "ws", "--id", "b", "-q"], cwd: root)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let store = try SQLiteEventStore(path: root + "/.nightshift/nightshift.db")
        let events = try await store.readAll(RunID("b")).map(\.event)
        let results = events.compactMap { if case let .toolFinished(_, r) = $0 { r } else { nil } }
        #expect(results.map(\.ok) == [false, true])
        #expect(
            results.first?.output.text.contains("lint: bad in a.txt") == true, "\(results.first?.output.text ?? "")")
        let hooks = events.compactMap { if case let .hookRan(_, _, _, passed, _, _, _) = $0 { passed } else { nil } }
        #expect(hooks == [false, true])
    }

    /// SIGKILL while an after_edit hook runs: on resume the write is in doubt (never run again),
    /// the hook is not run again for it, and the run finishes with a log that verifies.
    @Test func aKillWhileAHookRunsIsResumed() async throws {
        let root = try project(
            hooks: "  - {on: after_edit, command: 'echo ran >> hook-runs.log; sleep 30'}\n",
            scenario: """
                tasks:
                  t:
                    - tools:
                        - write_file: {path: a.txt, content: good}
                    - done: wrote it
                """)
        try await trustProject(root)
        let child = try ChildProcess.spawn(
            [
                try nightshiftBinary(), "run", "--config", root + "/.nightshift/config.yaml", "--plan",
                root + "/plan.yaml",
                "--workspace", root + "/ws", "--id", "k", "-q",
            ],
            environment: testEnvironment, outputPath: root + "/out.log")
        let start = ContinuousClock.now
        while !FileManager.default.fileExists(atPath: root + "/ws/hook-runs.log"),
            ContinuousClock.now - start < .seconds(120)
        {
            try await Task.sleep(for: .milliseconds(20))
        }
        child.kill()  // SIGKILL, and reaped
        #expect(FileManager.default.fileExists(atPath: root + "/ws/hook-runs.log"))
        let resume = try await nightshift(["resume", "k", "-q", "--unsandboxed"], timeout: .seconds(120), cwd: root)
        #expect(resume.status == 0, "\(resume.stdout)\(resume.stderr)")
        let store = try SQLiteEventStore(path: root + "/.nightshift/nightshift.db")
        let events = try await store.readAll(RunID("k")).map(\.event)
        #expect(events.contains { if case .toolInDoubt = $0 { true } else { false } }, "\(events.map(\.kind))")
        #expect(!events.contains { if case .toolFinished = $0 { true } else { false } })
        #expect(try String(contentsOfFile: root + "/ws/hook-runs.log", encoding: .utf8) == "ran\n")
        let verify = try await store.verify(RunID("k"))
        #expect(verify.firstBadSeq == nil, "\(verify)")
    }
}

import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftHands
import NightshiftHarness
import NightshiftModels
import NightshiftTesting
import Testing

/// The planner / worker / judge loop with the scripted model (a test double), real tools and real
/// shell checks in a git repository: the scenarios of the issue that need no killed process.
@Suite struct LoopTests {

    struct Setup {
        let ws: String
        let store: InMemoryEventStore
        let run = RunID("loop")
        let log: RequestLog
        let harness: Harness
        func events() async throws -> [Event] { try await store.readAll(run).map(\.event) }
    }

    func setup(_ scenario: String, files: [String: String] = [:]) throws -> Setup {
        let ws = tempDir("ns-loop")
        try makeRepository(ws)
        for (path, text) in files {
            let url = URL(fileURLWithPath: ws + "/" + path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        if !files.isEmpty {
            _ = try git(["add", "-A"], in: ws)
            _ = try git(["commit", "-q", "-m", "fixtures"], in: ws)
        }
        let log = RequestLog()
        let store = InMemoryEventStore()
        let model = RecordingModel(
            inner: ScriptedModel(scenario: try ScenarioFile.parse(scenario, file: "s.yaml")), log: log)
        // The test's own repository, fixed before any tool runs (as `run --no-worktree` records it).
        let git = GitWorkspace(trust: .repository(RunSettings.GitLocation(gitDir: ws + "/.git", workTree: ws)))
        let harness = Harness(
            store: store, model: model, tools: ToolBox.standard(isolation: .none(reason: "loop tests"), git: git),
            checks: ShellCheckRunner(isolation: .none(reason: "loop tests")), vcs: git, files: LocalWorkspaceFiles())
        return Setup(ws: ws, store: store, log: log, harness: harness)
    }

    func start(
        _ s: Setup, plan: String, loop: LoopSettings = LoopSettings(), announce: [Event] = []
    ) async throws -> StopReason {
        let plan = try PlanFile.parse(plan, file: "plan.yaml")
        try await s.harness.create(
            s.run, title: plan.title, plan: plan, workspace: s.ws, settings: RunSettings(loop: loop))
        return try await s.harness.drive(s.run, announce: announce)
    }

    static let answerPlan = """
        title: answer
        tasks:
          - id: answer
            description: write 42 into answer.txt
            checks: ['test "$(cat answer.txt 2>/dev/null)" = 42']
        """

    /// A worker that claims done before doing anything is caught by the checks, not believed.
    @Test func anEarlyDoneClaimIsCaughtByTheChecks() async throws {
        let s = try setup(
            """
            tasks:
              answer:
                - say: This is surely done already.
                  done: nothing to do
                - tools: [{write_file: {path: answer.txt, content: "42"}}]
                  done: wrote the answer
            """)
        #expect(try await start(s, plan: Self.answerPlan) == .finished)
        let events = try await s.events()
        #expect(events.contains { if case .baselineRan(_, _, _, false, _, _) = $0 { true } else { false } })
        let failed = events.compactMap { if case let .taskAttemptFailed(_, 1, f) = $0 { f.text } else { nil } }
        #expect(failed.count == 1 && failed[0].contains("failed 1 of 1 checks"))
        #expect(events.contains(.taskFinished(task: TaskID("answer"), attempt: 2, summary: "wrote the answer")))
        #expect(!events.contains { $0.kind == "judge_verdict" }, "no rubric and a check that shows progress: no judge")
        // Every check ran before the first task started.
        let firstTask = events.firstIndex { $0.kind == "task_started" }!
        #expect(events.lastIndex { $0.kind == "baseline_ran" }! < firstTask)
    }

    /// Checks pass, but the rubric does not: the judge asks for rework with a reason, the next
    /// attempt gets that reason, and the judge passes the reworked change. The judge never sees
    /// what the worker said.
    @Test func theJudgeCatchesWhatTheChecksCannotAndTheReworkPasses() async throws {
        let s = try setup(
            """
            tasks:
              greet:
                - say: "SECRET-REASONING: a bare hello is enough, the judge will not notice."
                  tools: [{write_file: {path: greet.txt, content: "hello\\n"}}]
                  done: "WORKER-SUMMARY greeting written"
                  handoff: {learned: "WORKER-LEARNED the judge reads the diff"}
                - tools: [{write_file: {path: greet.txt, content: "hello Ada\\n"}}]
                  done: named the user
            judge:
              greet:
                - verdict: rework
                  reasons: ["the greeting does not name the user: add the name Ada"]
                - verdict: pass
            """)
        let plan = """
            title: greet
            tasks:
              - id: greet
                description: write a greeting into greet.txt
                checks: [grep -q hello greet.txt]
                rubric: [the greeting names the user, Ada]
            """
        #expect(try await start(s, plan: plan) == .finished)
        let events = try await s.events()
        let verdicts = events.compactMap { if case let .judgeVerdict(_, a, v, _) = $0 { "\(a):\(v)" } else { nil } }
        #expect(verdicts == ["1:rework", "2:pass"])
        #expect(events.contains(.taskFinished(task: TaskID("greet"), attempt: 2, summary: "named the user")))

        let judge = await s.log.requests.filter { $0.role == .judge }
        #expect(judge.count == 2)
        for r in judge {
            #expect(r.transcript.isEmpty && r.progressNote == nil && r.feedback == nil && r.notices.isEmpty)
            let p = PromptRenderer.render(r)
            let all = p.system + p.taskBlock + p.tools.map(\.name).joined()
            #expect(
                !all.contains("SECRET-REASONING") && !all.contains("WORKER-SUMMARY") && !all.contains("WORKER-LEARNED"),
                "the judge saw the worker's words")
            #expect(
                p.taskBlock.contains("the greeting names the user")
                    && p.taskBlock.contains("exit 0 (expected 0): passed"))
            #expect(p.tools.map(\.name) == ["submit_verdict"])
        }
        #expect(judge[0].artifacts?.contains("+hello") == true)
        #expect(judge[1].artifacts?.contains("+hello Ada") == true)
        // The diff was read without touching the index: the new file is still untracked, nothing is staged.
        #expect(try git(["diff", "--cached", "--name-only"], in: s.ws).isEmpty)
        #expect(try git(["status", "--porcelain", "greet.txt"], in: s.ws).hasPrefix("??"))
        // The rework reason is the next attempt's input.
        let second = await s.log.requests.first { $0.role == .worker && $0.attempt == 2 }
        #expect(second?.feedback?.contains("does not name the user") == true)
        // The judge's answer is not a worker turn: it never shows in the worker's transcript.
        let calls: [String] =
            second?.transcript.flatMap { entry -> [String] in
                if case let .assistant(_, c) = entry { return c.map(\.name) } else { return [] }
            } ?? []
        #expect(!calls.isEmpty && !calls.contains("submit_verdict"), "\(calls)")
    }

    static let guardedPlan = """
        title: guarded
        guards:
          - sh tests/legacy.sh
          - sh tests/lib.sh
        tasks:
          - id: answer
            description: write 42 into answer.txt
            checks: ['test "$(cat answer.txt 2>/dev/null)" = 42']
        """
    static let guardFiles = [
        "tests/legacy.sh": "echo 'legacy suite: 3 failures (known, unrelated)'; exit 1\n",
        "tests/lib.sh": "test -f lib.txt\n",
        "lib.txt": "library\n",
    ]

    /// A test that already failed before any work is recorded, left out of the ratchet, and does
    /// not block the task; a passing one is held to.
    @Test func aPreExistingFailureDoesNotBlock() async throws {
        let s = try setup(
            """
            tasks:
              answer:
                - tools: [{write_file: {path: answer.txt, content: "42"}}]
                  done: wrote the answer
            """, files: Self.guardFiles)
        #expect(try await start(s, plan: Self.guardedPlan) == .finished)
        let events = try await s.events()
        let baseline = events.compactMap {
            if case let .baselineRan(c, _, _, p, _, _) = $0 { "\(c)=\(p)" } else { nil }
        }
        #expect(
            baseline == [
                "sh tests/legacy.sh=false", "sh tests/lib.sh=true", #"test "$(cat answer.txt 2>/dev/null)" = 42=false"#,
            ])
        let checked = events.compactMap { if case let .checkRan(_, _, _, c, _, _, _, _, _) = $0 { c } else { nil } }
        #expect(checked == [#"test "$(cat answer.txt 2>/dev/null)" = 42"#, "sh tests/lib.sh"])
        #expect(events.contains(.taskFinished(task: TaskID("answer"), attempt: 1, summary: "wrote the answer")))
    }

    /// A change that passes the task's own check but breaks a check that passed before is not accepted.
    @Test func breakingAPreviouslyPassingCheckIsNotAccepted() async throws {
        let s = try setup(
            """
            tasks:
              answer:
                - tools:
                    - write_file: {path: answer.txt, content: "42"}
                    - shell: {command: rm lib.txt}
                  done: wrote the answer and tidied up
                - tools: [{write_file: {path: lib.txt, content: "library"}}]
                  done: restored lib.txt
            """, files: Self.guardFiles)
        #expect(try await start(s, plan: Self.guardedPlan) == .finished)
        let events = try await s.events()
        let failed = events.compactMap { if case let .taskAttemptFailed(_, 1, f) = $0 { f.text } else { nil } }
        #expect(failed.count == 1)
        #expect(
            failed.first?.contains("broke 1 check(s) that passed before") == true
                && failed.first?.contains("sh tests/lib.sh") == true)
        #expect(failed.first?.contains("failed 1 of") == false, "the task's own check passed")
        #expect(events.contains(.taskFinished(task: TaskID("answer"), attempt: 2, summary: "restored lib.txt")))
    }

    /// A later task's checks include the earlier task's: finishing task b may not undo task a.
    @Test func aFinishedTasksChecksJoinTheRatchet() async throws {
        let s = try setup(
            """
            tasks:
              a:
                - tools: [{write_file: {path: a.txt, content: "a"}}]
                  done: a
              b:
                - tools: [{shell: {command: "rm a.txt; echo b > b.txt"}}]
                  done: b, and a.txt is in the way
                - tools: [{write_file: {path: a.txt, content: "a"}}]
                  done: b, with a.txt back
            """)
        let plan = """
            title: two
            tasks:
              - {id: a, description: make a.txt, checks: [test -f a.txt]}
              - {id: b, description: make b.txt, checks: [test -f b.txt]}
            """
        #expect(try await start(s, plan: plan) == .finished)
        let events = try await s.events()
        #expect(
            events.contains {
                if case let .taskAttemptFailed(TaskID("b"), 1, f) = $0 {
                    f.text.contains("test -f a.txt")
                } else {
                    false
                }
            })
        #expect(events.contains(.taskFinished(task: TaskID("b"), attempt: 2, summary: "b, with a.txt back")))
    }

    /// A long task: its context passes the compaction threshold several times and then the reset
    /// threshold; older turns are summarised, the shift ends with a handoff, and the task completes.
    @Test func aLongTaskIsCompactedAndResetAndStillCompletes() async throws {
        var turns = ""
        for k in 1...14 { turns += "    - tools: [{shell: {command: \"seq 1000 1500; echo \(k) >> steps.log\"}}]\n" }
        turns += "    - done: all steps logged\n"
        let s = try setup("tasks:\n  long:\n" + turns)
        let plan = """
            title: long
            tasks:
              - id: long
                description: LONG-TASK-DESCRIPTION log fourteen steps into steps.log
                checks: ['test "$(wc -l < steps.log)" -eq 14']
            """
        let loop = LoopSettings(contextWindow: 4000, compactAtPercent: 60, resetAtPercent: 95, compactionsPerShift: 3)
        #expect(try await start(s, plan: plan, loop: loop) == .finished)
        let events = try await s.events()
        let compactions = events.filter { $0.kind == "context_compacted" }.count
        let resets = events.filter { if case .handoffWritten(_, .contextReset, _) = $0 { true } else { false } }.count
        #expect(compactions >= 3, "compactions: \(compactions)")
        #expect(resets >= 1, "resets: \(resets)")
        #expect(
            try String(contentsOfFile: s.ws + "/steps.log", encoding: .utf8).split(separator: "\n").count == 14,
            "every step ran once")
        // The last commit before the run stopped carried a snapshot: a later wake reads only that commit's events.
        let head = try await s.store.summary(of: s.run)?.headSeq ?? 0
        let snapshot = try #require(try await s.store.latestSnapshot(of: s.run))
        #expect(head - snapshot.seq <= 8, "snapshot at \(snapshot.seq), head \(head)")
        #expect(try await s.harness.wake(s.run) == RunState.fold(s.run, try await s.store.readAll(s.run)))
        // After a reset the worker starts from the handoff note, without the earlier turns.
        let workers = await s.log.requests.filter { $0.role == .worker }
        let afterReset = workers.first { $0.progressNote?.contains("Handoff from the previous shift") == true }
        #expect(afterReset != nil)
        #expect(afterReset?.transcript.isEmpty == true)
        #expect(
            afterReset?.artifacts?.contains("new files: steps.log") == true,
            "the new shift is told what the workspace holds")
        // Summaries went to the compactor role and replaced the turns they covered.
        let compacted = workers.first { r in
            r.transcript.contains {
                if case let .notice(t) = $0 { t.hasPrefix("Summary of the earlier turns") } else { false }
            }
        }
        #expect(compacted != nil)
        let all = await s.log.requests
        #expect(all.contains { $0.role == .compactor } && all.contains { $0.role == .handoff })
    }

    /// Rules, guidance and the task are never summarised away: after ten compactions the worker's
    /// context still holds the guidance and the task verbatim.
    @Test func afterTenCompactionsTheGuidanceAndTaskAreVerbatim() async throws {
        var turns = ""
        for k in 1...24 { turns += "    - tools: [{shell: {command: \"seq 2000 2500; echo \(k) >> steps.log\"}}]\n" }
        turns += "    - done: done\n"
        let s = try setup("tasks:\n  long:\n" + turns)
        let guidance =
            "GUIDANCE-VERBATIM: never push; never touch tests/; escalate when unsure.\nSecond line stays too."
        let description = "TASK-VERBATIM log twenty-four steps into steps.log, one per line, and nothing else."
        let plan =
            "title: long\ntasks:\n  - id: long\n    description: \(description)\n    checks: ['test -f steps.log']\n"
        let loop = LoopSettings(contextWindow: 4000, compactAtPercent: 60, resetAtPercent: 99, compactionsPerShift: 50)
        let reason = try await start(
            s, plan: plan, loop: loop,
            announce: [.guidanceSet(source: "g.md", hash: "h", text: Payload(guidance))])
        #expect(reason == .finished)
        let events = try await s.events()
        #expect(events.filter { $0.kind == "context_compacted" }.count >= 10)
        // The worker's contexts after the tenth compaction.
        let all = await s.log.requests
        let compactorCalls = all.enumerated().filter { $0.element.role == .compactor }.map(\.offset)
        #expect(compactorCalls.count >= 10)
        let later = all[(compactorCalls[9] + 1)...].filter { $0.role == .worker }
        #expect(!later.isEmpty)
        for r in later {
            let p = PromptRenderer.render(r)
            #expect(p.system.contains(guidance))
            #expect(p.taskBlock.contains(description))
        }
    }

    /// A goal: the planner's first answer is invalid (a task without checks) and is rejected with
    /// the reason; the second is the plan, written as PLAN.md; its init script runs before the baseline.
    @Test func thePlannerTurnsAGoalIntoAPlan() async throws {
        let s = try setup(
            """
            planner:
              - plan: {title: Answer, tasks: [{id: answer, description: write 42, checks: []}]}
              - plan:
                  title: Answer
                  init: echo ready > .init-ok
                  tasks:
                    - {id: answer, description: write 42 into answer.txt, checks: [{command: 'test "$(cat answer.txt)" = 42'}]}
            tasks:
              answer:
                - tools: [{write_file: {path: answer.txt, content: "42"}}]
                  done: wrote it
            """)
        try await s.harness.create(
            s.run, title: "answer", goal: "Make answer.txt hold the answer.", workspace: s.ws,
            settings: RunSettings(loop: LoopSettings()))
        #expect(try await s.harness.drive(s.run) == .finished)
        let kinds = try await s.events().map(\.kind)
        let order = [
            "goal_set", "plan_rejected", "plan_set", "init_ran", "baseline_ran", "task_started", "task_finished",
            "run_finished",
        ]
        #expect(
            order.map { kinds.firstIndex(of: $0) ?? -1 } == order.map { kinds.firstIndex(of: $0) ?? -1 }.sorted()
                && !kinds.isEmpty)
        #expect(order.allSatisfy(kinds.contains))
        let rejected = try await s.events().compactMap { if case let .planRejected(_, _, r) = $0 { r } else { nil } }
        #expect(rejected.first?.contains("task answer has no checks") == true)
        #expect(FileManager.default.fileExists(atPath: s.ws + "/.init-ok"))
        let planFile = try String(contentsOfFile: s.ws + "/PLAN.md", encoding: .utf8)
        #expect(planFile.contains("answer") && planFile.contains("Goal: Make answer.txt hold the answer."))
        // The second planner call was told why the first plan was refused.
        let planners = await s.log.requests.filter { $0.role == .planner }
        #expect(planners.count == 2 && planners[1].feedback?.contains("no checks") == true)
    }

    /// With review, the plan waits for a human; a rejection gets a new, versioned plan; an approval starts the work.
    @Test func aReviewedPlanWaitsAndARejectionMakesANewVersion() async throws {
        let s = try setup(
            """
            planner:
              - plan: {title: A, tasks: [{id: wrong, description: the wrong thing, checks: [test -f wrong.txt]}]}
              - plan: {title: A, tasks: [{id: answer, description: write 42, checks: ['test "$(cat answer.txt)" = 42']}]}
            tasks:
              answer:
                - tools: [{write_file: {path: answer.txt, content: "42"}}]
                  done: wrote it
            """)
        try await s.harness.create(
            s.run, title: "a", goal: "answer", workspace: s.ws,
            settings: RunSettings(loop: LoopSettings(reviewPlan: true)))
        guard case let .paused(why) = try await s.harness.drive(s.run) else {
            Issue.record("not paused for review")
            return
        }
        #expect(why.contains("waits for review"))
        var state = try await s.harness.wake(s.run)
        try await s.store.append(
            [.planRejected(version: 1, by: Decider(rawValue: "alice"), reason: "not that task: the answer")], to: s.run,
            expectedSeq: state.lastSeq)
        guard case .paused = try await s.harness.drive(s.run, resumedBy: "test") else {
            Issue.record("version 2 did not wait")
            return
        }
        state = try await s.harness.wake(s.run)
        #expect(state.planning.planVersion == 2 && state.plan?.tasks.map(\.id.rawValue) == ["answer"])
        let planners = await s.log.requests.filter { $0.role == .planner }
        #expect(planners.last?.feedback == "not that task: the answer")
        try await s.store.append(
            [.planApproved(version: 2, by: "alice", note: "")], to: s.run, expectedSeq: state.lastSeq)
        #expect(try await s.harness.drive(s.run, resumedBy: "test") == .finished)
        let kinds = try await s.events().map(\.kind)
        #expect(kinds.contains("plan_revised") && kinds.contains("plan_approved"))
        // An approval of a version that is not waiting is refused by the fold.
        #expect(!(try await s.harness.wake(s.run)).accepts(.planApproved(version: 1, by: "x", note: "")))
    }

    /// The judge escalates a task as mis-specified: the planner makes version 2 of the plan (an
    /// event, never a silent rewrite) and the run finishes on it; the finished task stays finished.
    @Test func aJudgeEscalationReplans() async throws {
        let s = try setup(
            """
            planner:
              - plan:
                  title: P
                  tasks:
                    - {id: first, description: make first.txt, checks: [test -f first.txt]}
                    - {id: vague, description: make it nice, checks: [test -f nice.txt], rubric: [it is nice]}
              - plan:
                  title: P
                  tasks:
                    - {id: first, description: make first.txt, checks: [test -f first.txt]}
                    - {id: concrete, description: write 'nice' into nice.txt, checks: ['grep -qx nice nice.txt']}
            tasks:
              first:
                - tools: [{write_file: {path: first.txt, content: "1"}}]
                  done: first
              vague:
                - tools: [{write_file: {path: nice.txt, content: "something"}}]
                  done: made it nice, I think
              concrete:
                - tools: [{write_file: {path: nice.txt, content: "nice"}}]
                  done: wrote nice
            judge:
              vague:
                - verdict: escalate
                  reasons: ["'nice' is not defined: the task cannot be judged"]
            """)
        try await s.harness.create(
            s.run, title: "p", goal: "make things", workspace: s.ws, settings: RunSettings(loop: LoopSettings()))
        #expect(try await s.harness.drive(s.run) == .finished)
        let events = try await s.events()
        #expect(
            events.contains {
                if case let .planRevised(2, plan, reason) = $0 {
                    plan.tasks.count == 2 && reason.contains("not defined")
                } else {
                    false
                }
            })
        #expect(events.contains { $0.kind == "escalated" })
        let state = try await s.harness.wake(s.run)
        #expect(state.tasks.map(\.status) == [.done, .done])
        #expect(state.tasks[0].attempts == 1, "the finished task was not redone")
        #expect(events.filter { if case .taskStarted(TaskID("first"), _) = $0 { true } else { false } }.count == 1)
    }

    /// A failing init script pauses the run with its output; resume runs it again.
    @Test func aFailingInitScriptPausesAndRunsAgainOnResume() async throws {
        let s = try setup("tasks:\n  a:\n    - tools: [{write_file: {path: a.txt, content: a}}]\n      done: a\n")
        let plan =
            "title: i\ninit: test -f ready.txt || { echo 'ready.txt is missing'; exit 3; }\ntasks:\n  - {id: a, description: a, checks: [test -f a.txt]}\n"
        guard case let .paused(why) = try await start(s, plan: plan) else {
            Issue.record("did not pause")
            return
        }
        #expect(why.contains("init script failed") && why.contains("ready.txt is missing"))
        try "ok".write(toFile: s.ws + "/ready.txt", atomically: true, encoding: .utf8)
        #expect(try await s.harness.drive(s.run, resumedBy: "test") == .finished)
        let inits = try await s.events().compactMap { if case let .initRan(code, _, _, _) = $0 { code } else { nil } }
        #expect(inits == [3, 0])
    }

    /// Bad judge output is recorded as an invalid verdict and the judge is asked again; after
    /// `roleRetries` a human is asked instead.
    @Test func invalidVerdictsAreRetriedThenEscalated() async throws {
        let s = try setup(
            """
            tasks:
              g:
                - tools: [{write_file: {path: g.txt, content: "g"}}]
                  done: g
            judge:
              g:
                - say: I think it is fine
                - verdict: maybe
                - verdict: rework
            """)
        let plan = "title: g\ntasks:\n  - {id: g, description: g, checks: [test -f g.txt], rubric: [good]}\n"
        guard case let .paused(why) = try await start(s, plan: plan) else {
            Issue.record("did not pause")
            return
        }
        #expect(why.contains("no valid verdict"))
        let verdicts = try await s.events().compactMap {
            if case let .judgeVerdict(_, _, v, r) = $0 { "\(v): \(r.joined())" } else { nil }
        }
        #expect(verdicts.count == 3 && verdicts.allSatisfy { $0.hasPrefix("invalid") })
        #expect(
            verdicts[0].contains("did not call submit_verdict") && verdicts[1].contains("pass, rework or escalate")
                && verdicts[2].contains("needs concrete reasons"))
    }

    /// A summary is a model call like any other: a spent budget pauses the run instead of compacting.
    @Test func compactionRespectsTheBudget() async throws {
        let s = try setup("tasks:\n  long:\n    - tools: [{shell: {command: 'seq 1 2000'}}]\n    - done: done\n")
        let plan = "title: b\ntasks:\n  - {id: long, description: d, checks: [test -f nothing]}\n"
        let policy = try PolicyFile.parse("default: allow\nbudgets:\n  run: {steps: 1}\n", file: "p.yaml")
        let reason = try await start(
            s, plan: plan, loop: LoopSettings(baseline: false, contextWindow: 3000),
            announce: [.policySet(policy: policy, source: "p.yaml", hash: "h", text: "")])
        guard case let .paused(why) = reason else {
            Issue.record("not paused: \(reason)")
            return
        }
        #expect(why.contains("budget_exhausted"))
        let events = try await s.events()
        #expect(!events.contains { if case .modelRequested(_, _, _, .compactor) = $0 { true } else { false } })
        #expect(events.contains { $0.kind == "budget_exhausted" })
    }

    /// A done claim that fails its checks never reaches the judge: the judge is asked once, for
    /// the attempt whose checks passed.
    @Test func aClaimThatFailsItsChecksNeverReachesTheJudge() async throws {
        let s = try setup(
            """
            tasks:
              greet:
                - done: surely fine
                - tools: [{write_file: {path: greet.txt, content: "hello Ada"}}]
                  done: greeted
            judge:
              greet:
                - verdict: pass
            """)
        let plan =
            "title: g\ntasks:\n  - {id: greet, description: greet Ada, checks: [grep -q hello greet.txt], rubric: [names Ada]}\n"
        #expect(try await start(s, plan: plan) == .finished)
        let judged = await s.log.requests.filter { $0.role == .judge }.map(\.attempt)
        #expect(judged == [2])
        let verdicts = try await s.events().compactMap {
            if case let .judgeVerdict(_, a, v, _) = $0 { "\(a):\(v)" } else { nil }
        }
        #expect(verdicts == ["2:pass"])
    }

    /// Below the token threshold a long shift is still summarised every `compactAfterEvents`, so
    /// the bounded read of recent events never drops a turn silently: every worker context holds
    /// every turn since the last summary.
    @Test func manySmallTurnsAreCompactedBeforeAnyFallsOutOfTheWindow() async throws {
        var turns = ""
        for k in 1...30 { turns += "    - tools: [{shell: {command: 'echo \(k) >> steps.log'}}]\n" }
        turns += "    - done: done\n"
        let s = try setup("tasks:\n  long:\n" + turns)
        let plan =
            "title: l\ntasks:\n  - {id: long, description: log 30 steps, checks: ['test $(wc -l < steps.log) -eq 30']}\n"
        #expect(
            try await start(s, plan: plan, loop: LoopSettings(contextWindow: 10_000_000, compactAfterEvents: 20))
                == .finished)
        let events = try await s.events()
        #expect(events.filter { $0.kind == "context_compacted" }.count >= 5)
        // The turns each worker context should hold: every worker answer since the shift began or the last summary.
        var expected: [Int] = [], since = 0
        for e in events {
            switch e {
            case .modelRequested(_, _, _, .worker): expected.append(since)
            default: break
            }
            if case .contextCompacted = e { since = 0 }
            if case .taskStarted(_, 1) = e { since = 0 }
            if case .modelResponded(_, _, let calls, _, _, _, _, _, _) = e, calls.first?.name == "shell" { since += 1 }
        }
        let workers = await s.log.requests.filter { $0.role == .worker }
        let held = workers.map { r in r.transcript.filter { if case .assistant = $0 { true } else { false } }.count }
        #expect(held == expected, "turns held \(held) against \(expected)")
    }
}

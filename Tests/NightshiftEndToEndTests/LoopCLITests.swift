import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftSQLite
import NightshiftTesting
import Testing

/// The loop through the `nightshift` executable: a SIGKILL during the judge's call, and a goal
/// whose plan waits for a human's review.
@Suite(.serialized) struct LoopCLITests {
    static let plan = """
        title: judged
        tasks:
          - id: greet
            description: write a greeting that names Ada into greet.txt
            checks: [grep -q hello greet.txt]
            rubric: [the greeting names Ada]
        """
    static let scenario = """
        tasks:
          greet:
            - tools:
                - shell: {command: 'echo effect >> effects.log'}
                - write_file: {path: greet.txt, content: "hello Ada"}
              done: greeted Ada
        judge:
          greet:
            - verdict: pass
        """

    /// The judge's request is in the log and the process is killed before its answer: `resume`
    /// asks the judge again and finishes, without running any of the worker's tools again.
    @Test func aKillDuringTheJudgesCallResumesWithoutRerunningTheWorkersTools() async throws {
        let root = tempDir("ns-judge-kill")
        let repo = root + "/repo", db = root + "/ns.db"
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        try makeRepository(repo)
        try Self.plan.write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        try Self.scenario.write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
        let args = [
            "run", "--plan", root + "/plan.yaml", "--workspace", repo, "--model", "scripted:\(root)/scenario.yaml",
            "--db", db, "-q",
        ]
        let store = try SQLiteEventStore(path: db)

        // A reference run shows where the judge's request falls.
        let reference = try await nightshift(args + ["--id", "ref"])
        #expect(reference.status == 0, "\(reference.stdout)\(reference.stderr)")
        let refEvents = try await store.readAll(RunID("ref"))
        guard
            let judgeSeq = refEvents.first(where: {
                if case .modelRequested(_, _, _, .judge) = $0.event { true } else { false }
            })?.seq
        else {
            Issue.record("the reference run never asked the judge: \(refEvents.map(\.event.kind))")
            return
        }

        var env = ProcessInfo.processInfo.environment
        env["NIGHTSHIFT_TEST_STOP_AFTER_SEQ"] = "\(judgeSeq)"
        let child = try ChildProcess.spawn(
            [try nightshiftBinary()] + args + ["--id", "judged"], environment: env, outputPath: root + "/out.log")
        let state = await child.wait(timeout: .seconds(60))
        child.kill()
        #expect(state == .stopped)
        let before = try await store.readAll(RunID("judged")).map(\.event)
        #expect(
            before.last.map { if case .modelRequested(_, _, _, .judge) = $0 { true } else { false } } == true,
            "\(before.map(\.kind))")

        let resumed = try await nightshift(["resume", "judged", "--db", db, "-q"])
        #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
        let events = try await store.readAll(RunID("judged")).map(\.event)
        let after = events.dropFirst(before.count)
        #expect(
            !after.contains { $0.kind == "tool_started" || $0.kind == "tool_requested" },
            "tools ran again: \(after.map(\.kind))")
        #expect(
            events.filter { $0.kind == "tool_started" }.count
                == refEvents.filter { $0.event.kind == "tool_started" }.count)
        #expect(
            events.filter { if case .modelRequested(_, _, _, .judge) = $0 { true } else { false } }.count == 1,
            "the request is re-sent, not re-recorded")
        #expect(events.filter { $0.kind == "judge_verdict" }.count == 1)
        #expect(events.last { !$0.isSnapshotVoucher }?.kind == "run_finished")
        let effects = try String(contentsOfFile: root + "/worktrees/judged/effects.log", encoding: .utf8)
        #expect(effects == "effect\n", "the worker's shell effect ran once")
        #expect(try await store.verify(RunID("judged")).ok)
    }

    /// `run --goal … --review-plan` stops with the plan for review (status 3, PLAN.md, the inbox);
    /// `deny RUN plan` gets a new version; `approve RUN plan` and `resume` run it.
    @Test func aGoalsPlanIsReviewedThroughTheCLI() async throws {
        let root = tempDir("ns-goal")
        let ws = root + "/ws", db = root + "/ns.db"
        try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
        try """
        planner:
          - plan: {title: Answer, tasks: [{id: wrong, description: not this, checks: [test -f wrong.txt]}]}
          - plan: {title: Answer, tasks: [{id: answer, description: write 42 into answer.txt, checks: ['test "$(cat answer.txt)" = 42']}]}
        tasks:
          answer:
            - tools: [{write_file: {path: answer.txt, content: "42"}}]
              done: wrote it
        """.write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
        try "Make answer.txt hold the answer.\n".write(toFile: root + "/goal.md", atomically: true, encoding: .utf8)
        let run = try await nightshift([
            "run", "--goal-file", root + "/goal.md", "--review-plan", "--workspace", ws,
            "--model", "scripted:\(root)/scenario.yaml", "--db", db, "--id", "g",
        ])
        #expect(run.status == 3, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("waits for review"))
        #expect(try String(contentsOfFile: ws + "/PLAN.md", encoding: .utf8).contains("wrong"))
        let inbox = try await nightshift(["inbox", "--db", db])
        #expect(inbox.stdout.contains("PLAN REVIEW"), "\(inbox.stdout)")
        let detail = try await nightshift(["inbox", "g", "--db", db])
        #expect(
            detail.stdout.contains("# Plan: Answer (version 1)") && detail.stdout.contains("nightshift approve g plan"),
            "\(detail.stdout)")
        // A call id that is not `plan` is refused as before; a second decision on the same version too.
        let deny = try await nightshift([
            "deny", "g", "plan", "--reason", "the task is the answer, not wrong.txt", "--db", db,
        ])
        #expect(deny.status == 0, "\(deny.stderr)")
        let again = try await nightshift(["approve", "g", "plan", "--db", db])
        #expect(again.status == 1 && again.stderr.contains("already decided"), "\(again.stderr)")
        let second = try await nightshift(["resume", "g", "--db", db, "-q"])
        #expect(second.status == 3, "\(second.stdout)\(second.stderr)")
        #expect(try String(contentsOfFile: ws + "/PLAN.md", encoding: .utf8).contains("version 2"))
        let approve = try await nightshift(["approve", "g", "plan", "--db", db, "--note", "looks right"])
        #expect(approve.status == 0, "\(approve.stderr)")
        let done = try await nightshift(["resume", "g", "--db", db])
        #expect(done.status == 0, "\(done.stdout)\(done.stderr)")
        #expect(done.stdout.contains("plan version 2 by the planner (re-planned 1 times)"))
        let status = try await nightshift(["status", "g", "--db", db])
        #expect(status.stdout.contains("loop      plan version 2 (approved); baseline 0/1 passing"), "\(status.stdout)")
        let log = try await nightshift(["log", "g", "--db", db, "--json"])
        for kind in ["goal_set", "plan_set", "plan_rejected", "plan_revised", "plan_approved", "baseline_ran"] {
            #expect(log.stdout.contains("\"kind\":\"\(kind)\""), "\(kind) missing")
        }
        // Bad goal input: an empty goal file, and --plan with --goal.
        try "  \n".write(toFile: root + "/empty.md", atomically: true, encoding: .utf8)
        let empty = try await nightshift([
            "run", "--goal-file", root + "/empty.md", "--workspace", ws, "--model", "scripted:\(root)/scenario.yaml",
            "--db", db,
        ])
        #expect(empty.status == 1 && empty.stderr.contains("is empty"), "\(empty.stderr)")
        let both = try await nightshift([
            "run", "--goal", "x", "--plan", root + "/p.yaml", "--workspace", ws, "--model", "scripted:x", "--db", db,
        ])
        #expect(
            both.status == 64 && both.stderr.contains("exactly one of --plan FILE, --goal TEXT or --goal-file FILE"),
            "\(both.stderr)")
    }

    /// The whole loop under SIGKILL at random event boundaries: a goal, the planner, the init
    /// script, the baseline, a worker whose context is compacted and reset, and a judge that asks
    /// for rework. Every kill is resumed; the run finishes with every decision made once.
    @Test func theLoopSurvivesKillsAtManyBoundaries() async throws {
        let root = tempDir("ns-loop-crash")
        let repo = root + "/repo", ws = root + "/worktrees/lc", db = root + "/ns.db", out = root + "/out.log"
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        try makeRepository(repo)
        var work = ""
        for k in 1...8 { work += "    - tools: [{shell: {command: 'echo effect-\(k) >> effects.log; seq 1 300'}}]\n" }
        work += "    - done: eight effects\n"
        // Kills land mid-call often (the call is then in doubt and never re-run): enough rework
        // turns and attempts that some effect lands even when most calls are killed.
        for r in 1...7 {
            work += "    - tools: [{shell: {command: 'echo redo-\(r) >> effects.log'}}]\n      done: reworked\n"
        }
        try """
        planner:
          - plan:
              title: effects
              init: mkdir -p build && echo ready > build/init.txt
              tasks:
                - {id: work, description: append effects, checks: [test -s effects.log], rubric: [every effect is logged]}
        judge:
          work:
            - {verdict: rework, reasons: [log one more line]}
            - {verdict: pass}
            - {verdict: pass}
            - {verdict: pass}
        tasks:
          work:
        """.appending("\n" + work).write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
        let binary = try nightshiftBinary()
        let env = ProcessInfo.processInfo.environment.filter { $0.key != "NIGHTSHIFT_TEST_STOP_AFTER_SEQ" }
        let run = [
            "run", "--goal", "log effects", "--workspace", repo, "--model", "scripted:\(root)/scenario.yaml", "--db",
            db, "--id", "lc",
            "-q", "--max-attempts", "8", "--context-window", "2000",
        ]
        let resume = ["resume", "lc", "--db", db, "-q"]
        let store = try SQLiteEventStore(path: db)
        var rng = SystemRandomNumberGenerator()
        var kills = 0, started = false, finished = false
        while !finished && kills < 80 {
            let head = started ? (try await store.summary(of: RunID("lc"))?.headSeq ?? 0) : 0
            var childEnv = env
            // Each resume records two events (run_resumed, isolation_set): aim past them. Most kills land within
            // the next few events (often before a call has run: it is then in doubt, and with this small context
            // window followed by a compaction); every fourth is aimed anywhere in a whole step (~12 events), so
            // some land after a call has finished and the run makes progress whatever the others do.
            let reach: Int64 = kills % 4 == 3 ? 14 : 4
            childEnv["NIGHTSHIFT_TEST_STOP_AFTER_SEQ"] =
                "\(head + (started ? 3 : 1) + Int64.random(in: 0...reach, using: &rng))"
            let child = try ChildProcess.spawn(
                [binary] + (started ? resume : run), environment: childEnv, outputPath: out)
            started = true
            switch await child.wait(timeout: .seconds(60)) {
            case .stopped:
                child.kill()
                kills += 1
            case .exited(0): finished = true
            case let other:
                child.kill()
                Issue.record(
                    "child ended with \(other): \(((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").suffix(800))"
                )
                return
            }
        }
        #expect(finished, "not finished after \(kills) kills")
        #expect(kills >= 15, "only \(kills) kills")
        let events = try await store.readAll(RunID("lc")).map(\.event)
        func count(_ kind: String) -> Int { events.filter { $0.kind == kind }.count }
        #expect(count("goal_set") == 1 && count("plan_set") == 1)
        #expect(events.filter { if case .initRan(_, true, _, _) = $0 { true } else { false } }.count == 1)
        #expect(count("baseline_ran") == 1, "the baseline is recorded once per check, kills or not")
        #expect(
            count("context_compacted") >= 1
                && events.contains { if case .handoffWritten(_, .contextReset, _) = $0 { true } else { false } })
        let verdicts = events.compactMap { if case let .judgeVerdict(_, _, v, _) = $0 { v } else { nil } }
        #expect(verdicts.first == .rework && verdicts.last == .pass, "\(verdicts)")
        // Every killed process but the first (`run`) was a resume; the last, successful one records no
        // run_resumed when the final kill already landed on the batch that finished the run.
        #expect(count("run_resumed") >= kills - 1)
        // No effect ran twice (an in-doubt call is never re-run), every call ended exactly once.
        let lines = (try String(contentsOfFile: ws + "/effects.log", encoding: .utf8)).split(separator: "\n").map(
            String.init)
        #expect(lines.count == Set(lines).count, "duplicated effects: \(lines.sorted())")
        var terminal: [CallID: Int] = [:]
        for e in events {
            if case let .toolFinished(c, _) = e { terminal[c, default: 0] += 1 }
            if case let .toolInDoubt(c, _) = e { terminal[c, default: 0] += 1 }
        }
        #expect(terminal.values.allSatisfy { $0 == 1 })
        #expect(try await store.verify(RunID("lc")).ok)
        #expect(FileManager.default.fileExists(atPath: ws + "/build/init.txt"))
    }

    /// A running `nightshift worker` continues a goal's run as soon as its plan is approved.
    @Test func aWorkerStartsTheWorkOnceThePlanIsApproved() async throws {
        let root = tempDir("ns-goal-worker")
        let ws = root + "/ws", db = root + "/ns.db"
        try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
        try """
        planner:
          - plan: {title: A, tasks: [{id: answer, description: write 42, checks: ['test "$(cat answer.txt)" = 42']}]}
        tasks:
          answer:
            - tools: [{write_file: {path: answer.txt, content: "42"}}]
              done: wrote it
        """.write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
        let run = try await nightshift([
            "run", "--goal", "answer", "--review-plan", "--workspace", ws, "--model", "scripted:\(root)/scenario.yaml",
            "--db", db, "--id", "gw", "-q",
        ])
        #expect(run.status == 3, "\(run.stdout)\(run.stderr)")
        let worker = try ChildProcess.spawn(
            [try nightshiftBinary(), "worker", "--db", db, "--poll-ms", "50"],
            environment: testEnvironment, outputPath: root + "/worker.log")
        defer { worker.kill() }
        // Gates, not a sleep: the worker is up and has read the queue, and the queue does not hold
        // the run, so no look of any worker can drive it before a person decides.
        #expect(await waitForLine("queue read", in: root + "/worker.log"))
        #expect(try await SQLiteEventStore(path: db).queued().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: ws + "/answer.txt"), "nothing runs before the plan is approved")
        #expect(try await nightshift(["approve", "gw", "plan", "--db", db]).status == 0)
        #expect(try await waitForFinish("gw", db: db) == .finished)
        let log = (try? String(contentsOfFile: root + "/worker.log", encoding: .utf8)) ?? ""
        #expect(log.contains("resuming gw after plan_approved"), "\(log)")
    }
}

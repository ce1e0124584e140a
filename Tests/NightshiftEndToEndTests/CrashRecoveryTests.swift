import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftSQLite
import NightshiftTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The crash contract, end to end: a real `nightshift` process is SIGKILLed at many points —
/// exact event boundaries and in the middle of a running tool — and resumed each time.
@Suite(.serialized) struct CrashRecoveryTests {
    /// 18 turns: shell effects (non-idempotent), reads (idempotent), writes, and three slow shell
    /// calls to be killed in the middle of. Slow enough that the kill lands inside the call even
    /// when the test itself is starved of CPU for seconds by the tests running beside it (with 5 s,
    /// a starved test once missed slow-3, killed the run inside slow-6, then killed the next
    /// process before it had recorded anything).
    static func scenario() -> String {
        var turns = ""
        for k in 1...18 {
            if [3, 6, 9].contains(k) {
                turns +=
                    "    - tools:\n        - shell: {command: 'echo slow-\(k)-start >> effects.log; sleep 60; echo slow-\(k)-end >> effects.log'}\n"
            } else {
                turns +=
                    "    - tools:\n        - shell: {command: 'echo effect-\(k) >> effects.log'}\n        - read_file: {path: effects.log}\n"
                if k % 4 == 0 { turns += "        - write_file: {path: 'notes/\(k).txt', content: 'note \(k)'}\n" }
            }
        }
        turns += "    - say: all effects written\n      done: done\n"
        // Rework turns: a kill can put the call a check depends on in doubt (never re-run), and
        // the scripted model cannot improvise, so each task has turns for its later attempts.
        for r in 1...3 {
            turns += "    - tools:\n        - shell: {command: 'echo redo-\(r) >> effects.log'}\n      done: redone\n"
        }
        var wrap = ""
        for r in 1...4 {
            wrap += "    - tools:\n        - write_file: {path: done.txt, content: 'ok \(r)'}\n      done: wrapped\n"
        }
        return "tasks:\n  effects:\n" + turns + "  wrap-up:\n" + wrap
    }

    static let plan = """
        title: crash test
        tasks:
          - id: effects
            description: append effects
            checks:
              - command: test -s effects.log
          - id: wrap-up
            description: write done.txt
            checks:
              - test -f done.txt
        """

    @Test func runSurvivesSIGKILLAtManyPointsWithoutDuplicatingEffects() async throws {
        let root = tempDir("ns-crash")
        // The workspace is a git repository: the run works in a worktree and commits each finished
        // task, so kills also land around that effect.
        let repo = root + "/repo", ws = root + "/worktrees/crash", db = root + "/ns.db", out = root + "/out.log"
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        try makeRepository(repo)
        // Under a policy: every call passes the gateway, and protected files are hashed before and after.
        try FileManager.default.createDirectory(atPath: repo + "/protected", withIntermediateDirectories: true)
        try "keep\n".write(toFile: repo + "/protected/keep.txt", atomically: true, encoding: .utf8)
        _ = try git(["add", "-A"], in: repo)
        _ = try git(["commit", "-q", "-m", "protected file"], in: repo)
        try
            "default: allow\nprotected:\n  paths: [\"protected/**\"]\nbudgets:\n  run: {tool_calls: 10000}\nbreakers: {repeated_call: 50}\n"
            .write(toFile: root + "/policy.yaml", atomically: true, encoding: .utf8)
        try Self.plan.write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        try Self.scenario().write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
        let binary = try nightshiftBinary()
        let env = ProcessInfo.processInfo.environment.filter { $0.key != "NIGHTSHIFT_TEST_STOP_AFTER_SEQ" }
        let run = [
            "run", "--plan", root + "/plan.yaml", "--workspace", repo, "--model", "scripted:\(root)/scenario.yaml",
            "--db", db, "--id", "crash", "--max-attempts", "4", "-q", "--policy", root + "/policy.yaml",
        ]
        let resume = ["resume", "crash", "--db", db, "-q"]
        let store = try SQLiteEventStore(path: db)
        var rng = SystemRandomNumberGenerator()
        var boundaryKills: Set<Int64> = [], midToolKills: [String] = []
        var started = false
        var finished = false
        /// Each process the test started, and the run's head when it started: a failure names the
        /// resumes that recorded no `run_resumed`, with what they did record.
        var launches: [(what: String, head: Int64)] = []
        func launch(_ what: String) async throws -> [String] {
            let head = started ? (try await store.summary(of: RunID("crash"))?.headSeq ?? 0) : 0
            launches.append((what, head))
            return [binary] + (started ? resume : run)
        }

        func effects() -> String { (try? String(contentsOfFile: ws + "/effects.log", encoding: .utf8)) ?? "" }

        /// Runs until a slow tool's start marker appears, then SIGKILLs: the kill lands mid-tool.
        func killMidTool(_ k: Int) async throws {
            let child = try ChildProcess.spawn(try await launch("mid-tool \(k)"), environment: env, outputPath: out)
            started = true
            let deadline = ContinuousClock.now + .seconds(60)
            while !effects().contains("slow-\(k)-start") {
                if case .exited = child.poll() { throw TestFailure("the run ended before slow-\(k) started") }
                if ContinuousClock.now > deadline {
                    child.kill()
                    throw TestFailure("slow-\(k) never started")
                }
                try await Task.sleep(for: .milliseconds(5))
            }
            child.kill()
            let seen = effects()
            #expect(!seen.contains("slow-\(k)-end"), "the kill meant for the middle of slow-\(k) came after it ended")
            midToolKills.append("slow-\(k)")
        }

        // First the three kills inside slow tools, then 25+ kills at random event boundaries.
        for k in [3, 6, 9] { try await killMidTool(k) }
        while !finished && boundaryKills.count < 25 {
            let head = started ? (try await store.summary(of: RunID("crash"))?.headSeq ?? 0) : 0
            let target = head + 1 + Int64.random(in: 0...3, using: &rng)
            var childEnv = env
            childEnv["NIGHTSHIFT_TEST_STOP_AFTER_SEQ"] = "\(target)"
            let child = try ChildProcess.spawn(
                try await launch("stop after \(target)"), environment: childEnv, outputPath: out)
            started = true
            switch await child.wait(timeout: .seconds(60)) {
            case .stopped:
                child.kill()
                boundaryKills.insert(target)
            case .exited(0):
                finished = true
            case let other:
                child.kill()
                let log = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
                Issue.record("child ended with \(other) at target \(target): \(log.suffix(800))")
                return
            }
        }
        #expect(boundaryKills.count >= 25, "only \(boundaryKills.count) boundary kills before the run finished")
        #expect(midToolKills.count == 3, "mid-tool kills: \(midToolKills)")

        // Resume until it finishes.
        for _ in 0..<3 where !finished {
            _ = try await launch("final")
            let r = try await nightshift(resume)
            finished = r.status == 0
        }
        #expect(finished)

        // The run completed, the chain verifies, every tool call ended exactly once.
        let summary = try #require(try await store.summary(of: RunID("crash")))
        #expect(summary.status == .finished)
        #expect(try await store.verify(RunID("crash")).ok)
        let audit = try await nightshift(["audit", "verify", "crash", "--db", db])
        #expect(audit.status == 0, "\(audit.stdout)\(audit.stderr)")
        let events = try await store.readAll(RunID("crash"))
        var requested: [CallID: Bool] = [:], terminal: [CallID: Int] = [:], decided: [CallID: Int] = [:]
        for e in events {
            switch e.event {
            case let .toolDecided(call, _, _, _): decided[call, default: 0] += 1
            case let .toolRequested(call, _, idempotent): requested[call] = idempotent
            case let .toolFinished(call, _), let .toolInDoubt(call, _): terminal[call, default: 0] += 1
            default: break
            }
        }
        #expect(!requested.isEmpty)
        for call in requested.keys {
            #expect(terminal[call] == 1, "\(call) has \(terminal[call] ?? 0) terminal events")
        }
        #expect(Set(terminal.keys) == Set(requested.keys))
        // Every call was decided by the gateway exactly once, kills or not; the ratchet ran for each task.
        #expect(
            Set(decided.keys) == Set(requested.keys) && decided.values.allSatisfy { $0 == 1 },
            "\(decided.filter { $0.value != 1 })")
        #expect(events.filter { $0.event.kind == "protected_hashed" }.count == 1)
        #expect(
            events.contains {
                if case let .protectedVerified(_, _, changed) = $0.event { changed.isEmpty } else { false }
            })
        // No side effect happened twice; the in-doubt calls were never re-run.
        let lines = effects().split(separator: "\n").map(String.init)
        #expect(lines.count == Set(lines).count, "duplicated effects: \(lines.sorted())")
        #expect(events.contains { $0.event.kind == "tool_in_doubt" })
        // Every resume records run_resumed, except a last one that finds the run already finished
        // (the final kill can land on the batch that finished it): 27 resumes after the first run's kill.
        let resumes = events.filter { $0.event.kind == "run_resumed" }
        var silent: [String] = []
        for (i, l) in launches.enumerated().dropFirst() {
            let next = i + 1 < launches.count ? launches[i + 1].head : Int64.max
            let kinds = events.filter { $0.seq > l.head && $0.seq <= next }.map(\.event.kind)
            if !kinds.contains("run_resumed") { silent.append("\(l.what) at head \(l.head): \(kinds.prefix(6))") }
        }
        #expect(resumes.count >= 27, "\(launches.count - 1) resumes; without run_resumed: \(silent)")
        // Each finished task was committed to the run's branch exactly once; the checkout is untouched.
        let subjects = try git(["log", "--format=%s", "nightshift/crash"], in: repo).split(separator: "\n")
        #expect(subjects.filter { $0 == "nightshift: task effects done" }.count == 1, "\(subjects)")
        #expect(subjects.filter { $0 == "nightshift: task wrap-up done" }.count == 1, "\(subjects)")
        #expect(!FileManager.default.fileExists(atPath: repo + "/effects.log"))
    }

    /// The worktree is made while the first model call is in flight. A kill at each of the first
    /// event boundaries (before, during and after it is made and recorded) and a resume: the run
    /// finishes, the worktree is recorded once, and the task's commit lands once on the run's branch.
    @Test func aKillWhileTheWorktreeIsBeingMadeIsResumed() async throws {
        let root = tempDir("ns-crash-wt")
        let repo = root + "/repo", db = root + "/ns.db", out = root + "/out.log"
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        try makeRepository(repo)
        try "title: wt\ntasks:\n  - id: one\n    description: write one.txt\n    checks:\n      - grep -q 1 one.txt\n"
            .write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        // Later turns for rework: a kill after the write started puts it in doubt (never re-run).
        try
            ("tasks:\n  one:\n"
            + String(
                repeating: "    - tools:\n        - write_file: {path: one.txt, content: '1'}\n      done: wrote it\n",
                count: 3))
            .write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
        let binary = try nightshiftBinary()
        let env = ProcessInfo.processInfo.environment.filter { $0.key != "NIGHTSHIFT_TEST_STOP_AFTER_SEQ" }
        let store = try SQLiteEventStore(path: db)
        for stopAfter in Int64(2)...9 {
            let id = "wt\(stopAfter)"
            var childEnv = env
            childEnv["NIGHTSHIFT_TEST_STOP_AFTER_SEQ"] = "\(stopAfter)"
            let child = try ChildProcess.spawn(
                [
                    binary, "run", "--plan", root + "/plan.yaml", "--workspace", repo, "--model",
                    "scripted:\(root)/scenario.yaml", "--db", db, "--id", id, "-q",
                    // The baseline runs checks in the worktree before any model call: without it the worktree is
                    // made while the first model call is in flight, which is what this kills around.
                    "--no-baseline",
                ],
                environment: childEnv, outputPath: out)
            let state = await child.wait(timeout: .seconds(60))
            child.kill()
            #expect(state == .stopped, "run \(id) was not stopped after seq \(stopAfter): \(state)")
            let before = try await store.readAll(RunID(id)).map(\.event)
            if stopAfter <= 5 {  // killed before the worktree was recorded as made: resume must make it
                #expect(!before.contains { $0.kind == "workspace_provisioned" }, "\(id): \(before.map(\.kind))")
            }
            let resumed = try await nightshift(["resume", id, "--db", db, "-q"])
            #expect(resumed.status == 0, "\(id): \(resumed.stdout)\(resumed.stderr)")
            let events = try await store.readAll(RunID(id)).map(\.event)
            #expect(
                events.filter { $0.kind == "workspace_provisioned" }.count == 1,
                "\(id): \(events.map(\.kind)) (before the kill: \(before.map(\.kind)))")
            let worktree = root + "/worktrees/\(id)"
            #expect((try? String(contentsOfFile: worktree + "/one.txt", encoding: .utf8)) == "1", "\(id)")
            let subjects = try git(["log", "--format=%s", "nightshift/\(id)"], in: repo).split(separator: "\n")
            #expect(subjects == ["nightshift: task one done", "initial"], "\(id): \(subjects)")
            #expect(try await store.verify(RunID(id)).ok)
        }
        // The user's checkout was never touched.
        #expect(!FileManager.default.fileExists(atPath: repo + "/one.txt"))
    }
}

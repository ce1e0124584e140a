import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftSQLite
import NightshiftTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Bad input through the real executable: one clear line, a non-zero exit, and a log left intact.
@Suite struct CLITests {
    static let plan = """
        title: cli
        tasks:
          - id: one
            description: write one.txt
            checks:
              - test -f one.txt
          - id: two
            description: write two.txt
            checks:
              - test -f two.txt
        """
    static let scenario = """
        tasks:
          one:
            - tools:
                - write_file: {path: one.txt, content: "1"}
              done: wrote one
          two:
            - tools:
                - write_file: {path: two.txt, content: "2"}
              done: wrote two
        """

    struct Setup {
        var root: String
        var ws: String { root + "/ws" }
        var db: String { root + "/ns.db" }
        var plan: String { root + "/plan.yaml" }
        var scenario: String { root + "/scenario.yaml" }
        func run(_ extra: [String] = [], plan: String? = nil, model: String? = nil) async throws -> CLIResult {
            try await nightshift(
                [
                    "run", "--plan", plan ?? self.plan, "--workspace", ws, "--model", model ?? "scripted:\(scenario)",
                    "--db", db,
                ] + extra)
        }
    }

    func setup(plan: String = CLITests.plan, scenario: String = CLITests.scenario) throws -> Setup {
        let s = Setup(root: tempDir("ns-cli"))
        try FileManager.default.createDirectory(atPath: s.ws, withIntermediateDirectories: true)
        try plan.write(toFile: s.plan, atomically: true, encoding: .utf8)
        try scenario.write(toFile: s.scenario, atomically: true, encoding: .utf8)
        return s
    }

    @Test func aGoodRunFinishesAndCanBeInspected() async throws {
        let s = try setup()
        let r = try await s.run(["--id", "good"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("run good finished"))
        #expect(r.stdout.contains("# Report: cli") && r.stdout.contains("| one | done | 1 |"), "\(r.stdout)")
        let status = try await nightshift(["status", "good", "--db", s.db])
        #expect(status.stdout.contains("scripted test double"))
        #expect(status.stdout.contains("one"))
        let list = try await nightshift(["status", "--db", s.db])
        #expect(list.stdout.contains("good") && list.stdout.contains("finished"))
        let log = try await nightshift(["log", "good", "--db", s.db, "--json"])
        let lines = log.stdout.split(separator: "\n")
        #expect(
            lines.count == (try await SQLiteEventStore(path: s.db).summary(of: RunID("good"))?.headSeq).map(Int.init))
        #expect(lines.allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil })
        let follow = try await nightshift(["log", "good", "--db", s.db, "--follow"], timeout: .seconds(20))
        #expect(follow.stdout.contains("run finished"))
        #expect(try await nightshift(["audit", "verify", "--all", "--db", s.db]).status == 0)
        let again = try await nightshift(["resume", "good", "--db", s.db])
        #expect(again.status == 0)
        #expect(again.stdout.contains("nothing to resume"))
    }

    /// An attempt ended by its turn limit is named as such in the timeline, not as failed checks.
    @Test func theTimelineNamesATurnLimit() async throws {
        let s = try setup(scenario: "tasks:\n  one:\n    - say: only talk\n  two:\n    - say: only talk\n")
        let r = try await s.run(["--max-turns", "1", "--max-attempts", "1", "--unsandboxed", "--no-baseline"])
        #expect(
            r.stdout.contains("attempt 1 not accepted: it used its model turns without a done claim"), "\(r.stdout)")
        #expect(!r.stdout.contains("checks failed"), "\(r.stdout)")
    }

    /// A worker's log format and level are checked when the command is parsed, in one line.
    @Test func aWorkersLogFormatAndLevelAreChecked() async throws {
        for (args, text) in [
            (["--log-format", "xml"], "--log-format must be text or json"),
            (["--log-level", "loud"], "--log-level must be trace, debug, info"),
        ] {
            let r = try await nightshift(["worker", "--once", "--db", "/nonexistent/ns.db"] + args)
            #expect(r.status == 64, "\(r.stdout)\(r.stderr)")
            #expect(r.stderr.contains(text) && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        }
    }

    /// With --log-format json every line the worker writes is one JSON object, its first line too.
    @Test func aJSONLogIsJSONThroughout() async throws {
        let dir = tempDir("ns-jsonlog")
        _ = try SQLiteEventStore(path: dir + "/ns.db")
        let r = try await nightshift(["worker", "--once", "--db", dir + "/ns.db", "--log-format", "json"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(!lines.isEmpty)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String]
            #expect(object?["level"] != nil && object?["message"] != nil, "\(line)")
        }
        #expect(lines.first?.contains("watching") == true)
    }

    /// A window no model has is refused in one line before anything is made.
    @Test func aWindowOutOfRangeIsRefused() async throws {
        let s = try setup()
        for window in ["1000", "5000000000"] {
            let r = try await s.run(["--context-window", window])
            #expect(
                r.status == 64 && r.stderr.contains("--context-window must be 2000 … 1000000000 tokens"), "\(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1)
        }
        #expect(!FileManager.default.fileExists(atPath: s.db))
    }

    @Test func malformedPlanSaysWhereAndCreatesNothing() async throws {
        let s = try setup(plan: "title: x\ntasks:\n  - id: one\n    descripton: typo\n")
        let r = try await s.run()
        #expect(r.status == 1)
        #expect(r.stderr.contains("plan.yaml:4:"))
        #expect(r.stderr.contains("unknown key 'descripton'"))
        #expect(r.stderr.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: s.db))
    }

    @Test func malformedScenarioSaysWhere() async throws {
        let s = try setup(scenario: "tasks:\n  one:\n    - tool:\n        - shell: {command: ls}\n")
        let r = try await s.run()
        #expect(r.status == 1)
        #expect(r.stderr.contains("scenario.yaml:3:"))
        #expect(r.stderr.contains("unknown key 'tool'"))
    }

    @Test func missingFilesAndUnknownModelsAreNamed() async throws {
        let s = try setup()
        let noPlan = try await s.run(plan: s.root + "/nope.yaml")
        #expect(noPlan.status == 1)
        #expect(noPlan.stderr.contains("nope.yaml: cannot read the plan file: no such file"))
        let badModel = try await s.run(model: "gpt-9")
        #expect(badModel.status == 1)
        #expect(badModel.stderr.contains("unknown model 'gpt-9'"))
    }

    @Test func unknownRunIdIsReported() async throws {
        let s = try setup()
        _ = try await s.run(["--id", "real"])
        for args in [["resume", "nope"], ["status", "nope"], ["log", "nope"], ["audit", "verify", "nope"]] {
            let r = try await nightshift(args + ["--db", s.db])
            #expect(r.status == 1, "\(args)")
            #expect(r.stderr.contains("no run nope"), "\(args): \(r.stderr)")
        }
        #expect(try await nightshift(["audit", "verify", "real", "--db", s.db]).status == 0)
    }

    @Test func missingWorkspaceIsReported() async throws {
        let s = try setup()
        let r = try await nightshift([
            "run", "--plan", s.plan, "--workspace", s.root + "/missing", "--model", "scripted:\(s.scenario)", "--db",
            s.db,
        ])
        #expect(r.status == 1)
        #expect(r.stderr.contains("the workspace \(s.root)/missing does not exist"))
    }

    @Test func scenarioEndingBeforeThePlanPausesAndLeavesAVerifiableLog() async throws {
        let s = try setup(
            scenario:
                "tasks:\n  one:\n    - tools:\n        - write_file: {path: one.txt, content: x}\n      done: ok\n")
        let r = try await s.run(["--id", "short"])
        #expect(r.status == 3, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("paused"))
        #expect(r.stdout.contains("has no turns for task 'two'"))
        #expect(r.stdout.contains("nightshift resume short"))
        #expect(try await nightshift(["audit", "verify", "short", "--db", s.db]).status == 0)
        // Fix the scenario and resume: the run finishes.
        try Self.scenario.write(toFile: s.scenario, atomically: true, encoding: .utf8)
        let resumed = try await nightshift(["resume", "short", "--db", s.db])
        #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
    }

    @Test func databaseLockedByAnotherWriterIsReported() async throws {
        let s = try setup()
        _ = try await s.run(["--id", "first"])
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        holder.arguments = [
            "python3", "-c",
            "import sqlite3,sys,time\nc=sqlite3.connect(sys.argv[1],isolation_level=None)\nc.execute('BEGIN IMMEDIATE')\nprint('locked',flush=True)\ntime.sleep(10)",
            s.db,
        ]
        let pipe = Pipe()
        holder.standardOutput = pipe
        try holder.run()
        defer { holder.terminate() }
        #expect(await readUntil(pipe, contains: "locked").contains("locked"))
        let r = try await s.run(["--id", "second", "--lock-timeout", "1"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("is locked by another process"))
        holder.terminate()
        await holder.exit()
        #expect(try await nightshift(["audit", "verify", "--all", "--db", s.db]).status == 0)
    }

    /// Root ignores file permissions, so the read-only case runs the CLI as an unprivileged user.
    @Test func readOnlyDatabaseIsReported() async throws {
        let s = try setup()
        _ = try await s.run(["--id", "ro"])
        chmod(s.db, 0o444)
        chmod(s.root, 0o755)
        let asUser: UInt32? = getuid() == 0 ? 65534 : nil
        if asUser != nil {
            try #require(
                FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "setpriv (util-linux) is needed")
        }
        let r = try await nightshift(
            ["run", "--plan", s.plan, "--workspace", s.ws, "--model", "scripted:\(s.scenario)", "--db", s.db],
            asUser: asUser)
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("read-only"), "\(r.stderr)")
        chmod(s.db, 0o644)
        #expect(try await nightshift(["audit", "verify", "ro", "--db", s.db]).status == 0)
    }

    @Test func tamperedDatabaseFailsAuditWithTheSeq() async throws {
        let s = try setup()
        _ = try await s.run(["--id", "t"])
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // Edit the first event that mentions one.txt, as someone with write access to the file could.
        p.arguments = [
            "python3", "-c",
            """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1])
            seq = c.execute("SELECT MIN(seq) FROM event WHERE CAST(body AS TEXT) LIKE '%one.txt%'").fetchone()[0]
            c.execute("UPDATE event SET body=CAST(REPLACE(CAST(body AS TEXT),'one.txt','0ne.txt') AS BLOB) WHERE seq=?", (seq,))
            c.commit()
            open(sys.argv[2], 'w').write(str(seq))
            """, s.db, s.root + "/seq",
        ]
        try p.run()
        await p.exit()
        let seq = try String(contentsOfFile: s.root + "/seq", encoding: .utf8)
        let r = try await nightshift(["audit", "verify", "t", "--db", s.db])
        #expect(r.status == 2)
        #expect(r.stdout.contains("BROKEN at event \(seq)"), "\(r.stdout)")
    }

    @Test func demoRunsOfflineAndSurvivesAKill() async throws {
        let root = tempDir("ns-demo")
        let demo = try await nightshift(["demo", "--db", root + "/ns.db", "--dir", root + "/d1"])
        #expect(demo.status == 0, "\(demo.stdout)\(demo.stderr)")
        #expect(demo.stdout.contains("run finished: 3 of 3 tasks done"))
        #expect(demo.stdout.contains("attempt 1 not accepted"))
        #expect(demo.stdout.contains("nightshift audit verify"))
        let killed = try await nightshift([
            "demo", "--db", root + "/ns.db", "--dir", root + "/d2", "--kill-after", "18",
        ])
        #expect(killed.status != 0)
        let id = try #require(
            killed.stdout.split(separator: "\n").first { $0.hasPrefix("run id: ") }?.split(separator: " ")[2])
        let resumed = try await nightshift(["resume", String(id), "--db", root + "/ns.db"])
        #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
        #expect(resumed.stdout.contains("run resumed"))
        // The kill left the fix's write in doubt: it is not re-run; the worker writes it again.
        #expect(
            resumed.stdout.contains("IN DOUBT") && resumed.stdout.contains("rewritten after the crash"),
            "\(resumed.stdout)")
        #expect(try await nightshift(["audit", "verify", "--all", "--db", root + "/ns.db"]).status == 0)
    }

    @Test func helpTeaches() async throws {
        let top = try await nightshift(["--help"])
        #expect(top.stdout.contains("nightshift demo"))
        let run = try await nightshift(["run", "--help"])
        #expect(run.stdout.contains("expect_exit"))
        #expect(run.stdout.contains("nightshift resume RUN"))
        let bad = try await nightshift(["run", "--max-attempts", "0", "--plan", "x", "--model", "scripted:x"])
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("--max-attempts must be at least 1"))
    }
}

extension CLITests {
    @Test func inspectingAMissingDatabaseDoesNotCreateOne() async throws {
        let root = tempDir("ns-nodb")
        for args in [["status"], ["log", "x"], ["resume", "x"], ["audit", "verify", "--all"]] {
            let r = try await nightshift(args + ["--db", root + "/none.db"])
            #expect(r.status == 1, "\(args)")
            #expect(r.stderr.contains("no database at \(root)/none.db"), "\(args): \(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: root + "/none.db"))
    }
}

extension CLITests {
    @Test func withoutBubblewrapToolCommandsAreRefusedUnlessUnsandboxedWhichIsRecorded() async throws {
        let s = try setup()
        let sandboxedRun = try await s.run(["--id", "nobw"])
        #expect(sandboxedRun.status == 0, "\(sandboxedRun.stdout)\(sandboxedRun.stderr)")
        let noBwrap = try await nightshift(
            [
                "run", "--plan", s.plan, "--workspace", s.ws, "--model", "scripted:\(s.scenario)", "--db", s.db, "--id",
                "x",
            ],
            env: ["NIGHTSHIFT_BWRAP": "/nonexistent/bwrap"])
        #expect(noBwrap.status == 1)
        #expect(
            noBwrap.stderr.contains("cannot sandbox tool commands: bubblewrap is not installed at /nonexistent/bwrap"))
        #expect(noBwrap.stderr.contains("--unsandboxed"))
        let allowed = try await nightshift(
            [
                "run", "--plan", s.plan, "--workspace", s.ws, "--model", "scripted:\(s.scenario)", "--db", s.db,
                // The first run already did the work here: without a baseline its checks count as evidence (no judge needed).
                "--id", "y", "--unsandboxed", "--no-baseline",
            ], env: ["NIGHTSHIFT_BWRAP": "/nonexistent/bwrap"])
        #expect(allowed.status == 0, "\(allowed.stdout)\(allowed.stderr)")
        #expect(allowed.stdout.contains("UNSANDBOXED: unsandboxed by --unsandboxed"), "\(allowed.stdout)")
        let log = try await nightshift(["log", "y", "--db", s.db, "--json"])
        #expect(log.stdout.contains(#""kind":"isolation_set""#))
        #expect(log.stdout.contains("UNSANDBOXED"))
        // A sandboxed run records bubblewrap.
        let sandboxed = try await nightshift(["log", "nobw", "--db", s.db])
        #expect(
            sandboxed.stdout.contains("commands run in bubblewrap (/usr/bin/bwrap); uid 1000, no capabilities"),
            "\(sandboxed.stdout)")
        #expect(sandboxed.stdout.contains("network off"), "\(sandboxed.stdout)")
    }
}

/// Runs the host's git for a test's set-up and checks. Its output goes to a file, not a pipe: a
/// pipe's reader waits for every copy of the write end to close, and a process another test starts
/// at that moment could hold one (a full run once hung for good in this read).
extension CLITests {
    @Test func aGitWorkspaceGetsItsOwnWorktreeAndACommitPerTask() async throws {
        let s = try setup()
        try makeRepository(s.ws)
        let r = try await s.run(["--id", "g1"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let worktree = s.root + "/worktrees/g1"
        #expect(r.stdout.contains("git worktree \(worktree) on branch nightshift/g1"))
        #expect(FileManager.default.fileExists(atPath: worktree + "/one.txt"))
        #expect(FileManager.default.fileExists(atPath: worktree + "/two.txt"))
        // The user's checkout is untouched, and still on its own branch.
        #expect(!FileManager.default.fileExists(atPath: s.ws + "/one.txt"))
        #expect(
            try git(["rev-parse", "--abbrev-ref", "HEAD"], in: s.ws).trimmingCharacters(in: .whitespacesAndNewlines)
                == "main")
        let subjects = try git(["log", "--format=%s", "nightshift/g1"], in: s.ws).split(separator: "\n")
        #expect(subjects == ["nightshift: task two done", "nightshift: task one done", "initial"])
        // A finished run whose worktree is gone: resume says it is finished and touches nothing
        // (a missing worktree of a run that is not finished: resumingARunWhoseWorktreeVanished…).
        _ = try git(["worktree", "remove", "--force", worktree], in: s.ws)
        let resumed = try await nightshift(["resume", "g1", "--db", s.db])
        #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
        #expect(resumed.stdout.contains("already finished"), "\(resumed.stdout)")
        #expect(!FileManager.default.fileExists(atPath: worktree))
        // --no-worktree works in place.
        let inPlace = try await s.run(["--id", "g2", "--no-worktree"])
        #expect(inPlace.status == 0)
        #expect(FileManager.default.fileExists(atPath: s.ws + "/one.txt"))
    }

    /// A worktree whose folder is gone is made again from the run's branch (the work committed so
    /// far), and the log says so; a folder worked in place that is gone is refused, saying why.
    @Test func resumingARunWhoseWorktreeVanishedMakesItAgainFromItsBranch() async throws {
        let s = try setup(
            scenario:
                "tasks:\n  one:\n    - tools:\n        - write_file: {path: one.txt, content: x}\n      done: ok\n")
        try makeRepository(s.ws)
        let r = try await s.run(["--id", "g3"])
        #expect(r.status == 3)  // the scenario ends before task two: paused
        _ = try git(["worktree", "remove", "--force", s.root + "/worktrees/g3"], in: s.ws)
        let resumed = try await nightshift(["resume", "g3", "--db", s.db])
        #expect(resumed.status == 3, "\(resumed.stdout)\(resumed.stderr)")  // made again; the scenario still ends
        #expect(
            resumed.stdout.contains("workspace made again: git worktree \(s.root)/worktrees/g3"), "\(resumed.stdout)")
        #expect(FileManager.default.fileExists(atPath: s.root + "/worktrees/g3/one.txt"))  // task one's commit
        // In place, nothing can be made again: the folder is the run's only copy.
        let inPlace = tempDir("ns-gone")
        try FileManager.default.createDirectory(atPath: inPlace, withIntermediateDirectories: true)
        let r2 = try await nightshift([
            "run", "--id", "g4", "--plan", s.root + "/plan.yaml", "--workspace", inPlace, "--db", s.db, "--model",
            "scripted:\(s.root)/scenario.yaml",
        ])
        #expect(r2.status == 3, "\(r2.stdout)\(r2.stderr)")
        try FileManager.default.removeItem(atPath: inPlace)
        let gone = try await nightshift(["resume", "g4", "--db", s.db])
        #expect(gone.status == 1)
        #expect(gone.stderr.contains("the run's workspace \(inPlace) is missing"), "\(gone.stderr)")
        #expect(gone.stderr.contains("continues only where the folder is"), "\(gone.stderr)")
    }
}

@Suite struct GitToolTests {
    let tools = ToolBox.standard(isolation: .none(reason: "git tool runs host git"))
    func call(_ args: String) -> ToolCall { ToolCall(id: CallID("m1.1"), name: "git", arguments: Payload(args)) }

    @Test func statusDiffLogAndCommitOnTheRunsBranchOnly() async throws {
        let root = tempDir("ns-git")
        let repo = root + "/repo"
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        try makeRepository(repo)
        // On the user's own branch (a --no-worktree run): reading is fine, committing is refused.
        try "change\n".write(toFile: repo + "/README.md", atomically: true, encoding: .utf8)
        let inPlace = ToolBox.standard(
            isolation: .none(reason: "git tool runs host git"),
            git: GitWorkspace(trust: .repository(.init(gitDir: repo + "/.git", workTree: repo))))
        let refused = await inPlace.run(call(#"{"command":"commit","message":"sneaky"}"#), workspace: repo)
        #expect(!refused.ok)
        #expect(refused.output.text.contains("only to the run's own nightshift/ branch"))
        // In the run's worktree everything works.
        let wt = try await GitWorkspace.provision(
            repository: repo, run: RunID("r9"), worktreesRoot: root + "/worktrees")
        try "new\n".write(toFile: wt.path + "/new.txt", atomically: true, encoding: .utf8)
        let status = await tools.run(call(#"{"command":"status"}"#), workspace: wt.path)
        #expect(status.output.text.contains("nightshift/r9"))
        #expect(status.output.text.contains("new.txt"))
        let commit = await tools.run(call(#"{"command":"commit","message":"add new.txt"}"#), workspace: wt.path)
        #expect(commit.ok, "\(commit.output.text)")
        let log = await tools.run(call(#"{"command":"log"}"#), workspace: wt.path)
        #expect(log.output.text.contains("add new.txt"))
        let again = await tools.run(call(#"{"command":"commit","message":"nothing"}"#), workspace: wt.path)
        #expect(!again.ok)
        #expect(again.output.text.contains("nothing to commit"))
        let push = await tools.run(call(#"{"command":"push"}"#), workspace: wt.path)
        #expect(!push.ok)
        #expect(push.output.text.contains("unknown command 'push'"))
        // Reattaching finds the same worktree; a second run gets its own.
        #expect(
            try await GitWorkspace.provision(repository: repo, run: RunID("r9"), worktreesRoot: root + "/worktrees")
                .path == wt.path)
        let other = try await GitWorkspace.provision(
            repository: repo, run: RunID("r10"), worktreesRoot: root + "/worktrees")
        #expect(other.path != wt.path)
        #expect(!FileManager.default.fileExists(atPath: other.path + "/new.txt"))
    }
}

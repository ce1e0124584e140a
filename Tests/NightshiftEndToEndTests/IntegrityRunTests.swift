import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftSQLite
import NightshiftTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The integrity review, through the executable: a person's decision on a log that went back (a
/// backup restored while the run waited) or was rewritten from a forged point; a worker taking
/// over a sub-agent whose holder died; a merge killed after it moved the branch; a lost sub-agent;
/// a model asking for an `Int64.max` budget; a CRLF configuration; an edited memory log.
@Suite struct IntegrityRunTests {
    /// A run that asks before each shell command containing "ask", with its effects in effects.txt.
    struct Waiting {
        let root = tempDir("ns-integrity")
        var db: String { root + "/ns.db" }
        var ws: String { root + "/ws" }

        init() throws {
            try FileManager.default.createDirectory(atPath: root + "/ws", withIntermediateDirectories: true)
            try "title: t\ntasks:\n  - id: t\n    description: d\n    checks: ['test -f done.txt']\n".write(
                toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
            try "default: allow\nrules:\n  - ask: shell\n    command: \"*ask*\"\n".write(
                toFile: root + "/policy.yaml", atomically: true, encoding: .utf8)
            try """
            tasks:
              t:
                - tools:
                    - shell: {command: "echo one >> ../effects.txt # ask"}
                - tools:
                    - shell: {command: "echo two >> ../effects.txt"}
                - tools:
                    - shell: {command: "echo three >> ../effects.txt # ask"}
                - tools:
                    - shell: {command: "touch done.txt"}
                  done: finished
            """.write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
        }

        var db_: [String] { ["--db", db] }

        func start() async throws -> CLIResult {
            try await nightshift(
                [
                    "run", "--plan", root + "/plan.yaml", "--workspace", ws, "--model",
                    "scripted:\(root)/scenario.yaml",
                    "--policy", root + "/policy.yaml", "--id", "w", "-q", "--unsandboxed", "--no-baseline",
                ] + db_)
        }

        func head() async throws -> Int64? { try await SQLiteEventStore(path: db).summary(of: RunID("w"))?.headSeq }

        func effects() -> [String] {
            ((try? String(contentsOfFile: root + "/effects.txt", encoding: .utf8)) ?? "").split(separator: "\n")
                .map(String.init)
        }

        /// The database's files as they are now (no process has it open).
        func backup() throws {
            for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: db + suffix) {
                try FileManager.default.copyItem(atPath: db + suffix, toPath: root + "/backup" + suffix)
            }
        }

        func restore() throws {
            for suffix in ["", "-wal", "-shm"] {
                try? FileManager.default.removeItem(atPath: db + suffix)
                if FileManager.default.fileExists(atPath: root + "/backup" + suffix) {
                    try FileManager.default.copyItem(atPath: root + "/backup" + suffix, toPath: db + suffix)
                }
            }
        }
    }

    static let decisions: [[String]] = [
        ["approve", "w", "m1.1"], ["deny", "w", "m1.1", "--reason", "no"], ["answer", "w", "go on"],
        ["budget", "w", "--cost", "5"], ["approve", "w", "plan"], ["deny", "w", "plan", "--reason", "redo it"],
        ["cancel", "w", "--reason", "stop"],
    ]

    /// A backup taken while the run waited is restored after it went on: every decision is
    /// refused in one line and changes nothing, `resume` too, so the lost work is not done again;
    /// `resume --accept-rollback` records the loss, and the run goes on from there.
    @Test func aDecisionOnALogThatWentBackIsRefusedAndChangesNothing() async throws {
        let w = try Waiting()
        #expect(try await w.start().status == 3)
        try w.backup()
        #expect(try await nightshift(["approve", "w", "m1.1"] + w.db_).status == 0)
        #expect(try await nightshift(["resume", "w", "-q", "--unsandboxed"] + w.db_).status == 3)
        #expect(w.effects() == ["one", "two"])
        try w.restore()
        let restored = try #require(try await w.head())
        for args in Self.decisions {
            let r = try await nightshift(args + w.db_)
            #expect(r.status == 1, "\(args): \(r.stdout)\(r.stderr)")
            #expect(
                r.stderr.contains("were lost") && r.stderr.contains("--accept-rollback")
                    && r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
        }
        let resumed = try await nightshift(["resume", "w", "-q", "--unsandboxed"] + w.db_)
        #expect(resumed.status == 1 && resumed.stderr.contains("were lost"), "\(resumed.stderr)")
        #expect(try await w.head() == restored, "nothing was appended")
        #expect(w.effects() == ["one", "two"], "nothing was done again")
        let audit = try await nightshift(["audit", "verify", "w"] + w.db_)
        #expect(audit.status == 2 && audit.stdout.contains("ROLLED BACK") && !audit.stdout.contains(": ok"))
        let status = try await nightshift(["status", "w"] + w.db_)
        #expect(status.status == 2 && status.stdout.contains("ROLLED BACK"), "\(status.stdout)")
        // A person accepts the loss: recorded, and the run goes on from the older log.
        let accepted = try await nightshift(["resume", "w", "-q", "--unsandboxed", "--accept-rollback"] + w.db_)
        #expect(accepted.status == 3, "\(accepted.stdout)\(accepted.stderr)")
        let events = try await SQLiteEventStore(path: w.db).readAll(RunID("w")).map(\.event)
        #expect(events.contains { if case .rollbackAccepted = $0 { true } else { false } })
        #expect(try await nightshift(["approve", "w", "m1.1"] + w.db_).status == 0)
        #expect(try await nightshift(["audit", "verify", "w"] + w.db_).status == 0)
    }

    /// A forger rewrites the chain from its first event (the run's workspace moved elsewhere) and
    /// recomputes every hash, so the chain verifies; the head witness beside the database does
    /// not match, and a decision is refused.
    @Test func aDecisionOnARewrittenChainIsRefused() async throws {
        let w = try Waiting()
        #expect(try await w.start().status == 3)
        let elsewhere = tempDir("ns-forged-ws")
        let forge = """
            import hashlib, sqlite3, sys
            c = sqlite3.connect(sys.argv[1])
            prev = bytes(32)
            for seq, body in c.execute("SELECT seq, body FROM event WHERE run='w' ORDER BY seq").fetchall():
                b = bytes(body)
                if seq == 1:
                    b = b.replace(sys.argv[2].encode(), sys.argv[3].encode())
                h = hashlib.sha256(prev + b).digest()
                c.execute("UPDATE event SET body=?, hash=? WHERE run='w' AND seq=?", (b, h, seq))
                prev = h
            c.execute("UPDATE run SET head_hash=? WHERE id='w'", (prev,))
            c.execute("DELETE FROM snapshot WHERE run='w'")
            c.commit()
            """
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", "-c", forge, w.db, w.ws, elsewhere]
        try python.run()
        await python.exit()
        #expect(python.terminationStatus == 0)
        #expect(try await SQLiteEventStore(path: w.db).verify(RunID("w")).ok, "the forged chain verifies")
        #expect(try await SQLiteEventStore(path: w.db).state(of: RunID("w")).workspace == elsewhere)
        let r = try await nightshift(["approve", "w", "m1.1"] + w.db_)
        #expect(r.status == 1 && r.stderr.contains("replaced or rewritten"), "\(r.stdout)\(r.stderr)")
        let audit = try await nightshift(["audit", "verify", "w"] + w.db_)
        #expect(audit.status == 2 && audit.stdout.contains("ROLLED BACK") && !audit.stdout.contains(": ok"))
    }

    /// Two workers share a fleet; the one driving the sub-agent is killed inside a long command.
    /// The other takes the sub-agent over as soon as its holder is gone (here, at once: the dead
    /// holder's pid no longer runs), and the fleet finishes.
    @Test func aLiveWorkerTakesOverADeadWorkersSubAgent() async throws {
        let root = tempDir("ns-takeover")
        try FileManager.default.createDirectory(atPath: root + "/agents", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/ws", withIntermediateDirectories: true)
        try "description: Runs a long command\nmodel: scripted:../child.yaml\n".write(
            toFile: root + "/agents/worker.yaml", atomically: true, encoding: .utf8)
        try """
        tasks:
          t1:
            - tools:
                - shell: {command: "touch started; sleep 300"}
            - done: done after the long command
        """.write(toFile: root + "/child.yaml", atomically: true, encoding: .utf8)
        try """
        tasks:
          coordinate:
            - tools:
                - spawn_agents: {agents: [{profile: worker, task: {id: t1, description: "wait", checks: ["true"]}, budget: {steps: 10}}]}
            - tools:
                - wait_agents: {}
            - done: the sub-agent reported
        """.write(toFile: root + "/coord.yaml", atomically: true, encoding: .utf8)
        try "title: c\ntasks:\n  - id: coordinate\n    description: d\n    checks: ['true']\n".write(
            toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        let db = root + "/ns.db"
        let started = try await nightshift(
            [
                "run", "--plan", root + "/plan.yaml", "--workspace", root + "/ws", "--model",
                "scripted:\(root)/coord.yaml", "--agents", root + "/agents", "--db", db, "--id", "c", "-q",
                "--no-baseline", "--concurrency", "0",
            ], cwd: root)
        #expect(started.status == 3, "\(started.stdout)\(started.stderr)")
        let workers = try (0..<2).map { n in
            try ChildProcess.spawn(
                [try nightshiftBinary(), "worker", "--db", db, "--poll-ms", "100", "--concurrency", "1"],
                environment: testEnvironment,
                outputPath: root + "/worker-\(n).log")
        }
        defer { for w in workers { w.kill() } }
        let store = try SQLiteEventStore(path: db)
        let child = RunID("c.m1.1.1")
        // Wait for the long command to start under one of the workers.
        var holder: Int32?
        let deadline = ContinuousClock.now + .seconds(120)
        while holder == nil, ContinuousClock.now < deadline {
            if let record = try await store.leaseRecord(of: child), !record.released,
                let state = try? await store.state(of: child),
                FileManager.default.fileExists(atPath: state.workspace + "/started")
            {
                holder = record.lease.holder.pid
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let killed = try #require(workers.first { $0.pid == holder }, "a worker drives the sub-agent")
        killed.kill()
        // The other finishes the fleet: the sub-agent (its long command in doubt) and then its coordinator.
        while ContinuousClock.now < deadline {
            if try await store.summary(of: RunID("c"))?.status == .finished { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try await store.summary(of: RunID("c"))?.status == .finished)
        let events = try await store.readAll(child).map(\.event)
        #expect(events.contains { if case .toolInDoubt = $0 { true } else { false } }, "\(events.map(\.kind))")
    }

    /// The merge queue killed right after it moved the run's branch (its scratch worktree still
    /// there): on resume the merge is found made, recorded once, and the scratch worktree is gone,
    /// from the disk and from git's list.
    @Test func aMergeKilledAfterTheBranchMovedLeavesNoWorktree() async throws {
        let root = tempDir("ns-merge-kill")
        let ws = root + "/ws"
        try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
        try makeRepository(ws)
        try "title: one\ntasks:\n  - id: a\n    description: write a.txt\n    checks: ['test -f a.txt']\n".write(
            toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        try "tasks:\n  a:\n    - tools:\n        - write_file: {path: a.txt, content: a}\n      done: wrote a\n"
            .write(toFile: root + "/model.yaml", atomically: true, encoding: .utf8)
        let db = root + "/ns.db"
        let args = [
            "--plan", root + "/plan.yaml", "--workspace", ws, "--model", "scripted:\(root)/model.yaml", "--db", db,
            "--id", "m", "-q", "--unsandboxed", "--workers", "1",
        ]
        #expect(
            try await killWhereItStops(
                ["run"] + args, env: ["NIGHTSHIFT_TEST_STOP_AT": "merge-advanced"], output: root + "/out.log"))
        let scratch = try #require(
            try FileManager.default.contentsOfDirectory(atPath: root + "/worktrees").first { $0.hasSuffix(".merge") },
            "the kill left the scratch worktree")
        let resumed = try await nightshift(["resume", "m", "-q", "--db", db, "--unsandboxed"], cwd: root)
        #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: root + "/worktrees/" + scratch))
        let list = try git(["worktree", "list"], in: ws)
        #expect(!list.contains(".merge"), "\(list)")
        let events = try await SQLiteEventStore(path: db).readAll(RunID("m")).map(\.event)
        #expect(events.filter { if case .workMerged = $0 { true } else { false } }.count == 1)
    }

    /// A sub-agent's log lost from the database (its id has dots) is named by `audit verify --all`.
    @Test func auditVerifyAllNamesALostSubAgent() async throws {
        let p = try FleetRunTests.Project(children: 1, steps: 5)
        #expect(try await nightshift(p.run("v"), cwd: p.root).status == 0)
        let drop = Process()
        drop.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        drop.arguments = [
            "python3", "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"DELETE FROM event WHERE run='v.m1.1.1'\"); "
                + "c.execute(\"DELETE FROM run WHERE id='v.m1.1.1'\"); c.execute(\"DELETE FROM lease WHERE run='v.m1.1.1'\"); c.commit()",
            p.db,
        ]
        try drop.run()
        await drop.exit()
        #expect(drop.terminationStatus == 0)
        let audit = try await nightshift(["audit", "verify", "--all", "--db", p.db])
        #expect(audit.status == 2 && audit.stdout.contains("v.m1.1.1: LOST"), "\(audit.stdout)\(audit.stderr)")
    }

    /// The coordinator's model asks for `Int64.max` steps for a sub-agent: a recorded refusal it
    /// reads, and the run goes on (and resumes) instead of trapping.
    @Test func aModelAskingForAnEnormousBudgetIsRefusedAndTheRunGoesOn() async throws {
        let p = try FleetRunTests.Project(children: 1, steps: 5)
        try """
        tasks:
          coordinate:
            - tools:
                - spawn_agents: {agents: [{profile: worker, task: {id: t1, description: "x", checks: ["true"]}, budget: {steps: 9223372036854775807}}]}
            - tools:
                - write_file: {path: summary.txt, content: "done"}
              done: gave up on the sub-agent
        """.write(toFile: p.root + "/coord.yaml", atomically: true, encoding: .utf8)
        try "default: allow\nbudgets:\n  run: {steps: 100}\n".write(
            toFile: p.root + "/policy.yaml", atomically: true, encoding: .utf8)
        let r = try await nightshift(p.run("b", extra: ["--policy", p.root + "/policy.yaml"]), cwd: p.root)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let events = try await SQLiteEventStore(path: p.db).readAll(RunID("b")).map(\.event)
        let refusal = events.compactMap { if case let .toolFinished(_, result) = $0 { result } else { nil } }.first
        #expect(
            refusal?.ok == false && refusal?.output.text.contains("steps must be 0 …") == true,
            "\(refusal.map { "\($0)" } ?? "")")
        #expect(try await nightshift(["resume", "b", "--db", p.db, "-q"]).status == 0, "it resumes (already finished)")
        // A profile that holds such a budget is refused when the run starts, naming its line.
        try "description: d\nbudget: {steps: 9223372036854775807}\n".write(
            toFile: p.root + "/agents/worker.yaml", atomically: true, encoding: .utf8)
        let refused = try await nightshift(p.run("b2"), cwd: p.root)
        #expect(
            refused.status == 1 && refused.stderr.contains("worker.yaml:2") && refused.stderr.contains("at most"),
            "\(refused.stderr)")
    }

    /// A configuration with CRLF line ends whose first line is a comment applies its policy.
    @Test func aCRLFConfigurationAppliesItsPolicy() async throws {
        let root = tempDir("ns-crlf")
        try FileManager.default.createDirectory(atPath: root + "/ws", withIntermediateDirectories: true)
        try "# deny every shell command\r\ndefault: allow\r\nrules:\r\n  - deny: shell\r\n    reason: no shell\r\n"
            .write(toFile: root + "/policy.yaml", atomically: true, encoding: .utf8)
        try "# the project's settings\r\npolicy: policy.yaml\r\n".write(
            toFile: root + "/config.yaml", atomically: true, encoding: .utf8)
        try "title: t\ntasks:\n  - id: t\n    description: d\n    checks: ['true']\n".write(
            toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        try "tasks:\n  t:\n    - tools:\n        - shell: {command: touch ran}\n      done: tried\n".write(
            toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
        let r = try await nightshift(
            [
                "run", "--config", root + "/config.yaml", "--trust-project", "--plan", root + "/plan.yaml",
                "--workspace", root + "/ws", "--model", "scripted:\(root)/scenario.yaml", "--db", root + "/ns.db",
                "--id", "c", "-q", "--unsandboxed", "--no-baseline",
            ], cwd: root)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: root + "/ws/ran"), "the policy denied the command")
    }

    /// `audit verify --all` checks the memory log's chain: an edited record breaks it, exit 2.
    @Test func auditVerifyBreaksOnAnEditedMemoryRecord() async throws {
        let root = tempDir("ns-memaudit")
        let db = root + "/ns.db"
        #expect(
            try await nightshift(["memory", "add", "run make check", "--scope", "user:alice", "--db", db]).status == 0)
        #expect(
            try await nightshift(["memory", "add", "use python3", "--scope", "user:alice", "--db", db]).status == 0)
        let ok = try await nightshift(["audit", "verify", "--all", "--db", db])
        #expect(ok.status == 0 && ok.stdout.contains("memory log: ok — 2 records"), "\(ok.stdout)\(ok.stderr)")
        let edit = Process()
        edit.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        edit.arguments = [
            "python3", "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); "
                + "c.execute(\"UPDATE memory_log SET body=replace(body, 'make check', 'make test') WHERE seq=1\"); c.commit()",
            db,
        ]
        try edit.run()
        await edit.exit()
        let broken = try await nightshift(["audit", "verify", "--all", "--db", db])
        #expect(broken.status == 2 && broken.stdout.contains("memory log: BROKEN at record 1"), "\(broken.stdout)")
    }
}

import Foundation
import NightshiftCore
import NightshiftSQLite
import NightshiftTesting
import Testing

/// Runs written straight into a SQLite database with the times asked for, and the database read
/// back whole, for the tests of moving and pruning runs.
enum Fixture {
    static let plan = Plan(title: "p", tasks: [PlanTask(id: TaskID("t"), description: "d", checks: [])])

    /// A run in `db` whose every event has time `ms`, left `status`; `big` text past the inline
    /// limit makes a blob (the same text in two runs: one blob).
    static func write(
        _ run: String, db: String, ms: Int64, status: RunStatus, parent: String? = nil, big: String? = nil
    ) async throws {
        let store = try SQLiteEventStore(path: db, configuration: .init(now: { Timestamp(milliseconds: ms) }))
        var settings = RunSettings()
        if let parent { settings.parent = ParentLink(run: RunID(parent), call: CallID("m1.1"), depth: 1) }
        var events: [Event] = [
            .runCreated(title: "run \(run)", workspace: "/w", model: "scripted:x", settings: settings),
            .planSet(plan: plan),
        ]
        if let big { events.append(.noteWritten(task: nil, text: Payload(String(repeating: big + " ", count: 1500)))) }
        switch status {
        case .finished:
            // Its one task set aside, so that the run may finish (the fold lets none finish with a task left).
            events += [.taskBlocked(task: TaskID("t"), reason: "fixture"), .runFinished(summary: "done")]
        case .failed: events.append(.runFailed(reason: "broke"))
        case .paused: events.append(.runPaused(reason: "awaiting approval", kind: .approval))
        case .running: break
        }
        try await store.append(events, to: RunID(run), expectedSeq: 0)
    }

    /// Every row that says what the database holds (runs, events, blobs, snapshots, queue, retention
    /// log), as text: equal before and after means nothing changed.
    static func dump(_ db: String) async throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [
            "python3", "-c",
            """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1])
            for t in ["run", "event", "blob", "snapshot", "run_queue", "retention_log", "lease"]:
                for row in c.execute("SELECT * FROM " + t + " ORDER BY 1, 2"):
                    print(t, [x.hex() if isinstance(x, bytes) else x for x in row])
            """, db,
        ]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        await p.exit()
        guard p.terminationStatus == 0 else { throw TestFailure("cannot read \(db)") }
        return String(decoding: data, as: UTF8.self)
    }

    /// Runs `script` (python) with `args`.
    static func python(_ script: String, _ args: [String]) async throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script] + args
        try p.run()
        await p.exit()
        guard p.terminationStatus == 0 else { throw TestFailure("python failed: \(args)") }
    }

    /// Edits an export: `mode` names how (see the cases), from `source` to `target`.
    static let editor = """
        import base64, hashlib, json, sys
        mode, source, target = sys.argv[1], sys.argv[2], sys.argv[3]
        raw = open(source, "rb").read()
        lines = [json.loads(l) for l in raw.decode().splitlines()]
        def records(run=None):
            return [l["record"] for l in lines if "record" in l and (run is None or l["record"]["run"] == run)]
        if mode == "edit-event":
            r = records()[1]
            body = base64.b64decode(r["body"]).replace(b'"title":"p"', b'"title":"q"')
            r["body"] = base64.b64encode(body).decode()
        elif mode == "rechain-last":
            rs = records()
            prev, last = rs[-2], rs[-1]
            body = base64.b64decode(last["body"]).replace(b'"done"', b'"DONE"')
            last["body"] = base64.b64encode(body).decode()
            last["hash"] = hashlib.sha256(bytes.fromhex(prev["hash"]) + body).hexdigest()
        elif mode == "drop-blob":
            lines = [l for l in lines if "blob" not in l]
        elif mode == "alter-blob":
            b = next(l["blob"] for l in lines if "blob" in l)
            b["bytes"] = base64.b64encode(b"not the bytes").decode()
        elif mode == "bad-signature":
            c = lines[-1]["checkpoint"]
            c["signature"] = ("1" if c["signature"][0] != "1" else "2") + c["signature"][1:]
        elif mode == "drop-last-line":
            lines = lines[:-1]
        elif mode.startswith("drop-run:"):
            run = mode.split(":", 1)[1]
            lines[0]["nightshift_export"]["runs"].remove(run)
            lines = [l for l in lines if not any(isinstance(v, dict) and v.get("run") == run for v in l.values())]
        out = "".join(json.dumps(l, sort_keys=True, separators=(",", ":")) + "\\n" for l in lines)
        if mode == "cut":
            out = raw[: len(raw) - 40].decode()
        open(target, "w").write(out)
        """
}

/// `nightshift export` and `nightshift import` through the executable: a run moves between
/// stores with every hash as it was, and nothing that does not verify is ever written.
@Suite(.timeLimit(.minutes(5))) struct ExportImportTests {
    /// Each kind of bad file is one clear line, exit status 1, and the database is as it was.
    @Test func badExportsAreRefusedInOneLineAndChangeNothing() async throws {
        let root = tempDir("ns-import-bad")
        let (source, target, key) = (root + "/source.db", root + "/target.db", root + "/audit.key")
        try await Fixture.write("a", db: source, ms: 1_700_000_000_000, status: .finished, big: "payload")
        try await Fixture.write("other", db: target, ms: 1_700_000_000_000, status: .finished)
        let export = root + "/a.jsonl"
        let made = try await nightshift(["export", "a", "--db", source, "--out", export, "--key", key])
        #expect(made.status == 0, "\(made.stdout)\(made.stderr)")
        let before = try await Fixture.dump(target)

        func refused(_ file: String, _ expected: String, extra: [String] = []) async throws {
            let r = try await nightshift(["import", file, "--db", target, "--key", key] + extra)
            #expect(r.status == 1, "\(expected): \(r.stdout)\(r.stderr)")
            #expect(r.stderr.contains(expected), "\(expected): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
            #expect(try await Fixture.dump(target) == before, "\(expected) changed the database")
        }
        for (mode, expected) in [
            ("edit-event", "event 2 is corrupt (its hash does not chain)"),
            ("rechain-last", "signed checkpoint names event 5"),
            ("drop-blob", "event 3 refers to a missing payload"),
            ("alter-blob", "event 3 refers to a payload that does not match its hash"),
            ("bad-signature", "the checkpoint's signature is not valid"),
            ("drop-last-line", "is truncated"),
            ("cut", "is truncated"),
        ] {
            let edited = root + "/\(mode).jsonl"
            try await Fixture.python(Fixture.editor, [mode, export, edited])
            try await refused(edited, expected)
        }
        // Not an export at all: an audit export, a text file.
        let audit = root + "/audit.jsonl"
        #expect(
            try await nightshift(["audit", "export", "a", "--db", source, "--key", key, "--out", audit]).status == 0)
        try await refused(audit, "is not a Nightshift run export")
        try "hello\n".write(toFile: root + "/hello.txt", atomically: true, encoding: .utf8)
        try await refused(root + "/hello.txt", "is not a Nightshift run export")
        // Signed by another key: refused unless that key is named.
        let other = root + "/b.jsonl"
        #expect(
            try await nightshift(["export", "a", "--db", source, "--out", other, "--key", root + "/other.key"]).status
                == 0)
        try await refused(other, "signed by another key")
        // A run that is already there (and a store that has it is left as it was).
        let sourceBefore = try await Fixture.dump(source)
        let again = try await nightshift(["import", export, "--db", source, "--key", key])
        #expect(again.status == 1 && again.stderr.contains("run a is already in this database"), "\(again.stderr)")
        #expect(try await Fixture.dump(source) == sourceBefore)
        // A new database is not made for a file that does not verify.
        let none = root + "/none.db"
        let noDB = try await nightshift(["import", root + "/edit-event.jsonl", "--db", none, "--key", key])
        #expect(noDB.status == 1 && !FileManager.default.fileExists(atPath: none))

        // The other key named: it imports, whole, and verifies with every hash as it was.
        let publicKey = try #require(
            try String(contentsOfFile: other, encoding: .utf8).split(separator: "\"publicKey\":\"").dropFirst().first?
                .prefix(64))
        let trusted = try await nightshift(["import", other, "--db", target, "--trust-key", String(publicKey)])
        #expect(trusted.status == 0 && trusted.stdout.contains("imported run a (finished)"), "\(trusted.stderr)")
        let moved = try SQLiteEventStore(path: target)
        #expect(try await moved.readAll(RunID("a")) == (try await SQLiteEventStore(path: source).readAll(RunID("a"))))
        let verified = try await nightshift(["audit", "verify", "--all", "--db", target])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        // The export's last line is an audit checkpoint too.
        let checked = try await nightshift([
            "audit", "verify", "a", "--db", target, "--checkpoint", other, "--public-key", String(publicKey),
        ])
        #expect(checked.status == 0 && checked.stdout.contains("checkpoint ok"), "\(checked.stdout)\(checked.stderr)")
    }

    /// A fleet moves as a tree: the run's sub-agents come with it, and a file missing one is refused.
    @Test func aFleetMovesAsOneTree() async throws {
        let p = try FleetRunTests.Project(children: 2, steps: 5)
        let r = try await nightshift(p.run("c"), cwd: p.root)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let export = p.root + "/c.jsonl"
        let made = try await nightshift(["export", "c", "--db", p.db, "--out", export])
        #expect(made.status == 0 && made.stdout.contains("and 2 sub-agents"), "\(made.stdout)\(made.stderr)")
        let partial = p.root + "/partial.jsonl"
        try await Fixture.python(Fixture.editor, ["drop-run:c.m1.1.2", export, partial])
        let target = p.root + "/moved.db"
        let refused = try await nightshift(["import", partial, "--db", target])
        #expect(refused.status == 1 && refused.stderr.contains("sub-agent c.m1.1.2 is missing"), "\(refused.stderr)")

        let imported = try await nightshift(["import", export, "--db", target])
        #expect(
            imported.status == 0 && imported.stdout.contains("and 2 sub-agents"), "\(imported.stdout)\(imported.stderr)"
        )
        let (from, to) = (try SQLiteEventStore(path: p.db), try SQLiteEventStore(path: target))
        #expect(Set(try await to.runs().map(\.id)) == [RunID("c"), RunID("c.m1.1.1"), RunID("c.m1.1.2")])
        for run in try await from.runs() {
            #expect(try await to.readAll(run.id) == (try await from.readAll(run.id)))
            #expect(try await to.summary(of: run.id) == run)
        }
        let status = try await nightshift(["status", "c", "--db", target])
        #expect(status.stdout.contains("c.m1.1.2") && status.stdout.contains("fleet"), "\(status.stdout)")
        #expect(try await nightshift(["audit", "verify", "--all", "--db", target]).status == 0)
    }

    /// A paused run a person decided on is found by a worker in the store it moved to; nothing
    /// drove it on import.
    @Test func aDecidedRunIsFoundByAWorkerWhereItMoved() async throws {
        let (root, ws, args) = try ApprovalRunTests().setup(
            scenario:
                "tasks:\n  ship:\n    - tools:\n        - shell: {command: 'echo shipped >> release.log'}\n      done: ok\n"
        )
        let db = root + "/ns.db"
        #expect(try await nightshift(["run", "--id", "w", "-q", "--unsandboxed"] + args).status == 3)
        #expect(try await nightshift(["approve", "w", "m1.1", "--db", db]).status == 0)
        let export = root + "/w.jsonl"
        #expect(try await nightshift(["export", "w", "--db", db, "--out", export]).status == 0)
        let target = root + "/team.db"
        let imported = try await nightshift(["import", export, "--db", target])
        #expect(imported.status == 0 && imported.stdout.contains("(paused)"), "\(imported.stdout)\(imported.stderr)")
        #expect(!FileManager.default.fileExists(atPath: ws + "/release.log"))  // nothing driven
        #expect(try await SQLiteEventStore(path: target).queued().map(\.run) == [RunID("w")])
        let worker = try await nightshift(["worker", "--once", "--db", target, "--unsandboxed"])
        #expect(worker.status == 0, "\(worker.stdout)\(worker.stderr)")
        #expect(try await SQLiteEventStore(path: target).summary(of: RunID("w"))?.status == .finished)
        #expect(try String(contentsOfFile: ws + "/release.log", encoding: .utf8) == "shipped\n")
        #expect(try await nightshift(["audit", "verify", "--all", "--db", target]).status == 0)
    }
}

/// The same between SQLite and PostgreSQL, both ways.
@Suite(.enabled(if: TestPostgres.enabled), .timeLimit(.minutes(5))) struct ExportImportPostgresTests {
    /// A run killed mid-step on a laptop's SQLite moves to PostgreSQL, where `resume` continues it
    /// (its call in flight in doubt, as after a crash) and the audit passes.
    @Test func aKilledRunMovesFromSQLiteToPostgresAndResumesThere() async throws {
        let root = tempDir("ns-move-pg")
        let db = root + "/laptop.db"
        let killed = try await nightshift(["demo", "--db", db, "--dir", root + "/d", "--kill-after", "18"], cwd: root)
        #expect(killed.status != 0)
        let id = String(
            try #require(
                killed.stdout.split(separator: "\n").first { $0.hasPrefix("run id: ") }?.split(separator: " ")[2],
                "\(killed.stdout)\(killed.stderr)"))
        let export = root + "/run.jsonl"
        #expect(try await nightshift(["export", id, "--db", db, "--out", export]).status == 0)
        let store = try await TestPostgres.database()
        let imported = try await nightshift(["import", export, "--store", store], cwd: root)
        #expect(imported.status == 0 && imported.stdout.contains("(running)"), "\(imported.stdout)\(imported.stderr)")
        #expect(imported.stdout.contains("nightshift resume \(id) --store"), "\(imported.stdout)")
        let checked = try await nightshift(
            ["audit", "verify", id, "--store", store, "--checkpoint", export], cwd: root)
        #expect(checked.status == 0 && checked.stdout.contains("checkpoint ok"), "\(checked.stdout)\(checked.stderr)")
        let resumed = try await nightshift(["resume", id, "--store", store], cwd: root)
        #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
        #expect(
            resumed.stdout.contains("IN DOUBT") && resumed.stdout.contains("run \(id) finished"), "\(resumed.stdout)")
        let verified = try await nightshift(["audit", "verify", "--all", "--store", store], cwd: root)
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        // The laptop's copy is as it was: it still ends where it was killed.
        #expect(try await SQLiteEventStore(path: db).summary(of: RunID(id))?.status == .running)
    }

    /// And back: a run finished on PostgreSQL moves to SQLite with the same log.
    @Test func aRunMovesFromPostgresBackToSQLite() async throws {
        let root = tempDir("ns-move-back")
        let store = try await TestPostgres.database()
        let demo = try await nightshift(["demo", "--store", store, "--dir", root + "/d"], cwd: root)
        #expect(demo.status == 0, "\(demo.stdout)\(demo.stderr)")
        let id = String(
            try #require(
                demo.stdout.split(separator: "\n").first { $0.hasPrefix("run id: ") }?.split(separator: " ")[2]))
        let export = root + "/run.jsonl"
        #expect(try await nightshift(["export", id, "--store", store, "--out", export], cwd: root).status == 0)
        let db = root + "/back.db"
        let imported = try await nightshift(["import", export, "--db", db], cwd: root)
        #expect(imported.status == 0 && imported.stdout.contains("(finished)"), "\(imported.stdout)\(imported.stderr)")
        let there = try await nightshift(["log", id, "--json", "--store", store], cwd: root)
        let here = try await nightshift(["log", id, "--json", "--db", db], cwd: root)
        #expect(there.status == 0 && !there.stdout.isEmpty && there.stdout == here.stdout)
        #expect(try await nightshift(["audit", "verify", "--all", "--db", db], cwd: root).status == 0)
        // Imported twice: refused, the second time, in one line.
        let twice = try await nightshift(["import", export, "--store", store], cwd: root)
        #expect(twice.status == 1 && twice.stderr.contains("already in this database"), "\(twice.stderr)")
    }
}

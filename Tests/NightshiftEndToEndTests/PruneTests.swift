import Foundation
import NightshiftCore
import NightshiftSQLite
import NightshiftTesting
import Testing

/// `nightshift prune` through the executable: ended runs leave the database only after their
/// signed export is on disk, with a record each; live runs and what they need stay; the audit
/// still passes; a prune killed midway leaves every run whole or pruned and logged.
@Suite(.timeLimit(.minutes(5))) struct PruneTests {
    static let old: Int64 = 1_704_067_200_000  // 2024-01-01
    static let recent = Int64(Date().timeIntervalSince1970 * 1000) - 60_000

    /// Old ended runs, live ones, a recent one, a sub-agent of a live run and a tree whose
    /// sub-agent its parent's log does not name.
    func database() async throws -> (root: String, db: String) {
        let root = tempDir("ns-prune")
        let db = root + "/ns.db"
        try await Fixture.write("old-finished", db: db, ms: Self.old, status: .finished, big: "shared")
        try await Fixture.write("old-failed", db: db, ms: Self.old, status: .failed, big: "own")
        try await Fixture.write("recent", db: db, ms: Self.recent, status: .finished, big: "shared")
        try await Fixture.write("live", db: db, ms: Self.old, status: .running)
        try await Fixture.write("waiting", db: db, ms: Self.old, status: .paused)
        try await Fixture.write("live.m1.1.1", db: db, ms: Self.old, status: .finished, parent: "live")
        try await Fixture.write("tree", db: db, ms: Self.old, status: .finished)
        try await Fixture.write("tree.m1.1.1", db: db, ms: Self.old, status: .finished, parent: "tree")
        return (root, db)
    }

    func runs(_ db: String) async throws -> Set<String> {
        Set(try await SQLiteEventStore(path: db).runs().map(\.id.rawValue))
    }

    func sha256(_ path: String) async throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["sha256sum", path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        await p.exit()
        return String(String(decoding: data, as: UTF8.self).prefix(64))
    }

    @Test func oldEndedRunsAreExportedThenPrunedAndLiveOnesStay() async throws {
        let (root, db) = try await database()
        let before = try await Fixture.dump(db)
        // A date in the future, a date that does not parse: one line each, nothing changed.
        let future = try await nightshift(["prune", "--finished-before", "2999-01-01", "--db", db])
        #expect(future.status == 1 && future.stderr.contains("is in the future"), "\(future.stderr)")
        #expect(future.stderr.split(separator: "\n").count == 1)
        let garbled = try await nightshift(["prune", "--finished-before", "last tuesday", "--db", db])
        #expect(garbled.status == 64 && garbled.stderr.contains("is not a date"), "\(garbled.stderr)")
        #expect(garbled.stderr.split(separator: "\n").count == 1)
        let dry = try await nightshift(["prune", "--finished-before", "2025-01-01", "--db", db, "--dry-run"])
        #expect(dry.status == 0 && dry.stdout.contains("would prune old-finished"), "\(dry.stdout)\(dry.stderr)")
        #expect(try await Fixture.dump(db) == before)
        #expect(!FileManager.default.fileExists(atPath: root + "/pruned"))

        let pruned = try await nightshift(["prune", "--finished-before", "2025-01-01", "--db", db])
        #expect(pruned.status == 0, "\(pruned.stdout)\(pruned.stderr)")
        #expect(pruned.stdout.contains("pruned 2 runs"), "\(pruned.stdout)")
        #expect(pruned.stdout.contains("kept tree: run tree's sub-agent tree.m1.1.1"), "\(pruned.stdout)")
        #expect(try await runs(db) == ["recent", "live", "waiting", "live.m1.1.1", "tree", "tree.m1.1.1"])
        // Each export is on disk, and the retention log names it with its digest.
        let list = try await nightshift(["prune", "--list", "--db", db])
        for run in ["old-finished", "old-failed"] {
            let file = root + "/pruned/\(run).jsonl"
            #expect(FileManager.default.fileExists(atPath: file))
            let digest = try await sha256(file)
            #expect(list.stdout.contains("\(run)  event") && list.stdout.contains(digest), "\(list.stdout)")
            #expect(!FileManager.default.fileExists(atPath: db + "-heads/\(run)"))
        }
        // The blob old-finished shared with recent stays; old-failed's own is gone.
        let rows = try await Fixture.dump(db).split(separator: "\n").filter { $0.hasPrefix("blob ") }
        #expect(rows.count == 1, "\(rows)")
        let audit = try await nightshift(["audit", "verify", "--all", "--db", db])
        #expect(audit.status == 0 && !audit.stdout.contains("LOST"), "\(audit.stdout)\(audit.stderr)")
        let resume = try await nightshift(["resume", "old-finished", "--db", db])
        #expect(resume.status == 1 && resume.stderr.contains("was pruned"), "\(resume.stderr)")
        // Nothing left to prune: a second prune changes nothing.
        let after = try await Fixture.dump(db)
        #expect(try await nightshift(["prune", "--finished-before", "2025-01-01", "--db", db]).status == 0)
        #expect(try await Fixture.dump(db) == after)
        // An export brings its run back.
        let back = try await nightshift(["import", root + "/pruned/old-failed.jsonl", "--db", db])
        #expect(back.status == 0, "\(back.stderr)")
        #expect(try await nightshift(["audit", "verify", "--all", "--db", db]).status == 0)
    }

    /// A fleet's tree is pruned whole into one export, and comes back whole.
    @Test func aFleetIsPrunedWholeAndComesBack() async throws {
        let p = try FleetRunTests.Project(children: 2, steps: 5)
        #expect(try await nightshift(p.run("c"), cwd: p.root).status == 0)
        try await Task.sleep(for: .milliseconds(1100))
        let now = Date().formatted(.iso8601)
        let pruned = try await nightshift(["prune", "--finished-before", now, "--db", p.db])
        #expect(
            pruned.stdout.contains("pruned c and 2 sub-agents") && pruned.stdout.contains("pruned 3 runs"),
            "\(pruned.stdout)\(pruned.stderr)")
        #expect(try await runs(p.db).isEmpty)
        #expect(try await nightshift(["audit", "verify", "--all", "--db", p.db]).status == 0)
        let back = try await nightshift(["import", p.root + "/pruned/c.jsonl", "--db", p.db])
        #expect(back.status == 0 && back.stdout.contains("and 2 sub-agents"), "\(back.stdout)\(back.stderr)")
        #expect(try await runs(p.db) == ["c", "c.m1.1.1", "c.m1.1.2"])
        #expect(try await nightshift(["audit", "verify", "--all", "--db", p.db]).status == 0)
    }

    /// Killed (SIGKILL) after its first export is on disk: every run is still whole, the audit
    /// passes, and a second prune finishes. A witness a crash left behind for a pruned run is read
    /// against the retention log: pruned, not lost.
    @Test func aPruneKilledMidwayLeavesEveryRunWholeAndARerunFinishes() async throws {
        let root = tempDir("ns-prune-kill")
        let db = root + "/ns.db"
        try await Fixture.write("one", db: db, ms: Self.old, status: .finished, big: "one")
        try await Fixture.write("two", db: db, ms: Self.old + 1, status: .failed, big: "two")
        let before = try await Fixture.dump(db)
        let argv = ["prune", "--finished-before", "2025-01-01", "--db", db]
        #expect(
            try await killWhereItStops(
                argv, env: ["NIGHTSHIFT_TEST_STOP_AT": "prune-exported"], output: root + "/prune.log"))
        #expect(FileManager.default.fileExists(atPath: root + "/pruned/one.jsonl"))
        #expect(try await Fixture.dump(db) == before)  // the export is written, nothing deleted
        #expect(try await nightshift(["audit", "verify", "--all", "--db", db]).status == 0)

        let rerun = try await nightshift(argv)
        #expect(rerun.status == 0 && rerun.stdout.contains("pruned 2 runs"), "\(rerun.stdout)\(rerun.stderr)")
        #expect(try await runs(db).isEmpty)
        let list = try await nightshift(["prune", "--list", "--db", db])
        #expect(list.stdout.split(separator: "\n").count == 2, "\(list.stdout)")

        // As if killed between the commit and the witness's removal.
        let head = try #require(
            try String(contentsOfFile: root + "/pruned/one.jsonl", encoding: .utf8).split(separator: "\n").last)
        let checkpoint = try JSONSerialization.jsonObject(with: Data(head.utf8)) as? [String: [String: Any]]
        let hash = try #require(checkpoint?["checkpoint"]?["hash"] as? String)
        try (String(repeating: " ", count: 19) + "5 " + hash + "\n").write(
            toFile: db + "-heads/one", atomically: true, encoding: .utf8)
        let audit = try await nightshift(["audit", "verify", "--all", "--db", db])
        #expect(audit.status == 0 && audit.stdout.contains("one: pruned"), "\(audit.stdout)\(audit.stderr)")
        // A witness ahead of what was pruned is a loss all the same.
        try (String(repeating: " ", count: 19) + "9 " + hash + "\n").write(
            toFile: db + "-heads/one", atomically: true, encoding: .utf8)
        let lost = try await nightshift(["audit", "verify", "--all", "--db", db])
        #expect(lost.status == 2 && lost.stdout.contains("LOST"), "\(lost.stdout)")
    }
}

/// Pruning a PostgreSQL store: the exports' folder must be named.
@Suite(.enabled(if: TestPostgres.enabled), .timeLimit(.minutes(5))) struct PrunePostgresTests {
    @Test func aPostgresStoreIsPrunedIntoTheFolderNamed() async throws {
        let root = tempDir("ns-prune-pg")
        let db = root + "/ns.db"
        try await Fixture.write("old", db: db, ms: PruneTests.old, status: .finished, big: "x")
        try await Fixture.write("live", db: db, ms: PruneTests.old, status: .paused)
        let store = try await TestPostgres.database()
        for run in ["old", "live"] {
            #expect(try await nightshift(["export", run, "--db", db, "--out", root + "/\(run).jsonl"]).status == 0)
            #expect(try await nightshift(["import", root + "/\(run).jsonl", "--store", store], cwd: root).status == 0)
        }
        let unnamed = try await nightshift(["prune", "--finished-before", "2025-01-01", "--store", store], cwd: root)
        #expect(unnamed.status == 1 && unnamed.stderr.contains("needs --exports DIR"), "\(unnamed.stderr)")
        let pruned = try await nightshift(
            ["prune", "--finished-before", "2025-01-01", "--store", store, "--exports", root + "/exports"], cwd: root)
        #expect(pruned.status == 0 && pruned.stdout.contains("pruned 1 run"), "\(pruned.stdout)\(pruned.stderr)")
        #expect(FileManager.default.fileExists(atPath: root + "/exports/old.jsonl"))
        let status = try await nightshift(["status", "--store", store], cwd: root)
        #expect(status.stdout.contains("live") && !status.stdout.contains("old "), "\(status.stdout)")
        #expect(try await nightshift(["audit", "verify", "--all", "--store", store], cwd: root).status == 0)
        let list = try await nightshift(["prune", "--list", "--store", store], cwd: root)
        #expect(list.stdout.contains("old  event 5"), "\(list.stdout)")
    }
}

import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftSQLite
import NightshiftTesting
import Testing

/// The log going backwards: a process is killed, then the database's `-wal` file is deleted (an
/// operator's mistake, a bad restore). SQLite cannot keep those committed events, but Nightshift
/// notices from the head witness beside the database and refuses to act on the older log, so
/// nothing the lost events did is done again without a human saying so.
@Suite struct RollbackTests {
    func setup() throws -> (root: String, db: String, args: [String]) {
        let root = tempDir("ns-rollback")
        let ws = root + "/ws"
        try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
        try "title: t\ntasks:\n  - id: t\n    description: d\n    checks: ['test -f done.txt']\n"
            .write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        return (
            root, root + "/ns.db",
            [
                "--plan", root + "/plan.yaml", "--workspace", ws, "--model", "scripted:\(root)/scenario.yaml",
                "--db", root + "/ns.db", "--id", "rb", "--unsandboxed", "--no-baseline",
            ]
        )
    }

    /// Shell turns 0…`turns` (each appends its number to effects.txt), then, if `finish`, the done claim.
    func scenario(_ root: String, turns: Int, finish: Bool = true) throws {
        var text = "tasks:\n  t:\n"
        for n in 0...turns { text += "    - tools:\n        - shell: {command: 'echo \(n) >> ../effects.txt'}\n" }
        if finish { text += "    - tools:\n        - shell: {command: 'touch done.txt'}\n      done: finished\n" }
        try text.write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
    }

    /// Runs `args` frozen after event `seq` is committed, then kills it and deletes the WAL.
    func killAfter(_ seq: Int64, _ args: [String], root: String, db: String) async throws {
        _ = try await killWhereItStops(
            args, env: ["NIGHTSHIFT_TEST_STOP_AFTER_SEQ": "\(seq)"], output: root + "/out-\(seq).log")
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) }
    }

    @Test func aLostTailIsRefusedThenAcceptedAndRecorded() async throws {
        let (root, db, args) = try setup()
        try scenario(root, turns: 0, finish: false)
        // First process: the scenario runs out after one turn, so the run pauses (and its log is checkpointed into the file).
        let first = try await nightshift(["run", "-q"] + args)
        #expect(first.status == 3, "\(first.stdout)\(first.stderr)")
        let paused = try #require(try await SQLiteEventStore(path: db).summary(of: RunID("rb"))?.headSeq)
        // Second process: two shell effects, then killed; the WAL with those events is deleted.
        try scenario(root, turns: 2)
        try await killAfter(paused + 14, ["resume", "rb", "-q", "--db", db, "--unsandboxed"], root: root, db: db)
        #expect(try String(contentsOfFile: root + "/ws/../effects.txt", encoding: .utf8).contains("1"))
        #expect(try await SQLiteEventStore(path: db).summary(of: RunID("rb"))?.headSeq == paused)  // the log went back

        let refused = try await nightshift(["resume", "rb", "--db", db, "--unsandboxed"])
        #expect(refused.status == 1, "\(refused.stdout)\(refused.stderr)")
        #expect(refused.stderr.contains("were lost"), "\(refused.stderr)")
        #expect(refused.stderr.contains("--accept-rollback"), "\(refused.stderr)")
        #expect(refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
        #expect(try await SQLiteEventStore(path: db).summary(of: RunID("rb"))?.headSeq == paused)  // nothing done
        let audit = try await nightshift(["audit", "verify", "rb", "--db", db])
        #expect(audit.status == 2, "\(audit.stdout)\(audit.stderr)")
        #expect(audit.stdout.contains("ROLLED BACK"), "\(audit.stdout)")

        let accepted = try await nightshift(["resume", "rb", "--db", db, "--unsandboxed", "--accept-rollback", "-q"])
        #expect(accepted.status == 0, "\(accepted.stdout)\(accepted.stderr)")
        let events = try await SQLiteEventStore(path: db).readAll(RunID("rb")).map(\.event)
        let rollback = events.compactMap {
            if case let .rollbackAccepted(from, through, _) = $0 { (from, through) } else { nil }
        }
        #expect(rollback.count == 1)
        #expect(rollback.first?.0 == paused + 1 && (rollback.first?.1 ?? 0) >= paused + 14, "\(rollback)")
        #expect(try await nightshift(["audit", "verify", "rb", "--db", db]).status == 0)
    }

    @Test func aRunWhoseWholeLogWasLostIsReportedNotTreatedAsNew() async throws {
        let (root, db, args) = try setup()
        try scenario(root, turns: 1)
        // Killed before SQLite ever checkpointed: the whole run lives in the WAL, which is deleted.
        try await killAfter(12, ["run", "-q"] + args, root: root, db: db)
        #expect(try await SQLiteEventStore(path: db).summary(of: RunID("rb")) == nil)
        let resumed = try await nightshift(["resume", "rb", "--db", db, "--unsandboxed"])
        #expect(resumed.status == 1)
        #expect(resumed.stderr.contains("its log was lost"), "\(resumed.stderr)")
        let audit = try await nightshift(["audit", "verify", "--all", "--db", db])
        #expect(audit.status == 2, "\(audit.stdout)\(audit.stderr)")
        #expect(audit.stdout.contains("rb: LOST"), "\(audit.stdout)")
        let again = try await nightshift(["run", "-q"] + args)
        #expect(again.status == 1, "\(again.stdout)")
        #expect(again.stderr.contains("its log was lost"), "\(again.stderr)")
    }
}

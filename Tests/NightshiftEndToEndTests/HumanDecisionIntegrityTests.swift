import Foundation
import NightshiftCore
import NightshiftSQLite
import NightshiftTesting
import Testing

/// A human's decision is appended only to a log that verifies from its first event: `approve`,
/// `deny`, `budget` and `answer` read the run's snapshot and tail to decide, so without a check of
/// the whole chain they would extend a log whose middle was deleted or edited.
@Suite struct HumanDecisionIntegrityTests {
    @Test func aDecisionIsRefusedOnALogWithADeletedMiddleEvent() async throws {
        let root = tempDir("ns-decide")
        let ws = root + "/ws"
        try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
        try "title: t\ntasks:\n  - id: t\n    description: d\n    checks: ['test -f out.txt']\n"
            .write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        try "default: ask\n".write(toFile: root + "/policy.yaml", atomically: true, encoding: .utf8)
        try "tasks:\n  t:\n    - tools:\n        - write_file: {path: out.txt, content: x}\n      done: wrote\n"
            .write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
        let db = root + "/ns.db"
        let run = try await nightshift([
            "run", "--plan", root + "/plan.yaml", "--workspace", ws, "--model", "scripted:\(root)/scenario.yaml",
            "--db", db, "--policy", root + "/policy.yaml", "--id", "d", "-q", "--unsandboxed", "--no-baseline",
        ])
        #expect(run.status == 3, "\(run.stdout)\(run.stderr)")
        let before = try await SQLiteEventStore(path: db).summary(of: RunID("d"))?.headSeq
        // Remove an event from the middle, the way a hand with file access could.
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = [
            "python3", "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"DELETE FROM event WHERE run='d' AND seq=3\"); c.commit()",
            db,
        ]
        try python.run()
        await python.exit()
        #expect(python.terminationStatus == 0)
        for args in [
            ["approve", "d", "m1.1"], ["deny", "d", "m1.1", "--reason", "no"], ["budget", "d", "--cost", "5"],
            ["answer", "d", "go on"],
        ] {
            let decided = try await nightshift(args + ["--db", db])
            #expect(decided.status == 1, "\(args): \(decided.stdout)")
            #expect(decided.stderr.contains("does not verify at event 3"), "\(args): \(decided.stderr)")
            #expect(decided.stderr.split(separator: "\n").count == 1, "\(decided.stderr)")
        }
        // Nothing was appended.
        #expect(try await SQLiteEventStore(path: db).summary(of: RunID("d"))?.headSeq == before)
    }
}

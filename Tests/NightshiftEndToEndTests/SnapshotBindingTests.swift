import Foundation
import NightshiftCore
import NightshiftSQLite
import NightshiftTesting
import Testing

/// A snapshot is a cache: one UPDATE of its row (no event touched) must not change what `status`
/// shows or where `resume` works. Every reader uses a snapshot only when a `snapshot_taken` event
/// in the chain carries its digest; `audit verify` re-folds the log and names one that disagrees.
@Suite struct SnapshotBindingTests {
    @Test func aForgedSnapshotIsIgnoredEverywhereAndNamedByTheAudit() async throws {
        let root = tempDir("ns-snap")
        let ws = root + "/ws", elsewhere = root + "/elsewhere"
        for dir in [ws, elsewhere] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        try "title: t\ntasks:\n  - id: t\n    description: d\n    checks: ['test -f done.txt']\n"
            .write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        // The scenario ends before the task is done: the run pauses, and its last commit stores a snapshot.
        try "tasks:\n  t:\n    - tools:\n        - shell: {command: 'echo one > one.txt'}\n"
            .write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
        let db = root + "/ns.db"
        let run = try await nightshift([
            "run", "--plan", root + "/plan.yaml", "--workspace", ws, "--model", "scripted:\(root)/scenario.yaml",
            "--db", db, "--id", "s", "-q", "--unsandboxed", "--no-baseline",
        ])
        #expect(run.status == 3, "\(run.stdout)\(run.stderr)")
        let clean = try await nightshift(["audit", "verify", "s", "--db", db])
        #expect(clean.status == 0, "\(clean.stdout)")
        // Redirect the run to another folder, in the snapshot only.
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = [
            "python3", "-c",
            """
            import sqlite3, sys, json
            c = sqlite3.connect(sys.argv[1])
            state = json.loads(bytes(c.execute("SELECT state FROM snapshot WHERE run='s'").fetchone()[0]))
            state["workspace"] = sys.argv[2]
            c.execute("UPDATE snapshot SET state=? WHERE run='s'", (json.dumps(state).encode(),))
            c.commit()
            """, db, elsewhere,
        ]
        try python.run()
        await python.exit()
        #expect(python.terminationStatus == 0)

        let status = try await nightshift(["status", "s", "--db", db])
        #expect(status.stdout.contains("workspace \(ws)"), "\(status.stdout)")
        #expect(!status.stdout.contains(elsewhere), "\(status.stdout)")
        #expect(status.stdout.contains("not vouched for by the log"), "\(status.stdout)")
        let audit = try await nightshift(["audit", "verify", "s", "--db", db])
        #expect(audit.status == 2, "\(audit.stdout)\(audit.stderr)")
        #expect(audit.stdout.contains("SNAPSHOT DISAGREES"), "\(audit.stdout)")
        // Resume works where the log says, not where the snapshot said.
        try
            "tasks:\n  t:\n    - tools:\n        - shell: {command: 'echo one > one.txt'}\n    - tools:\n        - shell: {command: 'touch done.txt'}\n      done: finished\n"
            .write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
        let resumed = try await nightshift(["resume", "s", "--db", db, "-q", "--unsandboxed"])
        #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
        #expect(FileManager.default.fileExists(atPath: ws + "/done.txt"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere).isEmpty)
    }
}

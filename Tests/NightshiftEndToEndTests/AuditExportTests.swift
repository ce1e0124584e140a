import Foundation
import NightshiftCore
import NightshiftSQLite
import NightshiftTesting
import Testing

/// `audit export` and `audit verify --checkpoint`: what a hash chain cannot show (a missing tail,
/// a consistently rewritten history) a signed checkpoint kept elsewhere does.
@Suite struct AuditExportTests {
    /// Runs a small plan to the end; returns the folder, the database and the key path.
    func finishedRun() async throws -> (root: String, db: String, key: String) {
        let root = tempDir("ns-audit")
        try FileManager.default.createDirectory(atPath: root + "/ws", withIntermediateDirectories: true)
        try CLITests.plan.write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        try CLITests.scenario.write(toFile: root + "/s.yaml", atomically: true, encoding: .utf8)
        let r = try await nightshift([
            "run", "--id", "a", "-q", "--unsandboxed", "--plan", root + "/plan.yaml", "--workspace", root + "/ws",
            "--model", "scripted:\(root)/s.yaml", "--db", root + "/ns.db",
        ])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        return (root, root + "/ns.db", root + "/keys/audit.key")
    }

    func python(_ script: String, _ args: [String]) async throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script] + args
        try p.run()
        await p.exit()
        #expect(p.terminationStatus == 0)
    }

    func verify(_ db: String, _ export: String, key: String) async throws -> CLIResult {
        try await nightshift(["audit", "verify", "a", "--db", db, "--checkpoint", export, "--key", key])
    }

    @Test func theExportIsTheWholeRecordEndingInASignedCheckpoint() async throws {
        let (root, db, key) = try await finishedRun()
        let export = root + "/a.jsonl"
        let e = try await nightshift(["audit", "export", "a", "--db", db, "--key", key, "--out", export])
        #expect(e.status == 0, "\(e.stderr)")
        let lines = try String(contentsOfFile: export, encoding: .utf8).split(separator: "\n")
        let head = try #require(try await SQLiteEventStore(path: db).summary(of: RunID("a"))?.headSeq)
        #expect(lines.count == Int(head) + 2)
        let objects = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(objects.count == lines.count)
        #expect(objects.dropLast(2).allSatisfy { $0["kind"] != nil && $0["hash"] != nil })
        #expect(objects[objects.count - 2]["summary"] != nil)
        let checkpoint = try #require(objects.last?["checkpoint"] as? [String: Any])
        #expect(checkpoint["seq"] as? Int == Int(head))
        // The key lives outside the database, readable by its owner only.
        let mode = (try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o600)
        // Untouched: no false alarm.
        let ok = try await verify(db, export, key: key)
        #expect(ok.status == 0 && ok.stdout.contains("checkpoint ok"), "\(ok.stdout)\(ok.stderr)")
    }

    @Test func aTruncatedLogIsCaughtThoughItsChainStillVerifies() async throws {
        let (root, db, key) = try await finishedRun()
        let export = root + "/a.jsonl"
        #expect(try await nightshift(["audit", "export", "a", "--db", db, "--key", key, "--out", export]).status == 0)
        // Drop the last three events and make the run's head agree: a chain that verifies, but shorter.
        try await python(
            """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1])
            head = c.execute("SELECT MAX(seq) FROM event WHERE run='a'").fetchone()[0]
            c.execute("DELETE FROM event WHERE run='a' AND seq > ?", (head - 3,))
            h = c.execute("SELECT hash FROM event WHERE run='a' AND seq=?", (head - 3,)).fetchone()[0]
            c.execute("UPDATE run SET head_seq=?, head_hash=?, status='paused' WHERE id='a'", (head - 3, h))
            c.execute("DELETE FROM snapshot")
            c.commit()
            """, [db])
        // The head witness beside the database sees the shorter log…
        let witnessed = try await nightshift(["audit", "verify", "a", "--db", db])
        #expect(witnessed.status == 2 && witnessed.stdout.contains("ROLLED BACK"), "\(witnessed.stdout)")
        // …but whoever can edit the database can delete the witness too: then the chain alone cannot see it.
        try FileManager.default.removeItem(atPath: db + "-heads")
        let plain = try await nightshift(["audit", "verify", "a", "--db", db])
        #expect(plain.status == 0)
        let r = try await verify(db, export, key: key)
        #expect(r.status == 2 && r.stdout.contains("TRUNCATED"), "status \(r.status): \(r.stdout)\(r.stderr)")
    }

    @Test func aRewrittenHistoryWithRecomputedHashesIsCaught() async throws {
        let (root, db, key) = try await finishedRun()
        let export = root + "/a.jsonl"
        #expect(try await nightshift(["audit", "export", "a", "--db", db, "--key", key, "--out", export]).status == 0)
        // Rewrite run_finished and recompute its hash and every later one as SHA-256(previous ‖ body):
        // the chain verifies again.
        try await python(
            """
            import sqlite3, sys, hashlib
            c = sqlite3.connect(sys.argv[1])
            start = c.execute("SELECT seq FROM event WHERE run='a' AND kind='run_finished'").fetchone()[0]
            head = c.execute("SELECT MAX(seq) FROM event WHERE run='a'").fetchone()[0]
            prev = bytes(c.execute("SELECT hash FROM event WHERE run='a' AND seq=?", (start - 1,)).fetchone()[0])
            for seq in range(start, head + 1):
                body = bytes(c.execute("SELECT body FROM event WHERE run='a' AND seq=?", (seq,)).fetchone()[0])
                body = body.replace(b'2 of 2 tasks done', b'2 of 2 tasks DONE')
                prev = hashlib.sha256(prev + body).digest()
                c.execute("UPDATE event SET body=?, hash=? WHERE run='a' AND seq=?", (body, prev, seq))
            c.execute("UPDATE run SET head_hash=? WHERE id='a'", (prev,))
            c.execute("DELETE FROM snapshot")
            c.commit()
            """, [db])
        let witnessed = try await nightshift(["audit", "verify", "a", "--db", db])
        // the head witness sees it
        #expect(witnessed.status == 2 && witnessed.stdout.contains("rewritten"), "\(witnessed.stdout)")
        try FileManager.default.removeItem(atPath: db + "-heads")
        let plain = try await nightshift(["audit", "verify", "a", "--db", db])
        #expect(plain.status == 0, "\(plain.stdout)")  // without it, a consistent rewrite fools the chain
        let r = try await verify(db, export, key: key)
        #expect(r.status == 2 && r.stdout.contains("ROLLED BACK OR REWRITTEN"), "\(r.stdout)\(r.stderr)")
    }

    /// The checkpointed event itself deleted or corrupted, or the whole run gone: a verdict and
    /// exit status 2, as for anything else that does not verify (it used to be an error, exit 1).
    @Test(arguments: ["delete-checkpointed", "corrupt-checkpointed", "delete-run"])
    func aMissingOrCorruptCheckpointedEventIsAVerdict(how: String) async throws {
        let (root, db, key) = try await finishedRun()
        let export = root + "/a.jsonl"
        #expect(try await nightshift(["audit", "export", "a", "--db", db, "--key", key, "--out", export]).status == 0)
        let sql =
            switch how {
            case "delete-checkpointed":
                "DELETE FROM event WHERE run='a' AND seq=(SELECT MAX(seq) FROM event WHERE run='a')"
            case "corrupt-checkpointed":
                "UPDATE event SET body=CAST('{}' AS BLOB) WHERE run='a' AND seq=(SELECT MAX(seq) FROM event WHERE run='a')"
            default: "DELETE FROM run WHERE id='a'"
            }
        try await python(
            "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.execute(sys.argv[2])\nc.execute('DELETE FROM snapshot')\nc.commit()\n",
            [db, sql])
        let r = try await verify(db, export, key: key)
        #expect(r.status == 2, "\(how): status \(r.status): \(r.stdout)\(r.stderr)")
        let verdicts = ["CHECKPOINT NOT MATCHED", "TRUNCATED", "MISSING", "ROLLED BACK"]
        #expect(verdicts.contains { r.stdout.contains($0) }, "\(how): \(r.stdout)\(r.stderr)")
    }

    /// `resume` of a run whose last events were removed (the index still names the old head) says
    /// so, instead of blaming another writer.
    @Test func resumingATruncatedTailSaysEventsAreMissing() async throws {
        let (_, db, _) = try await finishedRun()
        try await python(
            """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1])
            head = c.execute("SELECT MAX(seq) FROM event WHERE run='a'").fetchone()[0]
            c.execute("DELETE FROM event WHERE run='a' AND seq > ?", (head - 3,))
            c.execute("UPDATE run SET status='paused' WHERE id='a'")
            c.execute("DELETE FROM snapshot")
            c.commit()
            """, [db])
        let r = try await nightshift(["resume", "a", "--db", db, "--unsandboxed"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("are missing"), "\(r.stderr)")
        #expect(!r.stderr.contains("another writer"), "\(r.stderr)")
    }

    @Test func aForgedOrAlteredCheckpointIsRejected() async throws {
        let (root, db, key) = try await finishedRun()
        let export = root + "/a.jsonl"
        #expect(try await nightshift(["audit", "export", "a", "--db", db, "--key", key, "--out", export]).status == 0)
        // Signed with another key (an attacker's own): rejected against the trusted key.
        let other = root + "/keys/other.key"
        let forged = root + "/forged.jsonl"
        #expect(
            try await nightshift(["audit", "export", "a", "--db", db, "--key", other, "--out", forged]).status == 0)
        let r1 = try await verify(db, forged, key: key)
        #expect(r1.status == 2 && r1.stdout.contains("another key"), "\(r1.stdout)")
        // A checkpoint whose seq was edited: the signature no longer matches.
        let text = try String(contentsOfFile: export, encoding: .utf8)
        var lines = text.split(separator: "\n").map(String.init)
        let last = lines.removeLast()
        let seq = try #require(
            (try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: [String: Any]])?["checkpoint"]?["seq"]
                as? Int)
        lines.append(last.replacingOccurrences(of: "\"seq\":\(seq)", with: "\"seq\":\(seq - 1)"))
        try (lines.joined(separator: "\n") + "\n").write(
            toFile: root + "/edited.jsonl", atomically: true, encoding: .utf8)
        let r2 = try await verify(db, root + "/edited.jsonl", key: key)
        #expect(r2.status == 2 && r2.stdout.contains("signature is not valid"), "\(r2.stdout)")
        let missingKey = try await verify(db, export, key: root + "/keys/none.key")
        #expect(missingKey.status == 1 && missingKey.stderr.contains("no audit key"))
    }
}

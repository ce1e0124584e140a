import Foundation
import NightshiftCore
import NightshiftSQLite
import NightshiftTesting
import Testing

/// A database written by the main branch of 2026-11-26, before run leases, snapshot vouchers and
/// the head witness (`Fixtures/legacy-main-2026-11-26.db`): a run paused after one turn. It still
/// opens (the new table is migrated in), verifies, shows and resumes to the end. Its snapshot
/// predates vouchers, so it is ignored and the log folded.
@Suite(.serialized) struct LegacyDatabaseTests {
    /// Where the fixture's run lived: its workspace and scenario paths are recorded in its log.
    static let home = "/tmp/nightshift-fixture-v1"

    @Test func aDatabaseFromTheLastReleaseOpensVerifiesAndResumes() async throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "Fixtures/legacy-main-2026-11-26.db"
        ).path
        let root = tempDir("ns-legacy")
        let db = root + "/legacy.db"
        try FileManager.default.copyItem(atPath: fixture, toPath: db)
        try? FileManager.default.removeItem(atPath: Self.home)
        try FileManager.default.createDirectory(atPath: Self.home + "/ws", withIntermediateDirectories: true)
        try "echo 1 > one.txt\n".write(toFile: Self.home + "/ws/one.txt", atomically: true, encoding: .utf8)
        try
            "tasks:\n  t:\n    - tools:\n        - shell: {command: 'echo 1 > one.txt'}\n    - tools:\n        - shell: {command: 'touch done.txt'}\n      done: done\n"
            .write(toFile: Self.home + "/scenario.yaml", atomically: true, encoding: .utf8)

        let verify = try await nightshift(["audit", "verify", "legacy", "--db", db])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        #expect(verify.stdout.contains("ok — 12 events"), "\(verify.stdout)")
        let status = try await nightshift(["status", "legacy", "--db", db])
        #expect(status.status == 0)
        #expect(status.stdout.contains("status    paused"), "\(status.stdout)")
        #expect(status.stdout.contains("workspace \(Self.home)/ws"), "\(status.stdout)")
        let resumed = try await nightshift(["resume", "legacy", "--db", db, "-q"])
        #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
        #expect(FileManager.default.fileExists(atPath: Self.home + "/ws/done.txt"))
        let after = try await nightshift(["audit", "verify", "legacy", "--db", db])
        #expect(after.status == 0, "\(after.stdout)\(after.stderr)")
        let events = try await SQLiteEventStore(path: db).readAll(RunID("legacy")).map(\.event)
        #expect(events.contains { if case .runFinished = $0 { true } else { false } })
        #expect(events.contains { if case .snapshotTaken = $0 { true } else { false } })
    }
}

/// A database written by the main branch of 2026-12-07, before the run queue
/// (`Fixtures/main-2026-12-07-approved.db`): a run paused for approval, approved, and never
/// resumed. Opened by a worker, it is upgraded (the paused run is queued to be checked) and the
/// worker continues it at once, running the approved call exactly once; no event of the old
/// version is changed.
@Suite(.serialized) struct QueueUpgradeDatabaseTests {
    static let home = "/tmp/nightshift-fixture-v2"

    @Test func aDecisionMadeBeforeTheUpgradeIsContinuedByAWorker() async throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "Fixtures/main-2026-12-07-approved.db"
        ).path
        let root = tempDir("ns-upgrade")
        let db = root + "/old.db"
        try FileManager.default.copyItem(atPath: fixture, toPath: db)
        try? FileManager.default.removeItem(atPath: Self.home)
        try FileManager.default.createDirectory(atPath: Self.home + "/ws", withIntermediateDirectories: true)
        let files = [
            "plan.yaml":
                "title: approvals\ntasks:\n  - id: ship\n    description: record the release\n    checks:\n      - grep -q shipped release.log\n",
            "scenario.yaml":
                "tasks:\n  ship:\n    - tools:\n        - shell: {command: \"echo shipped >> release.log\"}\n      done: shipped\n",
            "policy.yaml":
                "default: allow\nrules:\n  - ask: shell\n    command: \"*release.log*\"\n    reason: releases need a human\n",
        ]
        for (name, text) in files { try text.write(toFile: Self.home + "/" + name, atomically: true, encoding: .utf8) }
        let before = try await SQLiteEventStore(path: db).readAll(RunID("approved"))
        #expect(before.count == 13 && before.last?.actor == .human)

        let worker = try await nightshift(["worker", "--once", "--db", db, "--unsandboxed"])
        #expect(worker.status == 0, "\(worker.stdout)\(worker.stderr)")
        #expect(worker.stdout.contains("resuming approved after approval_decided"), "\(worker.stdout)")
        // The worker's log has a line for each step a person watches, with the run's task and holder.
        let lines = worker.stdout.split(separator: "\n")
        #expect(lines.contains { $0.contains("run resumed") && $0.contains("holder=\"nightshift worker (pid") })
        #expect(lines.contains { $0.contains("task done") && $0.contains("task=ship") && $0.contains("run=approved") })
        #expect(lines.contains { $0.contains("run finished") }, "\(worker.stdout)")
        #expect(try String(contentsOfFile: Self.home + "/ws/release.log", encoding: .utf8) == "shipped\n")
        let store = try SQLiteEventStore(path: db)
        let after = try await store.readAll(RunID("approved"))
        #expect(Array(after.prefix(13)) == before)  // the old log is extended, never rewritten
        #expect(try await store.summary(of: RunID("approved"))?.status == .finished)
        #expect(try await store.queued().isEmpty)
        #expect(try await nightshift(["audit", "verify", "approved", "--db", db]).status == 0)
        // A second look finds nothing to do.
        let again = try await nightshift(["worker", "--once", "--db", db, "--unsandboxed"])
        #expect(again.status == 0 && !again.stdout.contains("resuming"), "\(again.stdout)")
    }
}

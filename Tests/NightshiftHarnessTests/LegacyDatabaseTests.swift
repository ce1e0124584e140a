import Foundation
import NightshiftCore
import NightshiftSQLite
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

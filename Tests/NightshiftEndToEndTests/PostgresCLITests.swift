import Foundation
import Logging
import NightshiftPostgres
import NightshiftTesting
import Testing

/// The test server `NIGHTSHIFT_TEST_POSTGRES` names (`.ci/run` starts one with
/// `scripts/postgres-for-tests.sh`; in CI its absence fails these tests, elsewhere skips them).
enum TestPostgres {
    static let url = ProcessInfo.processInfo.environment["NIGHTSHIFT_TEST_POSTGRES"]
    static var enabled: Bool { url != nil || ProcessInfo.processInfo.environment["CI"] != nil }

    /// The address of a new, empty database on the test server (as `user`, when given).
    static func database(user: String? = nil) async throws -> String {
        let url = try #require(url, "NIGHTSHIFT_TEST_POSTGRES names no PostgreSQL")
        let admin = try PostgresDatabase(address: url, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let name = "ns_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
        try await admin.execute("CREATE DATABASE \(name)\(user.map { " OWNER \($0)" } ?? "")")
        var parts = try #require(URLComponents(string: url))
        parts.path = "/" + name
        if let user { parts.user = user }
        return try #require(parts.string)
    }
}

/// Every command on PostgreSQL (`--store`), as on SQLite: the crash contract first.
@Suite(.enabled(if: TestPostgres.enabled), .timeLimit(.minutes(5))) struct PostgresCLITests {
    /// A run killed mid-step on PostgreSQL resumes from its log there, the call in doubt, and its
    /// log verifies; no SQLite file is made anywhere.
    @Test func aKilledRunResumesFromItsLogOnPostgres() async throws {
        let store = try await TestPostgres.database()
        let root = tempDir("ns-pg-demo")
        let killed = try await nightshift(
            ["demo", "--store", store, "--dir", root + "/d", "--kill-after", "18"], cwd: root)
        #expect(killed.status != 0)
        let id = try #require(
            killed.stdout.split(separator: "\n").first { $0.hasPrefix("run id: ") }?.split(separator: " ")[2],
            "\(killed.stdout)\(killed.stderr)")
        let status = try await nightshift(["status", "--store", store], cwd: root)
        #expect(
            status.stdout.contains("\(id)") && status.stdout.contains("running"), "\(status.stdout)\(status.stderr)")
        let resumed = try await nightshift(["resume", String(id)], env: ["NIGHTSHIFT_STORE": store], cwd: root)
        #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
        #expect(resumed.stdout.contains("IN DOUBT"), "\(resumed.stdout)")
        #expect(resumed.stdout.contains("run \(id) finished"), "\(resumed.stdout)")
        let verified = try await nightshift(["audit", "verify", "--all", "--store", store], cwd: root)
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        let made = FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? []
        #expect(!made.contains { $0.hasSuffix(".db") || $0.hasSuffix(".db-wal") }, "\(made)")
    }

    /// What cannot be used is said in one line that names the host, the database and the user,
    /// never the password; nothing is made.
    @Test func aServerThatCannotBeUsedIsOneClearLine() async throws {
        let root = tempDir("ns-pg-bad")
        let refused = try await nightshift(["status", "--store", "postgres://nightshift@127.0.0.1:1/app"], cwd: root)
        #expect(refused.status != 0)
        #expect(
            refused.stderr.contains("nightshift@127.0.0.1:1/app") && refused.stderr.contains("connection refused"),
            "\(refused.stderr)")
        #expect(refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")

        let base = try #require(TestPostgres.url.flatMap { URLComponents(string: $0) })
        let host = "\(base.host ?? ""):\(base.port ?? 5432)"
        let store = try await TestPostgres.database(user: "nightshift_password")
        let wrong = try await nightshift(
            ["status", "--store", store], env: ["PGPASSWORD": "a-wrong-password-123"], cwd: root)
        #expect(wrong.status != 0)
        #expect(wrong.stderr.contains("nightshift_password@\(host)/"), "\(wrong.stderr)")
        #expect(wrong.stderr.contains("password authentication failed"), "\(wrong.stderr)")
        #expect(!wrong.stderr.contains("a-wrong-password-123") && !wrong.stdout.contains("a-wrong-password-123"))
        #expect(wrong.stderr.split(separator: "\n").count == 1, "\(wrong.stderr)")
        let right = try await nightshift(
            ["status", "--store", store], env: ["PGPASSWORD": "the-right-password"], cwd: root)
        #expect(right.status == 0, "\(right.stderr)")

        let inAddress = try await nightshift(
            ["status", "--store", "postgres://nightshift_password:the-right-password@\(host)/x"], cwd: root)
        #expect(inAddress.status != 0 && inAddress.stderr.contains("holds a password"), "\(inAddress.stderr)")
        #expect(!inAddress.stderr.contains("the-right-password"))
        let made = FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? []
        #expect(made.isEmpty, "\(made)")
    }
}

import Foundation
import Logging
import NightshiftCore
import NightshiftPostgres
import NightshiftSQLite
import NightshiftTesting
import PostgresNIO
import Testing

/// The stores of the log and the leases: the twin, SQLite, and PostgreSQL when a test server
/// is named in `NIGHTSHIFT_TEST_POSTGRES` (`.ci/run` starts one with
/// `scripts/postgres-for-tests.sh`; in CI its absence fails the tests that need it).
enum LogStoreKind: String, Sendable, CustomTestStringConvertible {
    case memory, sqliteMemory, sqliteFile, postgres
    var testDescription: String { rawValue }

    static var available: [LogStoreKind] {
        let base: [LogStoreKind] = [.memory, .sqliteMemory, .sqliteFile]
        return PostgresFixture.url != nil || ProcessInfo.processInfo.environment["CI"] != nil
            ? base + [.postgres] : base
    }

    func make() async throws -> any EventStore {
        switch self {
        case .memory: return InMemoryEventStore()
        case .sqliteMemory: return try SQLiteEventStore.inMemory()
        case .sqliteFile: return try SQLiteEventStore(path: temporaryDirectory() + "/store.db")
        case .postgres: return try await PostgresFixture.store()
        }
    }
}

/// A new, empty database on the test server for each store, its schema made.
enum PostgresFixture {
    static let url = ProcessInfo.processInfo.environment["NIGHTSHIFT_TEST_POSTGRES"]
    static let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    /// Another store (another host's process) on `other`'s database, its event clock `clockSkew` ms off.
    static func store(sharing other: PostgresEventStore, clockSkew: Int64) async throws -> PostgresEventStore {
        let skewed = PostgresEventStore(
            .init(
                client: other.configuration.client,
                now: { Timestamp(milliseconds: Int64(Date().timeIntervalSince1970 * 1000) + clockSkew) }),
            logger: logger)
        Task { await skewed.run() }
        return skewed
    }

    static func store(now: (@Sendable () -> Timestamp)? = nil) async throws -> PostgresEventStore {
        let url = try #require(
            url, "NIGHTSHIFT_TEST_POSTGRES names no PostgreSQL (scripts/postgres-for-tests.sh start makes one)")
        var admin = try PostgresURL.configuration(url)
        admin.tls = .disable
        let name = "ns_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
        let adminStore = PostgresEventStore(.init(client: admin), logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await adminStore.run() }
            try await adminStore.execute("CREATE DATABASE \(name)")
            group.cancelAll()
        }
        var config = admin
        config.database = String(name)
        // Each store's pool lives as long as the test process: a few connections each, so the
        // hundred-odd stores of a full run stay within the server's connection limit.
        config.options.maximumConnections = 3
        let store = PostgresEventStore(.init(client: config, now: now), logger: logger)
        // The pool runs for the rest of the test process (a store per test, a few connections each).
        Task { await store.run() }
        try await store.migrate()
        return store
    }
}

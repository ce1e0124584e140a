import Foundation
import NightshiftCore
import NightshiftPostgres
import PostgresNIO
import Testing

/// What PostgreSQL does beyond the shared conformance suites: lease times from the database's
/// clock (hosts whose clocks disagree agree on who holds a run), a newer schema refused, and
/// addresses that hold a password or name nothing refused in one line.
@Suite(.enabled(if: PostgresFixture.url != nil || ProcessInfo.processInfo.environment["CI"] != nil))
struct PostgresStoreTests {
    static let holderA = LeaseHolder(host: "a", boot: "b", pid: 1, started: 1)
    static let holderB = LeaseHolder(host: "b", boot: "b", pid: 2, started: 1)

    /// Host B's clock runs an hour ahead: by its own clock (the store's, which stamps its events,
    /// and which SQLite's leases use) A's heartbeat is long stale, but the lease is judged on the
    /// database's clock, so B cannot take the run; A renews, appends with its epoch, and B's
    /// takeover waits until A releases. A lease judged on the store's clock fails here.
    @Test func aSkewedHostClockTakesNoLease() async throws {
        let a = try await PostgresFixture.store()
        let b = try await PostgresFixture.store(sharing: a, clockSkew: 3_600_000)
        let run = RunID("r")
        let lease = try await a.acquireLease(.run(run), holder: Self.holderA, ttl: .seconds(30), isAlive: { _ in true })
        let refused = await #expect(throws: StoreError.self) {
            try await b.acquireLease(.run(run), holder: Self.holderB, ttl: .seconds(30), isAlive: { _ in true })
        }
        #expect(refused?.code == .leaseHeld, "\(String(describing: refused))")
        try await a.renewLease(lease)
        try await a.append(
            [.runCreated(title: "t", workspace: "/w", model: "m", settings: RunSettings())], to: run, expectedSeq: 0,
            snapshot: nil, fence: lease)
        try await a.releaseLease(lease)
        let taken = try await b.acquireLease(.run(run), holder: Self.holderB, ttl: .seconds(30), isAlive: { _ in true })
        #expect(taken.epoch == lease.epoch + 1)
        // The stale holder's append is fenced out.
        let fenced = await #expect(throws: StoreError.self) {
            try await a.append(
                [.noteAdded(task: nil, text: "late")], to: run, expectedSeq: 1, snapshot: nil, fence: lease)
        }
        #expect(fenced?.code == .leaseLost)
        #expect(try await b.read(run, after: 0, limit: 10).count == 1)
    }

    @Test func aNewerSchemaIsRefused() async throws {
        let store = try await PostgresFixture.store()
        try await store.execute("INSERT INTO nightshift_schema (version) VALUES (999)")
        let error = await #expect(throws: StoreError.self) { try await store.migrate() }
        #expect(error?.message.contains("schema is version 999, newer than this nightshift's") == true)
    }

    @Test func anAddressIsCheckedAndNeverHoldsThePassword() {
        for (text, message) in [
            ("postgres://u:secret@h/db", "holds a password"), ("mysql://u@h/db", "is not a postgres://"),
            ("postgres://u@h/", "names no database"), ("postgres://h/db", "names no user"),
            ("postgres://u@h/db?sslmode=maybe", "sslmode must be"),
        ] {
            do {
                _ = try PostgresURL.configuration(text, environment: [:])
                Issue.record("\(text) was accepted")
            } catch {
                #expect(error.description.contains(message), "\(text): \(error)")
                #expect(!error.description.contains("secret"))
            }
        }
        let c = try? PostgresURL.configuration("postgres://ns@db.example:6543/runs", environment: ["PGPASSWORD": "pw"])
        #expect(c?.database == "runs" && c?.username == "ns" && c?.password == "pw" && c?.port == 6543)
    }
}

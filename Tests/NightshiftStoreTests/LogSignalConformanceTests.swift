import Foundation
import Logging
import NightshiftCore
import NightshiftPostgres
import NightshiftSQLite
import NightshiftTesting
import PostgresNIO
import Testing

extension LogStoreKind {
    func makeSignalling() async throws -> any EventStore & RunQueue & LogSignal {
        switch self {
        case .memory: return InMemoryEventStore()
        case .sqliteMemory: return try SQLiteEventStore.inMemory()
        case .sqliteFile: return try SQLiteEventStore(path: temporaryDirectory() + "/store.db")
        case .postgres:
            let store = try await PostgresFixture.store()
            try await PostgresLogSignalTests.hearing(store)
            return store
        }
    }
}

/// Live views and workers wait for appends instead of polling: the same on every store.
/// Every wait here has a long timeout, and each expectation is on what the wait returned (woken
/// or timed out), never on how long it took.
@Suite(.timeLimit(.minutes(2))) struct LogSignalConformanceTests {
    @Test(arguments: LogStoreKind.available)
    func anAppendWakesItsRunsWaitersAndTheWaitersOfAnyRun(kind: LogStoreKind) async throws {
        let store = try await kind.makeSignalling()
        let run = RunID("r")
        let seenRun = await store.generation(of: run)
        let seenAny = await store.generation(of: nil)
        async let woken = store.wait(for: run, past: seenRun, timeout: .seconds(60))
        async let wokenAny = store.wait(for: nil, past: seenAny, timeout: .seconds(60))
        try await store.append(creation(), to: run, expectedSeq: 0)
        #expect(await woken)
        #expect(await wokenAny)
        // An append that landed before the wait began is not missed: the generation was read first.
        let before = await store.generation(of: run)
        try await store.append([.noteAdded(task: nil, text: "n")], to: run, expectedSeq: 2)
        #expect(await store.wait(for: run, past: before, timeout: .seconds(60)))
    }

    @Test(arguments: LogStoreKind.available)
    func anotherRunsAppendDoesNotWakeARunsWaiter(kind: LogStoreKind) async throws {
        let store = try await kind.makeSignalling()
        let seen = await store.generation(of: RunID("quiet"))
        try await store.append(creation(), to: RunID("busy"), expectedSeq: 0)
        #expect(await store.wait(for: RunID("quiet"), past: seen, timeout: .milliseconds(200)) == false)
    }

    @Test(arguments: LogStoreKind.available)
    func aCancelledWaitEndsWithoutAnAppend(kind: LogStoreKind) async throws {
        let store = try await kind.makeSignalling()
        let seen = await store.generation(of: nil)
        let waiter = Task { await store.wait(for: nil, past: seen, timeout: .seconds(3600)) }
        try await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        #expect(await waiter.value == false)
    }

    /// Another process's appends are heard through the database's head files (a second store on
    /// the same file stands for it: it shares nothing in memory with the first).
    @Test func anotherProcesssAppendWakesAWaiter() async throws {
        let path = temporaryDirectory() + "/shared.db"
        let mine = try SQLiteEventStore(path: path)
        let theirs = try SQLiteEventStore(path: path)
        let run = RunID("r")
        let seen = await mine.generation(of: run)
        async let woken = mine.wait(for: run, past: seen, timeout: .seconds(60))
        try await theirs.append(creation(), to: run, expectedSeq: 0)
        #expect(await woken)
    }
}

/// What only PostgreSQL's signal does: other hosts' appends arrive by NOTIFY (a second store on
/// the same database stands for another host; it shares nothing in memory with the first), only
/// for committed appends, and across a lost listening connection.
@Suite(
    .enabled(if: PostgresFixture.url != nil || ProcessInfo.processInfo.environment["CI"] != nil),
    .timeLimit(.minutes(2)))
struct PostgresLogSignalTests {
    /// Returns once `store` listens (and so has made its bump for connecting), or records an issue.
    static func hearing(_ store: PostgresEventStore) async throws {
        for _ in 0..<600 {
            if await store.hearsOtherProcesses() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("the store never started to listen")
    }

    /// Kills every listening backend on `store`'s database, as a server restart or a network cut
    /// would; returns how many.
    static func killListeners(of store: PostgresEventStore) async throws -> Int {
        let client = PostgresClient(configuration: store.configuration.client, backgroundLogger: PostgresFixture.logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            var killed = 0
            for try await ok in try await client.query(
                """
                SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%'
                """, logger: PostgresFixture.logger
            ).decode(Bool.self) where ok { killed += 1 }
            return killed
        }
    }

    @Test func anotherHostsAppendWakesAWaiter() async throws {
        let mine = try await PostgresFixture.store()
        try await Self.hearing(mine)
        let theirs = try await PostgresFixture.store(sharing: mine, clockSkew: 0)
        let run = RunID("r")
        let seen = await mine.generation(of: run)
        let seenAny = await mine.generation(of: nil)
        async let woken = mine.wait(for: run, past: seen, timeout: .seconds(60))
        async let wokenAny = mine.wait(for: nil, past: seenAny, timeout: .seconds(60))
        try await theirs.append(creation(), to: run, expectedSeq: 0)
        #expect(await woken)
        #expect(await wokenAny)
    }

    /// The notification is part of the append's transaction: one refused (a sequence conflict)
    /// sends none. The accepted append after it shows the listener was hearing all along.
    @Test func aRefusedAppendWakesNoOtherHost() async throws {
        let mine = try await PostgresFixture.store()
        try await Self.hearing(mine)
        let theirs = try await PostgresFixture.store(sharing: mine, clockSkew: 0)
        let run = RunID("r")
        let created = await mine.generation(of: run)
        try await theirs.append(creation(), to: run, expectedSeq: 0)
        // Its notification has arrived before the generations below are read.
        #expect(await mine.wait(for: run, past: created, timeout: .seconds(60)))
        let seen = await mine.generation(of: run)
        let seenAny = await mine.generation(of: nil)
        let refused = await #expect(throws: StoreError.self) {
            try await theirs.append([.noteAdded(task: nil, text: "late")], to: run, expectedSeq: 0)
        }
        #expect(refused?.code == .sequenceConflict)
        async let woken = mine.wait(for: run, past: seen, timeout: .seconds(1))
        async let wokenAny = mine.wait(for: nil, past: seenAny, timeout: .seconds(1))
        #expect(await woken == false)
        #expect(await wokenAny == false)
        try await theirs.append([.noteAdded(task: nil, text: "n")], to: run, expectedSeq: 2)
        #expect(await mine.wait(for: run, past: seen, timeout: .seconds(60)))
    }

    /// A killed listening connection is replaced; reconnecting wakes every waiter (an append may
    /// have landed while nobody listened), and later appends are heard again.
    @Test func aKilledListenerReconnectsAndLaterAppendsStillWake() async throws {
        let mine = try await PostgresFixture.store()
        try await Self.hearing(mine)
        let theirs = try await PostgresFixture.store(sharing: mine, clockSkew: 0)
        let run = RunID("r")
        let seen = await mine.generation(of: run)
        #expect(try await Self.killListeners(of: mine) >= 1)
        // No append was made: only the reconnect's bump wakes this.
        #expect(await mine.wait(for: run, past: seen, timeout: .seconds(60)))
        try await Self.hearing(mine)
        let after = await mine.generation(of: run)
        async let woken = mine.wait(for: run, past: after, timeout: .seconds(60))
        try await theirs.append(creation(), to: run, expectedSeq: 0)
        #expect(await woken)
    }
}

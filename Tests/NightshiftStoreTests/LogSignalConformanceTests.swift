import Foundation
import NightshiftCore
import NightshiftSQLite
import NightshiftTesting
import Testing

extension StoreKind {
    func makeSignalling() throws -> any EventStore & RunQueue & LogSignal {
        switch self {
        case .memory: return InMemoryEventStore()
        case .sqliteMemory: return try SQLiteEventStore.inMemory()
        case .sqliteFile: return try SQLiteEventStore(path: temporaryDirectory() + "/store.db")
        }
    }
}

/// Live views and workers wait for appends instead of polling: the same on every store.
/// Every wait here has a long timeout, and each expectation is on what the wait returned (woken
/// or timed out), never on how long it took.
@Suite(.timeLimit(.minutes(2))) struct LogSignalConformanceTests {
    @Test(arguments: StoreKind.allCases)
    func anAppendWakesItsRunsWaitersAndTheWaitersOfAnyRun(kind: StoreKind) async throws {
        let store = try kind.makeSignalling()
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

    @Test(arguments: StoreKind.allCases)
    func anotherRunsAppendDoesNotWakeARunsWaiter(kind: StoreKind) async throws {
        let store = try kind.makeSignalling()
        let seen = await store.generation(of: RunID("quiet"))
        try await store.append(creation(), to: RunID("busy"), expectedSeq: 0)
        #expect(await store.wait(for: RunID("quiet"), past: seen, timeout: .milliseconds(200)) == false)
    }

    @Test(arguments: StoreKind.allCases)
    func aCancelledWaitEndsWithoutAnAppend(kind: StoreKind) async throws {
        let store = try kind.makeSignalling()
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

import Foundation
import GRDB
import NightshiftCore
import NightshiftSQLite
import NightshiftTesting
import Testing

extension LogStoreKind {
    func makeQueued(
        now: @escaping @Sendable () -> Timestamp = { Timestamp(milliseconds: 1_000) }
    ) async throws -> any EventStore
        & RunQueue
    {
        switch self {
        case .memory: return InMemoryEventStore(now: now)
        case .sqliteMemory: return try SQLiteEventStore.inMemory(configuration: .init(now: now))
        case .sqliteFile:
            return try SQLiteEventStore(path: temporaryDirectory() + "/store.db", configuration: .init(now: now))
        case .postgres: return try await PostgresFixture.store(now: now)
        }
    }
}

/// The run queue the appends keep, the same on every store: what enters it, what leaves it, and
/// that a worker's settle never loses a wake that landed after its check.
@Suite struct RunQueueConformanceTests {
    static let far = Timestamp(milliseconds: .max / 2)

    func child(of parent: RunID) -> [Event] {
        var settings = RunSettings()
        settings.parent = ParentLink(run: parent, call: CallID("m1.1"), depth: 1)
        return [
            .runCreated(title: "c", workspace: "/w", model: "scripted:x", settings: settings), .planSet(plan: plan),
        ]
    }

    @Test(arguments: LogStoreKind.available)
    func aPausedRunIsQueuedOnlyOnceAPersonDecides(kind: LogStoreKind) async throws {
        let store = try await kind.makeQueued()
        let run = RunID("r")
        try await store.append(creation(), to: run, expectedSeq: 0)
        #expect(try await store.queued().isEmpty)  // a root run is driven by whoever started it
        try await store.append([.runPaused(reason: "awaiting approval", kind: .approval)], to: run, expectedSeq: 2)
        #expect(try await store.queued().isEmpty)  // it waits for a person, not for a worker
        try await store.append(
            [.approvalDecided(call: CallID("m1"), approved: true, by: "alice", note: "", argumentsHash: "")],
            to: run, expectedSeq: 3)
        let due = try await store.due(now: Timestamp(milliseconds: 1_000), limit: 10)
        #expect(due.map(\.run) == [run] && due.first?.reason == .decision)
        try await store.append([.runResumed(by: "worker")], to: run, expectedSeq: 4)
        #expect(try await store.queued().isEmpty)  // driven again: out of the queue
    }

    @Test(arguments: LogStoreKind.available)
    func aSubAgentIsQueuedWhileRunningAndItsEndWakesItsParent(kind: LogStoreKind) async throws {
        let store = try await kind.makeQueued()
        let parent = RunID("p")
        let kid = RunID("p.m1.1.1")
        try await store.append(creation(), to: parent, expectedSeq: 0)
        try await store.append(
            [
                .waitStarted(call: CallID("m2"), agents: [kid], need: 1, deadline: nil),
                .runPaused(reason: "waiting", kind: .agents),
            ], to: parent, expectedSeq: 2)
        #expect(try await store.queued().map(\.reason) == [.wait])  // checked once at once
        let check = try #require(try await store.queued().first)
        #expect(try await store.settle(check, until: nil))  // not ready: out until something wakes it
        try await store.append(child(of: parent), to: kid, expectedSeq: 0)
        #expect(try await store.queued().map(\.run) == [kid])  // any worker may drive it if its process dies
        try await store.append([.runFinished(summary: "done")], to: kid, expectedSeq: 2)
        let after = try await store.queued()
        #expect(after.map(\.run) == [parent] && after.first?.reason == .childEnded)
    }

    @Test(arguments: LogStoreKind.available)
    func aParkedWaitIsDueAtItsDeadlineOrWhenWokenAndAStaleSettleLosesNothing(kind: LogStoreKind) async throws {
        let store = try await kind.makeQueued()
        let parent = RunID("p")
        try await store.append(creation(), to: parent, expectedSeq: 0)
        try await store.append([.runPaused(reason: "waiting", kind: .agents)], to: parent, expectedSeq: 2)
        let read = try #require(try await store.due(now: Timestamp(milliseconds: 1_000), limit: 10).first)
        #expect(try await store.settle(read, until: Timestamp(milliseconds: 5_000)))
        #expect(try await store.due(now: Timestamp(milliseconds: 4_999), limit: 10).isEmpty)
        #expect(try await store.due(now: Timestamp(milliseconds: 5_000), limit: 10).map(\.run) == [parent])
        // A sub-agent ends after a worker read the entry: the worker's settle of what it read is
        // refused, and the wake stays due now.
        let stale = try #require(try await store.queued().first)
        try await store.append(child(of: parent), to: RunID("k"), expectedSeq: 0)
        try await store.append([.runFailed(reason: "x")], to: RunID("k"), expectedSeq: 2)
        #expect(try await store.settle(stale, until: nil) == false)
        #expect(try await store.settle(stale, until: Self.far) == false)
        let woken = try await store.due(now: Timestamp(milliseconds: 1_000), limit: 10)
        #expect(woken.map(\.run) == [parent] && woken.first?.reason == .childEnded)
    }

    @Test(arguments: LogStoreKind.available)
    func anEndedRunLeavesTheQueueAndDueHonoursItsLimit(kind: LogStoreKind) async throws {
        let store = try await kind.makeQueued()
        for n in 0..<5 {
            let run = RunID("r\(n)")
            try await store.append(creation(), to: run, expectedSeq: 0)
            try await store.append(
                [.runPaused(reason: "budget", kind: .budget), .budgetSet(scope: .run, budget: Budget(), by: "bob")],
                to: run, expectedSeq: 2)
        }
        #expect(try await store.due(now: Timestamp(milliseconds: 1_000), limit: 3).count == 3)
        try await store.append([.runFailed(reason: "cancelled")], to: RunID("r0"), expectedSeq: 4)
        #expect(try await store.queued().map(\.run.rawValue) == ["r1", "r2", "r3", "r4"])
    }
}

/// A database written before the queue existed gets it on open: every paused run and running
/// sub-agent is queued once to be checked, and sub-agents learn their parent (so their end wakes it).
@Suite struct RunQueueUpgradeTests {
    @Test func anOlderDatabaseIsQueuedOnOpen() async throws {
        let path = temporaryDirectory() + "/old.db"
        do {
            let store = try SQLiteEventStore(path: path)
            try await store.append(creation(), to: RunID("paused"), expectedSeq: 0)
            try await store.append([.runPaused(reason: "x", kind: .escalation)], to: RunID("paused"), expectedSeq: 2)
            try await store.append(creation(), to: RunID("root"), expectedSeq: 0)
            var settings = RunSettings()
            settings.parent = ParentLink(run: RunID("root"), call: CallID("m1"), depth: 1)
            try await store.append(
                [.runCreated(title: "k", workspace: "/w", model: "scripted:x", settings: settings)], to: RunID("kid"),
                expectedSeq: 0)
            try await store.append(creation(), to: RunID("done"), expectedSeq: 0)
            try await store.append([.runFinished(summary: "s")], to: RunID("done"), expectedSeq: 2)
        }
        // Undo the upgrade, as a database of the previous version has it (and the later
        // migrations that index the parent column: applied again after it).
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            try db.execute(
                sql: """
                    DROP TABLE run_queue;
                    DROP TABLE retention_log;
                    DROP INDEX run_by_parent;
                    DROP INDEX event_blob_lists;
                    ALTER TABLE run DROP COLUMN parent;
                    DELETE FROM grdb_migrations WHERE identifier IN ('v7-run-queue', 'v10-retention');
                    """)
        }
        try queue.close()
        let store = try SQLiteEventStore(path: path)
        let queued = try await store.queued()
        #expect(Set(queued.map(\.run.rawValue)) == ["paused", "kid"])
        #expect(queued.allSatisfy { $0.reason == .upgraded })
        // The sub-agent's parent was recorded: its end wakes the root.
        try await store.append([.runFinished(summary: "s")], to: RunID("kid"), expectedSeq: 1)
        #expect(Set(try await store.queued().map(\.run.rawValue)) == ["paused", "root"])
    }
}

/// Every due entry is reached page by page, so entries that stay due never hide those behind them;
/// and a reconcile queues what a binary that keeps no queue left out, once.
@Suite struct RunQueuePagingTests {
    @Test(arguments: LogStoreKind.available)
    func aReaderPagesThroughEveryDueEntry(kind: LogStoreKind) async throws {
        let store = try await kind.makeQueued()
        for n in 0..<7 {
            let run = RunID("r\(n)")
            try await store.append(creation(), to: run, expectedSeq: 0)
            try await store.append(
                [.runPaused(reason: "ask", kind: .escalation), .guidanceGiven(text: "go", by: "bob")], to: run,
                expectedSeq: 2)
        }
        var seen: [String] = []
        var after: QueuedRun?
        while true {
            let page = try await store.due(now: Timestamp(milliseconds: 1_000), after: after, limit: 3)
            seen += page.map(\.run.rawValue)
            guard page.count == 3 else { break }
            after = page.last
        }
        #expect(seen == (0..<7).map { "r\($0)" })
        // A parked entry is not due before its time, and keeps its place after it.
        let first = try #require(try await store.queued().first)
        #expect(try await store.settle(first, until: Timestamp(milliseconds: 5_000)))
        #expect(try await store.due(now: Timestamp(milliseconds: 4_999), limit: 10).count == 6)
        #expect(try await store.due(now: Timestamp(milliseconds: 5_000), limit: 10).last?.run == first.run)
        #expect(try await store.nextDue() == Timestamp(milliseconds: 0))
    }

    @Test(arguments: LogStoreKind.available)
    func aReconcileOfAConsistentQueueQueuesNothing(kind: LogStoreKind) async throws {
        let store = try await kind.makeQueued()
        try await store.append(creation(), to: RunID("r"), expectedSeq: 0)
        try await store.append([.runPaused(reason: "ask", kind: .approval)], to: RunID("r"), expectedSeq: 2)
        let paused = try await store.reconcile()  // a paused run nobody queued yet is queued to be checked
        #expect(paused == 1)
        #expect(try await store.reconcile() == 0)
        #expect(try await store.queued().map(\.reason) == [.upgraded])
    }
}

/// A binary that predates the queue appends to the same database without keeping it: a worker's
/// reconcile finds what it left unqueued.
@Suite struct RunQueueReconcileTests {
    @Test func whatAnOlderBinaryAppendedIsQueuedByReconcile() async throws {
        let path = temporaryDirectory() + "/mixed.db"
        let store = try SQLiteEventStore(path: path)
        try await store.append(creation(), to: RunID("root"), expectedSeq: 0)
        var settings = RunSettings()
        settings.parent = ParentLink(run: RunID("root"), call: CallID("m1"), depth: 1)
        try await store.append(
            [.runCreated(title: "k", workspace: "/w", model: "scripted:x", settings: settings)], to: RunID("kid"),
            expectedSeq: 0)
        try await store.append([.runPaused(reason: "x", kind: .approval)], to: RunID("root"), expectedSeq: 2)
        try await store.append([.guidanceGiven(text: "go", by: "bob")], to: RunID("root"), expectedSeq: 3)
        // As the older binary leaves it: no queue entries, no parent recorded.
        let raw = try DatabaseQueue(path: path)
        try await raw.write { db in try db.execute(sql: "DELETE FROM run_queue; UPDATE run SET parent = NULL") }
        try raw.close()
        #expect(try await store.queued().isEmpty)
        #expect(try await store.reconcile() == 2)
        #expect(Set(try await store.queued().map(\.run.rawValue)) == ["root", "kid"])
        // The parent was recorded again: the sub-agent's end wakes the root.
        let root = try #require(try await store.queued().first { $0.run == RunID("root") })
        #expect(try await store.settle(root, until: nil))
        try await store.append([.runFinished(summary: "s")], to: RunID("kid"), expectedSeq: 1)
        #expect(try await store.queued().map(\.reason) == [.childEnded])
    }
}

import Foundation
import NightshiftCore
import NightshiftSQLite
import NightshiftTesting
import Testing

enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case memory, sqliteMemory, sqliteFile
    var testDescription: String { rawValue }

    func make() throws -> any EventStore {
        switch self {
        case .memory: return InMemoryEventStore()
        case .sqliteMemory: return try SQLiteEventStore.inMemory()
        case .sqliteFile: return try SQLiteEventStore(path: temporaryDirectory() + "/store.db")
        }
    }
}

func temporaryDirectory() -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("ns-test-\(UUID().uuidString)").path
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

let plan = Plan(title: "p", tasks: [PlanTask(id: TaskID("t"), description: "d", checks: [])])
func creation(_ title: String = "title") -> [Event] {
    [.runCreated(title: title, workspace: "/w", model: "scripted:x", settings: RunSettings()), .planSet(plan: plan)]
}

/// One suite, every store: the in-memory twin must behave exactly like SQLite.
@Suite struct EventStoreConformanceTests {
    @Test(arguments: LogStoreKind.available)
    func appendAssignsGapFreeSequenceAndChainedHashes(kind: LogStoreKind) async throws {
        let store = try await kind.make()
        let run = RunID("r1")
        let first = try await store.append(creation(), to: run, expectedSeq: 0)
        let second = try await store.append([.taskStarted(task: TaskID("t"), attempt: 1)], to: run, expectedSeq: 2)
        #expect(first.map(\.seq) == [1, 2])
        #expect(second.map(\.seq) == [3])
        let all = try await store.readAll(run)
        #expect(all == first + second)
        #expect(
            all[0].hash
                == EventCodec.chain(
                    EventCodec.genesisHash,
                    try EventCodec.encode(
                        all[0].event, run: run, seq: 1, time: all[0].time, previousHash: EventCodec.genesisHash
                    ).body))
        #expect(try RunState.fold(run, all).lastSeq == 3)
    }

    /// What the memory bank reads across runs (proposals, shown memories) is found in every run
    /// without reading whole logs, each event decoded as a read would.
    @Test(arguments: LogStoreKind.available)
    func eventsOfOneKindAreFoundInEveryRun(kind: LogStoreKind) async throws {
        let store = try await kind.make()
        let shown = ShownMemory(id: MemoryID("mem-1"), version: 1, kind: .lesson, text: "make first")
        for r in ["a", "b"] {
            try await store.append(creation(), to: RunID(r), expectedSeq: 0)
            try await store.append(
                [
                    .taskStarted(task: TaskID("t"), attempt: 1), .memoriesShown(task: TaskID("t"), memories: [shown]),
                    .noteAdded(task: TaskID("t"), text: "n"),
                ], to: RunID(r), expectedSeq: 2)
        }
        let found = try await store.events(of: .memoriesShown)
        #expect(Set(found.map { "\($0.run)#\($0.seq)" }) == ["a#4", "b#4"])
        #expect(found.allSatisfy { $0.event == .memoriesShown(task: TaskID("t"), memories: [shown]) })
        #expect(try await store.events(of: .memoryProposed).isEmpty)
        // A kind no index holds is found too (by reading everything).
        #expect(try await store.events(of: .taskStarted).count == 2)
    }

    @Test(arguments: LogStoreKind.available)
    func staleExpectedSequenceGetsAConflictAndWritesNothing(kind: LogStoreKind) async throws {
        let store = try await kind.make()
        let run = RunID("r1")
        try await store.append(creation(), to: run, expectedSeq: 0)
        let error = await #expect(throws: StoreError.self) {
            try await store.append([.runPaused(reason: "x")], to: run, expectedSeq: 1)
        }
        #expect(error?.code == .sequenceConflict)
        await #expect(throws: StoreError.self) { try await store.append(creation(), to: run, expectedSeq: 0) }
        #expect(try await store.readAll(run).count == 2)
        #expect(try await store.summary(of: run)?.status == .running)
    }

    @Test(arguments: LogStoreKind.available)
    func concurrentWritersOfOneRunNeverInterleave(kind: LogStoreKind) async throws {
        let store = try await kind.make()
        let run = RunID("r1")
        try await store.append(creation(), to: run, expectedSeq: 0)
        // 20 writers all believe the head is 2: exactly one wins.
        let wins = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<20 {
                group.addTask {
                    (try? await store.append([.noteWritten(task: nil, text: Payload("w\(i)"))], to: run, expectedSeq: 2))
                        != nil
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(wins == 1)
        #expect(try await store.readAll(run).count == 3)
    }

    @Test(arguments: LogStoreKind.available)
    func manyRunsAppendingAtOnceStayConsistent(kind: LogStoreKind) async throws {
        let store = try await kind.make()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for r in 0..<40 {
                group.addTask {
                    let run = RunID("run-\(r)")
                    try await store.append(creation("t\(r)"), to: run, expectedSeq: 0)
                    for k in 0..<10 {
                        try await store.append(
                            [.noteWritten(task: nil, text: Payload("n\(k)"))], to: run, expectedSeq: Int64(2 + k))
                    }
                }
            }
            try await group.waitForAll()
        }
        let runs = try await store.runs()
        #expect(runs.count == 40)
        for r in runs {
            #expect(r.headSeq == 12)
            #expect(try await store.verify(r.id).ok)
        }
    }

    @Test(arguments: LogStoreKind.available)
    func rangeReadsReturnTheAskedWindow(kind: LogStoreKind) async throws {
        let store = try await kind.make()
        let run = RunID("r1")
        try await store.append(creation(), to: run, expectedSeq: 0)
        try await store.append(
            (1...10).map { .noteWritten(task: nil, text: Payload("n\($0)")) }, to: run, expectedSeq: 2)
        let window = try await store.read(run, after: 4, limit: 3)
        #expect(window.map(\.seq) == [5, 6, 7])
        #expect(try await store.read(run, after: 12, limit: 10).isEmpty)
        #expect(try await store.read(run, after: 10, limit: 10).map(\.seq) == [11, 12])
    }

    @Test(arguments: LogStoreKind.available)
    func runIndexTracksTitleStatusAndHead(kind: LogStoreKind) async throws {
        let store = try await kind.make()
        try await store.append(creation("first"), to: RunID("a"), expectedSeq: 0)
        try await store.append(creation("second"), to: RunID("b"), expectedSeq: 0)
        try await store.append([.runPaused(reason: "x")], to: RunID("b"), expectedSeq: 2)
        let b = try #require(try await store.summary(of: RunID("b")))
        #expect(b.title == "second")
        #expect(b.status == .paused)
        #expect(b.headSeq == 3)
        #expect(Set(try await store.runs().map(\.id)) == [RunID("a"), RunID("b")])
        #expect(try await store.summary(of: RunID("nope")) == nil)
        let missing = await #expect(throws: StoreError.self) {
            try await store.read(RunID("nope"), after: 0, limit: 10)
        }
        #expect(missing?.code == .runNotFound)
    }

    /// A page of the run index costs its page: newest first, by status, with the whole count.
    @Test(arguments: LogStoreKind.available)
    func theRunIndexIsReadAPageAtATime(kind: LogStoreKind) async throws {
        let store = try await kind.make()
        for n in 1...5 {
            try await store.append(creation("run \(n)"), to: RunID("r\(n)"), expectedSeq: 0)
            if n % 2 == 0 {
                try await store.append([.runFinished(summary: "done")], to: RunID("r\(n)"), expectedSeq: 2)
            }
        }
        let all = try await store.runs().map(\.id)
        let first = try await store.runs(status: nil, limit: 2, offset: 0)
        #expect(first.runs.map(\.id) == Array(all.prefix(2)) && first.total == 5)
        let last = try await store.runs(status: nil, limit: 2, offset: 4)
        #expect(last.runs.map(\.id) == [all[4]] && last.total == 5)
        let finished = try await store.runs(status: .finished, limit: 10, offset: 0)
        #expect(Set(finished.runs.map(\.id)) == [RunID("r2"), RunID("r4")] && finished.total == 2)
        #expect(try await store.runs(status: .paused, limit: 10, offset: 0).total == 0)
        #expect(try await store.runs(status: nil, limit: 10, offset: 99).runs.isEmpty)
    }

    @Test(arguments: LogStoreKind.available)
    func aRunMustBeginWithRunCreated(kind: LogStoreKind) async throws {
        let store = try await kind.make()
        await #expect(throws: StoreError.self) {
            try await store.append([.runPaused(reason: "x")], to: RunID("r"), expectedSeq: 0)
        }
        #expect(try await store.runs().isEmpty)
    }

    @Test(arguments: LogStoreKind.available)
    func snapshotIsStoredWithTheAppendAndReadBack(kind: LogStoreKind) async throws {
        let store = try await kind.make()
        let run = RunID("r1")
        #expect(try await store.latestSnapshot(of: run) == nil)
        try await store.append(creation(), to: run, expectedSeq: 0)
        try await store.append(
            [.noteWritten(task: nil, text: "x")], to: run, expectedSeq: 2, snapshot: Snapshot(seq: 2, state: [1, 2, 3]))
        #expect(try await store.latestSnapshot(of: run) == Snapshot(seq: 2, state: [1, 2, 3]))
        // A conflicting append stores no snapshot either.
        _ = try? await store.append(
            [.noteWritten(task: nil, text: "y")], to: run, expectedSeq: 1, snapshot: Snapshot(seq: 3, state: [9]))
        #expect(try await store.latestSnapshot(of: run) == Snapshot(seq: 2, state: [1, 2, 3]))
    }

    @Test(arguments: LogStoreKind.available)
    func largePayloadsRoundTripAndVerify(kind: LogStoreKind) async throws {
        let store = try await kind.make()
        let run = RunID("r1")
        let big = Payload(String(repeating: "abcdefgh", count: 4000))  // 32 KB
        try await store.append(creation(), to: run, expectedSeq: 0)
        try await store.append(
            [.noteWritten(task: nil, text: big), .noteWritten(task: nil, text: big)], to: run, expectedSeq: 2)
        let events = try await store.readAll(run)
        #expect(events[2].event == .noteWritten(task: nil, text: big))
        #expect(events[3].event == .noteWritten(task: nil, text: big))
        #expect(try await store.verify(run).ok)
    }

    @Test(arguments: LogStoreKind.available)
    func untouchedLogVerifies(kind: LogStoreKind) async throws {
        let store = try await kind.make()
        let run = RunID("r1")
        try await store.append(creation(), to: run, expectedSeq: 0)
        try await store.append([.runPaused(reason: "x")], to: run, expectedSeq: 2)
        let report = try await store.verify(run)
        #expect(report.ok)
        #expect(report.events == 3)
    }
}

@Suite struct InMemoryTamperTests {
    @Test func editedRecordIsReportedAtItsSeq() async throws {
        let store = InMemoryEventStore()
        let run = RunID("r1")
        try await store.append(creation() + [.runPaused(reason: "x"), .runResumed(by: "y")], to: run, expectedSeq: 0)
        var body = try #require(await store.body(run, seq: 3))
        body = Data(String(decoding: body, as: UTF8.self).replacingOccurrences(of: "\"x\"", with: "\"z\"").utf8)
        await store.tamper(run, seq: 3, body: body)
        let report = try await store.verify(run)
        #expect(report.firstBadSeq == 3)
        await #expect(throws: StoreError.self) { try await store.readAll(run) }
    }

    @Test func deletedRecordIsReported() async throws {
        let store = InMemoryEventStore()
        let run = RunID("r1")
        try await store.append(creation() + [.runPaused(reason: "x"), .runResumed(by: "y")], to: run, expectedSeq: 0)
        await store.delete(run, seq: 2)
        #expect(try await store.verify(run).firstBadSeq == 2)
    }
}

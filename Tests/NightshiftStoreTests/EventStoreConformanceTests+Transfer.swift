import Foundation
import NightshiftCore
import NightshiftSQLite
import NightshiftTesting
import Testing

extension LogStoreKind {
    /// The store with what moving runs needs: its queue and its retention log.
    func makeMovable() async throws -> any EventStore & RunQueue & LogRetention {
        switch self {
        case .memory: return InMemoryEventStore()
        case .sqliteMemory: return try SQLiteEventStore.inMemory()
        case .sqliteFile: return try SQLiteEventStore(path: temporaryDirectory() + "/store.db")
        case .postgres: return try await PostgresFixture.store()
        }
    }
}

/// A finished run with a payload big enough to be a blob, a snapshot its log vouches for, and the
/// blob shared with a second run when `sharing` names one.
func finishedRun(_ run: RunID, in store: any EventStore, parent: RunID? = nil, text: String = "shared") async throws {
    var settings = RunSettings()
    if let parent { settings.parent = ParentLink(run: parent, call: CallID("m1.1"), depth: 1) }
    try await store.append(
        [
            .runCreated(title: "t \(run)", workspace: "/w", model: "scripted:x", settings: settings),
            .planSet(plan: plan),
        ],
        to: run, expectedSeq: 0)
    let big = Payload(String(repeating: text + " ", count: 2000))  // past the inline limit: a blob
    try await store.append([.noteWritten(task: nil, text: big)], to: run, expectedSeq: 2)
    let state = try await store.state(of: run)
    let snapshot = Snapshot(seq: 3, state: Array(try JSONEncoder().encode(state)))
    try await store.append(
        [.snapshotTaken(seq: 3, sha256: Payload.blobKey(Data(snapshot.state)))], to: run, expectedSeq: 3,
        snapshot: snapshot)
    try await store.append([.runFinished(summary: "done")], to: run, expectedSeq: 4)
}

func pruned(_ run: RunID, root: RunID? = nil, from store: any EventStore) async throws -> PrunedRun {
    let records = try await store.records(of: run)
    return PrunedRun(
        run: run, root: root ?? run, headSeq: records.summary.headSeq, headHash: records.headHash.hex,
        exportFile: "/exports/\(root ?? run).jsonl", exportSHA256: String(repeating: "0", count: 64),
        time: Timestamp(milliseconds: 5), by: "alice")
}

/// Moving runs between stores (`records(of:)`, `restore`) and pruning them, the same on every store.
extension EventStoreConformanceTests {
    /// Every store writes another's records as they were: the same bytes, hashes, times, blobs,
    /// index entry and vouched snapshot; the log verifies and appends go on after it.
    @Test(arguments: LogStoreKind.available)
    func aRunRestoredFromAnotherStoreIsTheSameLog(kind: LogStoreKind) async throws {
        let source = try SQLiteEventStore.inMemory(
            configuration: .init(now: { Timestamp(milliseconds: 1_700_000_000_000) }))
        let run = RunID("moved")
        try await finishedRun(run, in: source)
        let records = try await source.records(of: run)
        #expect(records.blobs.count == 1 && records.snapshot?.seq == 3)

        let store = try await kind.makeMovable()
        try await store.restore([records])
        #expect(try await store.readAll(run) == (try await source.readAll(run)))
        #expect(try await store.summary(of: run) == (try await source.summary(of: run)))
        #expect(try await store.latestSnapshot(of: run) == records.snapshot)
        #expect(try await store.verify(run).ok)
        #expect(try await store.verifyChain(run).ok)
        let again = try await store.records(of: run)
        #expect(again.records == records.records && again.blobs == records.blobs)
        // The log goes on from its head there.
        try await store.append([.noteWritten(task: nil, text: "after")], to: run, expectedSeq: 5)
        #expect(try await store.verify(run).ok)
    }

    /// A run already in the store is refused, and so is the whole batch: nothing is written.
    @Test(arguments: LogStoreKind.available)
    func restoringARunThatIsThereWritesNothing(kind: LogStoreKind) async throws {
        let source = InMemoryEventStore()
        try await finishedRun(RunID("new"), in: source)
        try await finishedRun(RunID("old"), in: source)
        let store = try await kind.makeMovable()
        try await store.append(creation(), to: RunID("old"), expectedSeq: 0)
        let error = await #expect(throws: StoreError.self) {
            try await store.restore([
                try await source.records(of: RunID("new")), try await source.records(of: RunID("old")),
            ])
        }
        #expect(error?.code == .runExists && error?.message.contains("old") == true)
        #expect(try await store.summary(of: RunID("new")) == nil)
        #expect(try await store.summary(of: RunID("old"))?.headSeq == 2)
        #expect(try await store.runs().count == 1)
    }

    /// The queue stands as the appends left it: a paused run a person decided on is found by a
    /// worker, a running sub-agent too; a root a person drives, or one waiting for a person, is not.
    @Test(arguments: LogStoreKind.available)
    func aRestoredRunIsQueuedAsItsAppendsLeftIt(kind: LogStoreKind) async throws {
        let source = InMemoryEventStore()
        let decided = RunID("decided")
        try await source.append(creation(), to: decided, expectedSeq: 0)
        try await source.append([.runPaused(reason: "approval", kind: .approval)], to: decided, expectedSeq: 2)
        try await source.append(
            [.approvalDecided(call: CallID("m1"), approved: true, by: "alice", note: "", argumentsHash: "")],
            to: decided, expectedSeq: 3)
        let waiting = RunID("waiting")
        try await source.append(creation(), to: waiting, expectedSeq: 0)
        try await source.append([.runPaused(reason: "approval", kind: .approval)], to: waiting, expectedSeq: 2)
        let driven = RunID("driven")
        try await source.append(creation(), to: driven, expectedSeq: 0)
        var settings = RunSettings()
        settings.parent = ParentLink(run: driven, call: CallID("m1.1"), depth: 1)
        let kid = RunID("driven.m1.1.1")
        try await source.append(
            [.runCreated(title: "c", workspace: "/w", model: "scripted:x", settings: settings), .planSet(plan: plan)],
            to: kid, expectedSeq: 0)

        let store = try await kind.makeMovable()
        try await store.restore(
            try await [decided, waiting, driven, kid].asyncMap { try await source.records(of: $0) })
        let queued = try await store.queued()
        #expect(Set(queued.map(\.run)) == [decided, kid], "\(queued)")
        #expect(queued.first { $0.run == decided }?.reason == .decision)
        #expect(try await store.summary(of: waiting)?.status == .paused)
        #expect(try await store.summary(of: driven)?.status == .running)
    }

    /// What does not verify never becomes records: an edited body, a gap, a missing or altered blob.
    @Test func recordsThatDoNotVerifyAreRefusedOneLineEach() async throws {
        let source = InMemoryEventStore()
        let run = RunID("r")
        try await finishedRun(run, in: source)
        let good = try await source.records(of: run)
        func attempt(
            _ change: (inout [(seq: Int64, body: Data, hash: [UInt8], blobKeys: [String])], inout [String: Data]) ->
                Void
        ) -> String? {
            var records = good.records.map { (seq: $0.seq, body: $0.body, hash: $0.hash, blobKeys: $0.blobKeys) }
            var blobs = good.blobs
            change(&records, &blobs)
            do {
                _ = try RunRecords(run: run, records: records, blobs: blobs, snapshot: nil)
                return nil
            } catch { return error.message }
        }
        #expect(attempt { _, _ in } == nil)
        let edited = attempt { records, _ in
            records[1].body = Data(
                String(decoding: records[1].body, as: UTF8.self).replacingOccurrences(of: "\"p\"", with: "\"q\"").utf8)
        }
        #expect(edited == "run r: event 2 is corrupt (its hash does not chain)", "\(edited ?? "")")
        #expect(attempt { records, _ in records.remove(at: 1) } == "run r: event 2 is missing")
        let key = try #require(good.blobs.keys.first)
        #expect(attempt { _, blobs in blobs[key] = nil }?.contains("refers to a missing payload") == true)
        #expect(attempt { _, blobs in blobs[key] = Data("other".utf8) }?.contains("does not match its hash") == true)
        // Another run's records under this run's id: the bodies name their run.
        #expect(throws: StoreError.self) {
            _ = try RunRecords(
                run: RunID("x"),
                records: good.records.map { (seq: $0.seq, body: $0.body, hash: $0.hash, blobKeys: $0.blobKeys) },
                blobs: good.blobs, snapshot: nil)
        }
    }

    /// A prune deletes the run whole (events, snapshot, the blobs no other run refers to, its
    /// index entry) and logs it, in one transaction; a blob another run shares stays.
    @Test(arguments: LogStoreKind.available)
    func aPrunedRunIsGoneAndLoggedAndSharedBlobsStay(kind: LogStoreKind) async throws {
        let store = try await kind.makeMovable()
        try await finishedRun(RunID("a"), in: store)
        try await finishedRun(RunID("b"), in: store)  // the same big note: the same blob
        try await finishedRun(RunID("c"), in: store, text: "own")
        let record = try await pruned(RunID("a"), from: store)
        try await store.prune([record])
        #expect(try await store.summary(of: RunID("a")) == nil)
        #expect(try await store.latestSnapshot(of: RunID("a")) == nil)
        #expect(try await store.prunings() == [record])
        #expect(try await store.pruning(of: RunID("a")) == record)
        #expect(try await store.pruning(of: RunID("b")) == nil)
        // b still reads its blob; c's own goes with it.
        #expect(try await store.verify(RunID("b")).ok)
        let cBlob = try #require(try await store.records(of: RunID("c")).blobs.keys.first)
        try await store.prune([try await pruned(RunID("c"), from: store)])
        #expect(try await store.prunings().count == 2)
        // Restored from what was exported, c reads again (its blob written back).
        let copy = InMemoryEventStore()
        try await finishedRun(RunID("c"), in: copy, text: "own")
        let back = try await copy.records(of: RunID("c"))
        #expect(back.blobs.keys.first == cBlob)
        try await store.restore([back])
        #expect(try await store.verify(RunID("c")).ok)
    }

    /// A run still needed is never pruned, and a refusal deletes nothing: a run not ended, one
    /// that moved since its export, a sub-agent left out of the tree, a parent that still runs.
    @Test(arguments: LogStoreKind.available)
    func aRunStillNeededIsNotPrunedAndNothingIsDeleted(kind: LogStoreKind) async throws {
        let store = try await kind.makeMovable()
        try await store.append(creation(), to: RunID("live"), expectedSeq: 0)
        let live = try await store.records(of: RunID("live"))
        let refusal = await #expect(throws: StoreError.self) {
            try await store.prune([
                PrunedRun(
                    run: RunID("live"), root: RunID("live"), headSeq: 2, headHash: live.headHash.hex, exportFile: "f",
                    exportSHA256: "", time: Timestamp(milliseconds: 1), by: "x")
            ])
        }
        #expect(refusal?.code == .stillNeeded)

        try await finishedRun(RunID("p"), in: store)
        try await finishedRun(RunID("p.m1.1.1"), in: store, parent: RunID("p"))
        var moved = try await pruned(RunID("p"), from: store)
        moved.headSeq -= 1
        #expect(await (try? store.prune([moved])) == nil)
        let leftOut = await #expect(throws: StoreError.self) {
            try await store.prune([try await pruned(RunID("p"), from: store)])
        }
        #expect(leftOut?.code == .stillNeeded && leftOut?.message.contains("p.m1.1.1") == true)
        // A sub-agent whose parent still runs.
        try await finishedRun(RunID("live.m1.1.1"), in: store, parent: RunID("live"))
        let parentLive = await #expect(throws: StoreError.self) {
            try await store.prune([try await pruned(RunID("live.m1.1.1"), root: RunID("live.m1.1.1"), from: store)])
        }
        #expect(parentLive?.code == .stillNeeded)
        #expect(try await store.runs().count == 4)
        #expect(try await store.prunings().isEmpty)
        for r in try await store.runs() { #expect(try await store.verify(r.id).ok) }
        // The tree whole is pruned at once.
        try await store.prune([
            try await pruned(RunID("p"), from: store),
            try await pruned(RunID("p.m1.1.1"), root: RunID("p"), from: store),
        ])
        #expect(Set(try await store.runs().map(\.id)) == [RunID("live"), RunID("live.m1.1.1")])
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async throws -> [T] {
        var out: [T] = []
        for e in self { out.append(try await transform(e)) }
        return out
    }
}

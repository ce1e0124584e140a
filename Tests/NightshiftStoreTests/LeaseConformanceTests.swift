import Foundation
import NightshiftCore
import NightshiftSQLite
import NightshiftTesting
import Testing

/// One process drives a run at a time: the lease and its fencing, the same on every store.
@Suite struct LeaseConformanceTests {
    static let me = LeaseHolder(host: "h1", boot: "b", pid: 100, started: 7)
    static let other = LeaseHolder(host: "h1", boot: "b", pid: 200, started: 9)

    @Test(arguments: LogStoreKind.available)
    func aLiveHolderKeepsTheRunAndADeadOneLosesIt(kind: LogStoreKind) async throws {
        let store = try await kind.make()
        let run = RunID("r1")
        try await store.append(creation(), to: run, expectedSeq: 0)
        let first = try await store.acquireLease(run, holder: Self.me, ttl: .seconds(30), isAlive: { _ in true })
        #expect(first.epoch == 1)
        // Alive: refused, naming the holder.
        let busy = await #expect(throws: StoreError.self) {
            try await store.acquireLease(run, holder: Self.other, ttl: .seconds(30), isAlive: { _ in true })
        }
        #expect(busy?.code == .leaseHeld)
        #expect(busy?.message.contains("pid 100 on h1") == true, "\(busy?.message ?? "")")
        // Its own appends are fenced and go through.
        try await store.append([.runPaused(reason: "x")], to: run, expectedSeq: 2, snapshot: nil, fence: first)
        // Dead: taken over, with a new epoch that fences the old holder out.
        let second = try await store.acquireLease(
            run, holder: Self.other, ttl: .seconds(30), isAlive: { $0.pid != 100 })
        #expect(second.epoch == 2)
        let lost = await #expect(throws: StoreError.self) {
            try await store.append([.runResumed(by: "stale")], to: run, expectedSeq: 3, snapshot: nil, fence: first)
        }
        #expect(lost?.code == .leaseLost)
        await #expect(throws: StoreError.self) { try await store.renewLease(first) }
        #expect(try await store.readAll(run).count == 3)  // nothing of the stale holder's landed
        try await store.append([.runResumed(by: "new")], to: run, expectedSeq: 3, snapshot: nil, fence: second)
        try await store.renewLease(second)
        // An unfenced append (a human's decision) needs no lease.
        try await store.append([.guidanceGiven(text: "go", by: "alice")], to: run, expectedSeq: 4)
    }

    @Test(arguments: LogStoreKind.available)
    func aReleasedOrSilentLeaseIsFreeAndTheRecordSaysWho(kind: LogStoreKind) async throws {
        let store = try await kind.make()
        let run = RunID("r1")
        try await store.append(creation(), to: run, expectedSeq: 0)
        #expect(try await store.leaseRecord(of: run) == nil)
        let a = try await store.acquireLease(run, holder: Self.me, ttl: .seconds(30), isAlive: { _ in true })
        #expect(try await store.leaseRecord(of: run)?.lease.holder == Self.me)
        try await store.releaseLease(a)
        #expect(try await store.leaseRecord(of: run)?.released == true)
        let b = try await store.acquireLease(run, holder: Self.other, ttl: .seconds(30), isAlive: { _ in true })
        #expect(b.epoch == 2)
        // Another host's holder that stopped heartbeating longer ago than the time-to-live.
        let remote = LeaseHolder(host: "h2", boot: "c", pid: 5, started: 1)
        let c = try await store.acquireLease(run, holder: remote, ttl: .zero, isAlive: { _ in true })
        #expect(c.epoch == 3)
        // Taking a lease one already holds is allowed (same process, same run).
        let again = try await store.acquireLease(run, holder: remote, ttl: .seconds(30), isAlive: { _ in true })
        #expect(again.epoch == 4)
    }
}

/// A lease handed over by a process that stops is free at once and says so, on every store; a
/// stale holder cannot hand over (or keep) a lease another took since.
@Suite struct LeaseHandOverConformanceTests {
    @Test(arguments: LogStoreKind.available)
    func aHandedOverLeaseIsFreeAndRecordedAsSuch(kind: LogStoreKind) async throws {
        let store = try await kind.make()
        let run = RunID("r1")
        try await store.append(creation(), to: run, expectedSeq: 0)
        let me = LeaseConformanceTests.me, other = LeaseConformanceTests.other
        let a = try await store.acquireLease(run, holder: me, ttl: .seconds(30), isAlive: { _ in true })
        try await store.handOverLease(a)
        let record = try #require(try await store.leaseRecord(of: run))
        #expect(record.released && record.handedOver && !record.releasedByItsDrive)
        #expect(record.isFree(now: record.heartbeat, ttl: .seconds(30), isAlive: { _ in true }))
        // Its fence no longer holds: a stopped process appends nothing more.
        let fenced = await #expect(throws: StoreError.self) {
            try await store.append([.runResumed(by: "stale")], to: run, expectedSeq: 2, snapshot: nil, fence: a)
        }
        #expect(fenced?.code == .leaseLost)
        await #expect(throws: StoreError.self) { try await store.renewLease(a) }
        // Taken at once by another holder, whose lease is a plain one again.
        let b = try await store.acquireLease(run, holder: other, ttl: .seconds(30), isAlive: { _ in true })
        #expect(b.epoch == 2)
        #expect(try await store.leaseRecord(of: run)?.released == false)
        // The old holder's hand-over (or release) of a lease taken since changes nothing.
        try await store.handOverLease(a)
        try await store.releaseLease(a)
        #expect(try await store.leaseRecord(of: run)?.released == false)
        // A released lease is released by its drive, not handed over.
        try await store.releaseLease(b)
        let released = try #require(try await store.leaseRecord(of: run))
        #expect(released.released && !released.handedOver && released.releasedByItsDrive)
    }
}

/// A lease is keyed by what it is for: the dream lease is its own key, never a run's.
@Suite struct LeaseKeyConformanceTests {
    @Test(arguments: LogStoreKind.available)
    func theDreamLeaseIsItsOwnKey(kind: LogStoreKind) async throws {
        let store = try await kind.make()
        let me = LeaseConformanceTests.me
        let other = LeaseConformanceTests.other
        try await store.append(creation(), to: RunID("r1"), expectedSeq: 0)
        let dream = try await store.acquireLease(.dream, holder: me, ttl: .seconds(30), isAlive: { _ in true })
        #expect(dream.key == .dream && dream.epoch == 1)
        // A run's lease is another key: taken at once by another holder.
        let run = try await store.acquireLease(
            .run(RunID("r1")), holder: other, ttl: .seconds(30), isAlive: { _ in true })
        #expect(run.epoch == 1)
        let busy = await #expect(throws: StoreError.self) {
            try await store.acquireLease(.dream, holder: other, ttl: .seconds(30), isAlive: { _ in true })
        }
        #expect(busy?.code == .leaseHeld)
        #expect(try await store.leaseRecord(of: .dream)?.lease.holder == me)
        try await store.releaseLease(dream)
        #expect(
            try await store.acquireLease(.dream, holder: other, ttl: .seconds(30), isAlive: { _ in true }).epoch == 2)
        #expect(LeaseKey(storageKey: LeaseKey.dream.storageKey) == .dream)
        #expect(LeaseKey(storageKey: "r1") == .run(RunID("r1")))
        // A run whose id looks like the dream lease's key is another key on every store.
        let odd = LeaseKey.run(RunID("@dream"))
        #expect(odd.storageKey != LeaseKey.dream.storageKey && LeaseKey(storageKey: odd.storageKey) == odd)
        let held = try await store.acquireLease(odd, holder: me, ttl: .seconds(30), isAlive: { _ in true })
        #expect(held.epoch == 1)
        #expect(try await store.leaseRecord(of: .dream)?.lease.holder == other)
    }
}

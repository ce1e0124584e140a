public import Foundation
public import NightshiftCore

/// The in-memory twin of the SQLite store: same semantics (canonical bytes, hash chain, blobs,
/// conflicts, snapshots), no durability. Used by tests and benchmarks that measure the harness alone.
public actor InMemoryEventStore: EventStore, RunQueue, LogSignal, LogRetention {
    struct Record {
        var body: Data
        var hash: [UInt8]
        var blobKeys: [String]
    }
    struct Run {
        var summary: RunSummary
        var records: [Record] = []
        var snapshot: Snapshot?
        var parent: RunID?
    }

    private var runsByID: [RunID: Run] = [:]
    private var blobs: [String: Data] = [:]
    private var leases: [LeaseKey: LeaseRecord] = [:]
    private var queue: [RunID: QueuedRun] = [:]
    private var generations: [RunID: UInt64] = [:]
    private var anyGeneration: UInt64 = 0
    private var waiters: [Int: (run: RunID?, seen: UInt64, continuation: CheckedContinuation<Bool, Never>)] = [:]
    private var nextWaiter = 0
    /// Grows with every append, as the SQLite store's event rowids do: the queue's versions.
    private var appends: Int64 = 0
    private var retention: [PrunedRun] = []
    private let now: @Sendable () -> Timestamp

    public init(now: @escaping @Sendable () -> Timestamp = { Timestamp(milliseconds: 0) }) { self.now = now }

    public func append(
        _ events: [Event], to run: RunID, expectedSeq: Int64, snapshot: Snapshot?, fence: Lease?
    ) throws -> [EventEnvelope] {
        if let fence {
            guard let record = leases[.run(run)], !record.released, record.lease.epoch == fence.epoch else {
                throw StoreError(
                    .leaseLost,
                    "run \(run) is no longer driven by this process (its lease was taken over); it stops here")
            }
        }
        let existing = runsByID[run]
        let head = Int64(existing?.records.count ?? 0)
        guard head == expectedSeq else {
            throw StoreError(.sequenceConflict, "run \(run) is at seq \(head), not \(expectedSeq)", seq: head)
        }
        guard !events.isEmpty else { return [] }
        let time = now()
        var entry =
            existing
            ?? Run(summary: RunSummary(id: run, title: "", status: .running, created: time, updated: time, headSeq: 0))
        if existing == nil {
            guard case let .runCreated(title, _, _, _) = events[0] else {
                throw StoreError(.runNotFound, "run \(run) does not exist; its first event must be run_created")
            }
            entry.summary.title = title
            if case let .runCreated(_, _, _, settings) = events[0] { entry.parent = settings.parent?.run }
        }
        var previous = entry.records.last?.hash ?? EventCodec.genesisHash
        var out: [EventEnvelope] = []
        var newBlobs: [String: Data] = [:]
        for (n, event) in events.enumerated() {
            let encoded = try EventCodec.encode(
                event, run: run, seq: expectedSeq + Int64(n) + 1, time: time, previousHash: previous)
            entry.records.append(
                Record(body: encoded.body, hash: encoded.envelope.hash, blobKeys: encoded.blobs.keys.sorted()))
            newBlobs.merge(encoded.blobs) { a, _ in a }
            previous = encoded.envelope.hash
            if let s = event.statusAfter { entry.summary.status = s }
            out.append(encoded.envelope)
        }
        entry.summary.updated = time
        entry.summary.headSeq = Int64(entry.records.count)
        if let snapshot { entry.snapshot = snapshot }
        blobs.merge(newBlobs) { a, _ in a }
        runsByID[run] = entry
        appends += 1
        signal(run)
        for change in QueueChange.after(appending: events, to: run, status: entry.summary.status, parent: entry.parent)
        {
            switch change {
            case .wake(let id, let reason):
                queue[id] = QueuedRun(run: id, reason: reason, notBefore: Timestamp(milliseconds: 0), version: appends)
            case .remove(let id):
                queue[id] = nil
            }
        }
        return out
    }

    // MARK: LogSignal

    private func signal(_ run: RunID) {
        generations[run, default: 0] &+= 1
        anyGeneration &+= 1
        for (id, w) in waiters where generation(of: w.run) > w.seen {
            waiters[id] = nil
            w.continuation.resume(returning: true)
        }
    }

    public func generation(of run: RunID?) -> UInt64 { run.map { generations[$0] ?? 0 } ?? anyGeneration }

    public func wait(for run: RunID?, past seen: UInt64, timeout: Duration) async -> Bool {
        if generation(of: run) > seen { return true }
        nextWaiter += 1
        let id = nextWaiter
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            await self?.expire(id)
        }
        defer { timer.cancel() }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { waiters[id] = (run, seen, $0) }
        } onCancel: {
            Task { await self.expire(id) }
        }
    }

    public func hearsOtherProcesses() -> Bool { true }  // it has no other process

    private func expire(_ id: Int) { waiters.removeValue(forKey: id)?.continuation.resume(returning: false) }

    // MARK: RunQueue

    public func due(now: Timestamp, after: QueuedRun?, limit: Int) -> [QueuedRun] {
        let due = queued().filter { $0.notBefore <= now }
        guard let after else { return Array(due.prefix(limit)) }
        return Array(
            due.filter {
                ($0.notBefore.milliseconds, $0.run.rawValue) > (after.notBefore.milliseconds, after.run.rawValue)
            }.prefix(limit))
    }

    public func reconcile() -> Int {
        var queuedNow = 0
        for (id, run) in runsByID where queue[id] == nil {
            let status = run.summary.status
            guard status == .paused || (status == .running && run.parent != nil) else { continue }
            queue[id] = QueuedRun(run: id, reason: .upgraded, notBefore: Timestamp(milliseconds: 0), version: appends)
            queuedNow += 1
        }
        return queuedNow
    }

    public func settle(_ entry: QueuedRun, until: Timestamp?) -> Bool {
        guard queue[entry.run]?.version == entry.version else { return false }
        if let until { queue[entry.run]?.notBefore = until } else { queue[entry.run] = nil }
        return true
    }

    public func nextDue() -> Timestamp? { queue.values.map(\.notBefore).min() }

    public func queued() -> [QueuedRun] {
        queue.values.sorted {
            ($0.notBefore.milliseconds, $0.run.rawValue) < ($1.notBefore.milliseconds, $1.run.rawValue)
        }
    }

    public func read(_ run: RunID, after: Int64, limit: Int) throws -> [EventEnvelope] {
        guard let entry = runsByID[run] else { throw StoreError(.runNotFound, "no run \(run)") }
        let start = Int(max(after, 0))
        guard start < entry.records.count, limit > 0 else { return [] }
        let end = min(entry.records.count, start + min(limit, entry.records.count))
        var previous = start == 0 ? EventCodec.genesisHash : entry.records[start - 1].hash
        var out: [EventEnvelope] = []
        for i in start..<end {
            let r = entry.records[i]
            let seq = Int64(i + 1)
            let source = BlobSource(
                Dictionary(r.blobKeys.compactMap { k in blobs[k].map { (k, $0) } }, uniquingKeysWith: { a, _ in a }))
            switch EventCodec.decode(
                body: r.body, hash: r.hash, previousHash: previous, run: run, seq: seq, blobs: source)
            {
            case .success(let e): out.append(e)
            case .failure(let fault):
                throw StoreError(.corrupt, "run \(run): event \(seq) is corrupt (\(fault))", seq: seq)
            }
            previous = r.hash
        }
        return out
    }

    public func acquireLease(
        _ key: LeaseKey, holder: LeaseHolder, ttl: Duration, isAlive: @Sendable (LeaseHolder) -> Bool
    ) throws -> Lease {
        let time = now()
        if let record = leases[key], record.lease.holder != holder,
            !record.isFree(now: time, ttl: ttl, isAlive: isAlive)
        {
            throw StoreError(
                .leaseHeld,
                "\(key == .dream ? "the dream lease is held" : "\(key) is being advanced") by \(record.lease.holder) "
                    + "(lease \(record.lease.epoch)); wait for it, or stop that process")
        }
        let lease = Lease(key: key, epoch: (leases[key]?.lease.epoch ?? 0) + 1, holder: holder, since: time)
        leases[key] = LeaseRecord(lease: lease, heartbeat: time, released: false)
        return lease
    }

    public func renewLease(_ lease: Lease) throws {
        guard let record = leases[lease.key], !record.released, record.lease.epoch == lease.epoch else {
            throw StoreError(
                .leaseLost, "\(lease.key) is no longer held by this process (its lease was taken over)")
        }
        leases[lease.key]?.heartbeat = now()
    }

    public func releaseLease(_ lease: Lease) {
        if leases[lease.key]?.lease.epoch == lease.epoch { leases[lease.key]?.released = true }
    }

    public func handOverLease(_ lease: Lease) {
        guard let record = leases[lease.key], record.lease.epoch == lease.epoch, !record.released else { return }
        leases[lease.key] = LeaseRecord(
            lease: record.lease, heartbeat: record.heartbeat, released: true, handedOver: true)
    }

    public func leaseRecord(of key: LeaseKey) -> LeaseRecord? { leases[key] }

    public func runs() -> [RunSummary] {
        runsByID.values.map(\.summary).sorted { ($0.created, $0.id) > ($1.created, $1.id) }
    }

    public func summary(of run: RunID) -> RunSummary? { runsByID[run]?.summary }

    public func latestSnapshot(of run: RunID) -> Snapshot? { runsByID[run]?.snapshot }

    public func verify(_ run: RunID) throws -> VerifyReport {
        guard let entry = runsByID[run] else { throw StoreError(.runNotFound, "no run \(run)") }
        do {
            let events = try read(run, after: 0, limit: .max)
            return VerifyReport(
                run: run, events: Int64(events.count), firstBadSeq: nil, problem: nil,
                headHash: entry.records.last?.hash ?? EventCodec.genesisHash)
        } catch let error as StoreError {
            return VerifyReport(
                run: run, events: Int64(entry.records.count), firstBadSeq: error.seq, problem: error.message,
                headHash: entry.records.last?.hash ?? EventCodec.genesisHash)
        }
    }

    // MARK: Moving runs (export, import, prune)

    public func records(of run: RunID) throws -> RunRecords {
        guard let entry = runsByID[run] else { throw StoreError(.runNotFound, "no run \(run)") }
        var own: [String: Data] = [:]
        for key in entry.records.flatMap(\.blobKeys) { own[key] = blobs[key] }
        return try RunRecords(
            run: run,
            records: entry.records.enumerated().map { n, r in (Int64(n + 1), r.body, r.hash, r.blobKeys) },
            blobs: own, snapshot: entry.snapshot)
    }

    public func restore(_ runs: [RunRecords]) throws {
        var seen = Set<RunID>()
        for r in runs where runsByID[r.run] != nil || !seen.insert(r.run).inserted {
            throw StoreError(.runExists, "run \(r.run) is already in this database; nothing was imported")
        }
        for r in runs {
            runsByID[r.run] = Run(
                summary: r.summary,
                records: r.records.map { Record(body: $0.body, hash: $0.hash, blobKeys: $0.blobKeys) },
                snapshot: r.snapshot, parent: r.parent)
            blobs.merge(r.blobs) { a, _ in a }
            appends += 1
            if let wake = r.wake {
                queue[r.run] = QueuedRun(
                    run: r.run, reason: wake, notBefore: Timestamp(milliseconds: 0), version: appends)
            }
        }
        for r in runs { signal(r.run) }
    }

    public func prune(_ pruned: [PrunedRun]) throws {
        let ids = Set(pruned.map(\.run))
        for p in pruned {
            guard let entry = runsByID[p.run] else { throw StoreError(.runNotFound, "no run \(p.run)") }
            let parentStatus = entry.parent.flatMap { ids.contains($0) ? nil : runsByID[$0]?.summary.status.rawValue }
            let leftOut = runsByID.values.filter { $0.parent == p.run && !ids.contains($0.summary.id) }
                .map(\.summary.id.rawValue)
            if let refusal = p.refusal(
                headSeq: entry.summary.headSeq, headHash: entry.records.last?.hash ?? [],
                status: entry.summary.status.rawValue, parent: entry.parent?.rawValue, parentStatus: parentStatus,
                leftOut: leftOut)
            {
                throw refusal
            }
        }
        for id in ids {
            runsByID[id] = nil
            queue[id] = nil
            leases[.run(id)] = nil
        }
        let referenced = Set(runsByID.values.flatMap { $0.records.flatMap(\.blobKeys) })
        blobs = blobs.filter { referenced.contains($0.key) }
        retention += pruned
    }

    public func prunings() -> [PrunedRun] { retention }

    public func pruning(of run: RunID) -> PrunedRun? { retention.last { $0.run == run } }

    // MARK: Test hooks: tamper with stored records the way an attacker with file access could.

    /// Replaces the stored body of event `seq` (1-based) without fixing hashes.
    public func tamper(_ run: RunID, seq: Int64, body: Data) {
        runsByID[run]?.records[Int(seq - 1)].body = body
    }

    /// Removes event `seq`, shifting later ones down.
    public func delete(_ run: RunID, seq: Int64) {
        runsByID[run]?.records.remove(at: Int(seq - 1))
    }

    /// The stored canonical body of event `seq`.
    public func body(_ run: RunID, seq: Int64) -> Data? { runsByID[run]?.records[Int(seq - 1)].body }
}

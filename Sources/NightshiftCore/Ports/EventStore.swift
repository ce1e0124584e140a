import Foundation

// The ports: one small protocol per replaceable part, one file each in this folder. Adapters
// implement them; the harness works through them only.

/// Everything a run's log needs from a store, by capability: the log itself (``EventLog``), its
/// audit (``LogAudit``) and the leases that let one process drive a run at a time (``LeaseStore``).
/// A store adapter implements all three; a use case that needs one asks for that one.
public typealias EventStore = EventLog & LogAudit & LeaseStore

/// One append-only, hash-chained event log per run, with its index and snapshots.
public protocol EventLog: Sendable {
    /// Appends `events` atomically after position `expectedSeq` (0 for a new run).
    /// - Parameter snapshot: folded state after these events, stored in the same transaction.
    /// - Parameter fence: the driver's lease; the append is refused unless it is still the run's
    ///   lease, checked in the same transaction. Nil for appends that need none (a human's decision).
    /// - Throws: ``StoreError`` `.sequenceConflict` if the run's head is not `expectedSeq`, `.leaseLost`
    ///   if `fence` is no longer the run's lease; nothing is written.
    @discardableResult
    func append(
        _ events: [Event], to run: RunID, expectedSeq: Int64, snapshot: Snapshot?, fence: Lease?
    ) async throws -> [EventEnvelope]

    /// Events with `seq > after`, at most `limit`, verified against the hash chain as they are read.
    /// - Throws: ``StoreError`` `.corrupt` naming the first bad seq.
    func read(_ run: RunID, after: Int64, limit: Int) async throws -> [EventEnvelope]

    /// The run index: every run, newest first.
    func runs() async throws -> [RunSummary]

    /// Every event of `kind` in every run, each verified against the event before it, in no set
    /// order. For the kinds the memory bank reads across runs (`memory_proposed`,
    /// `memories_shown`), which a store may index; any other kind reads every log.
    func events(of kind: Event.Kind) async throws -> [EventEnvelope]

    /// A page of the run index, newest first (of one status, when given), and how many runs
    /// there are in all: a list's page costs its page, not the whole index.
    func runs(status: RunStatus?, limit: Int, offset: Int) async throws -> (runs: [RunSummary], total: Int)

    /// One run's index entry, or nil if there is no such run.
    func summary(of run: RunID) async throws -> RunSummary?

    /// The newest snapshot of the run's folded state, if any.
    func latestSnapshot(of run: RunID) async throws -> Snapshot?

    /// The run's log exactly as stored (canonical bytes, hashes, blobs, snapshot), checked whole
    /// (``RunRecords``): what an export writes.
    /// - Throws: ``StoreError`` `.runNotFound`, or `.corrupt` naming the first bad seq.
    func records(of run: RunID) async throws -> RunRecords

    /// Writes runs as another store had them: the same seqs, times, hashes and blobs, with their
    /// index entries and run queue entries as their appends would have left them (so a worker finds
    /// a paused run a person decided on), all in one transaction, or nothing. Drives nothing, takes
    /// no lease: a run that was running stays running until someone resumes it.
    /// - Throws: ``StoreError`` `.runExists` when any of them is here already; nothing is written.
    func restore(_ runs: [RunRecords]) async throws
}

/// Checking that a log is whole: its chain recomputed, and its head against a witness kept
/// outside the store (a store that can lose committed events keeps one).
public protocol LogAudit: Sendable {
    /// The run's head as last witnessed outside the store (seq and hash hex), or nil when the
    /// store keeps no witness. A witness ahead of the log means committed events were lost.
    func witnessedHead(of run: RunID) async throws -> (seq: Int64, hash: String)?

    /// Every run with a witness, including runs the store itself no longer has.
    func witnessedRuns() async throws -> [RunID]

    /// Recomputes the whole hash chain and checks every blob; reports the first bad seq.
    func verify(_ run: RunID) async throws -> VerifyReport

    /// The whole chain by its hashes alone: every event present, each hash SHA-256 of the one
    /// before and its stored bytes, every referenced blob present and matching its key, and the
    /// run index's head equal to the last event. Nothing is decoded, so it is cheap enough to run
    /// before a human's decision is appended (a decision must never extend a broken log).
    func verifyChain(_ run: RunID) async throws -> VerifyReport
}

/// Who may drive a run (or hold another exclusive job, such as a dream) now: one process at a
/// time, with a heartbeat, taken over when its holder is gone. The epoch it returns fences the
/// appends of a holder that lost it (``EventLog/append(_:to:expectedSeq:snapshot:fence:)``).
public protocol LeaseStore: Sendable {
    /// Takes `key` for `holder`: when no one holds it, when the holder released it, stopped
    /// heartbeating for longer than `ttl` (by the store's clock), or is known dead (`isAlive`).
    /// A take-over increments the epoch, which fences the previous holder out.
    /// - Throws: ``StoreError`` `.leaseHeld` naming the live holder.
    func acquireLease(
        _ key: LeaseKey, holder: LeaseHolder, ttl: Duration, isAlive: @Sendable (LeaseHolder) -> Bool
    ) async throws -> Lease

    /// The holder's heartbeat. - Throws: `.leaseLost` when it was taken over meanwhile.
    func renewLease(_ lease: Lease) async throws

    /// Gives the lease up (after a pause, a finish or an error); the next holder takes it at once.
    func releaseLease(_ lease: Lease) async throws

    /// Gives the lease up because this process stops, not because the run should: it is free at
    /// once, like a released lease, and recorded as handed over, so a worker continues a run a
    /// worker was driving (a released one waits for a person). Nothing once the lease was taken over.
    func handOverLease(_ lease: Lease) async throws

    /// The lease as stored, or nil when nobody ever held it.
    func leaseRecord(of key: LeaseKey) async throws -> LeaseRecord?

    /// The time by the clock this store measures leases with, when that is not this host's (a
    /// database that many hosts share): a holder's silence is judged by it, so a host whose clock
    /// is off neither takes a run early nor waits for one too long. Nil: this host's clock.
    func leaseClock() async throws -> Timestamp?
}

extension EventLog {
    /// By filtering the whole index: for stores whose index is small or in memory.
    public func runs(status: RunStatus?, limit: Int, offset: Int) async throws -> (runs: [RunSummary], total: Int) {
        let all = try await runs().filter { status == nil || $0.status == status }
        return (Array(all.dropFirst(offset).prefix(limit)), all.count)
    }

    @discardableResult
    public func append(_ events: [Event], to run: RunID, expectedSeq: Int64) async throws -> [EventEnvelope] {
        try await append(events, to: run, expectedSeq: expectedSeq, snapshot: nil, fence: nil)
    }
    @discardableResult
    public func append(
        _ events: [Event], to run: RunID, expectedSeq: Int64, snapshot: Snapshot?
    ) async throws -> [EventEnvelope] {
        try await append(events, to: run, expectedSeq: expectedSeq, snapshot: snapshot, fence: nil)
    }
    /// Every event of the run.
    public func readAll(_ run: RunID) async throws -> [EventEnvelope] {
        try await read(run, after: 0, limit: .max)
    }

    /// By default every run's log, read and filtered.
    public func events(of kind: Event.Kind) async throws -> [EventEnvelope] {
        var out: [EventEnvelope] = []
        for summary in try await runs() { out += try await readAll(summary.id).filter { $0.event.eventKind == kind } }
        return out
    }
}

extension LogAudit {
    /// By default the full verification (which also decodes every event).
    public func verifyChain(_ run: RunID) async throws -> VerifyReport { try await verify(run) }

    /// By default none: a store that cannot lose committed events needs no witness.
    public func witnessedHead(of run: RunID) async throws -> (seq: Int64, hash: String)? { nil }
    public func witnessedRuns() async throws -> [RunID] { [] }
}

extension LeaseStore {
    /// This host's clock (a store on one machine).
    public func leaseClock() async throws -> Timestamp? { nil }

    /// A run's lease (the common case).
    public func acquireLease(
        _ run: RunID, holder: LeaseHolder, ttl: Duration, isAlive: @Sendable (LeaseHolder) -> Bool
    ) async throws -> Lease {
        try await acquireLease(.run(run), holder: holder, ttl: ttl, isAlive: isAlive)
    }
    public func leaseRecord(of run: RunID) async throws -> LeaseRecord? { try await leaseRecord(of: .run(run)) }
}

/// A run's entry in the index.
public struct RunSummary: Sendable, Equatable, Codable {
    public var id: RunID
    public var title: String
    public var status: RunStatus
    public var created: Timestamp
    public var updated: Timestamp
    public var headSeq: Int64
    public init(id: RunID, title: String, status: RunStatus, created: Timestamp, updated: Timestamp, headSeq: Int64) {
        self.id = id
        self.title = title
        self.status = status
        self.created = created
        self.updated = updated
        self.headSeq = headSeq
    }
}

/// Folded state at `seq` (JSON of ``RunState``), a cache: the log stays the truth.
public struct Snapshot: Sendable, Equatable {
    public var seq: Int64
    public var state: [UInt8]
    public init(seq: Int64, state: [UInt8]) {
        self.seq = seq
        self.state = state
    }
}

/// The result of recomputing a run's chain.
public struct VerifyReport: Sendable, Equatable {
    public var run: RunID
    public var events: Int64
    /// The first seq whose record is bad, and why; nil when the whole chain verifies.
    public var firstBadSeq: Int64?
    public var problem: String?
    public var headHash: [UInt8]
    public var ok: Bool { firstBadSeq == nil }
    public init(run: RunID, events: Int64, firstBadSeq: Int64?, problem: String?, headHash: [UInt8]) {
        self.run = run
        self.events = events
        self.firstBadSeq = firstBadSeq
        self.problem = problem
        self.headHash = headHash
    }

    /// A log read whole to event `last` (hash `lastHash`), set against the run index's head:
    /// sound when they agree, else the report of events added or removed outside Nightshift.
    public static func ended(
        _ run: RunID, last: Int64, lastHash: [UInt8], headSeq: Int64, headHash: [UInt8]
    ) -> VerifyReport {
        guard last == headSeq, lastHash == headHash else {
            return VerifyReport(
                run: run, events: last, firstBadSeq: min(last, headSeq) + 1,
                problem:
                    "the run index says the log ends at event \(headSeq) but it ends at \(last): events were added or removed outside Nightshift",
                headHash: headHash)
        }
        return VerifyReport(run: run, events: last, firstBadSeq: nil, problem: nil, headHash: headHash)
    }
}

public import Foundation

/// A run's log exactly as a store keeps it (each record's canonical bytes, its hash and the keys
/// of the blobs it refers to, with those blobs), checked whole: what moves a run from one store to
/// another with nothing re-encoded, so every hash stays the one first written.
///
/// The only way to make one is ``init(run:records:blobs:snapshot:)``, which recomputes every hash
/// from the genesis, checks every blob against its key and decodes every record; what it derives
/// (the index entry, the parent, the queue's wake) comes from those records, never from whoever
/// supplied them. A store writes one as it is (``EventLog/restore(_:)``).
public struct RunRecords: Sendable {
    /// One stored record.
    public struct Record: Sendable, Equatable {
        public let seq: Int64
        /// The canonical bytes the hash covers.
        public let body: Data
        /// SHA-256(previous hash ‖ body).
        public let hash: [UInt8]
        /// The content keys of the blobs the body refers to, sorted.
        public let blobKeys: [String]
        /// The event's kind (stores index it).
        public let kind: String
        public let time: Timestamp
    }

    public let run: RunID
    public let records: [Record]
    /// Every blob the records refer to, by key, and no other.
    public let blobs: [String: Data]
    /// The run's snapshot, kept only when its log vouches for it and its fold agrees (it is a cache).
    public let snapshot: Snapshot?
    /// The run index's entry the records make: title, status, created, updated and head.
    public let summary: RunSummary
    /// The hash of the last record.
    public let headHash: [UInt8]
    /// The run that spawned this one (a sub-agent's parent), from its first event.
    public let parent: RunID?
    /// Why the run queue holds the run once these records are written (as the appends that wrote
    /// them left it: a paused run a person decided on, a wait, a sub-agent, a worker's drive), or
    /// nil when no worker has anything to do with it.
    public let wake: WakeReason?
    /// The records decoded.
    public let events: [EventEnvelope]

    /// Checks `records` whole: seqs 1…n with no gap, every hash recomputed from the genesis, every
    /// listed blob present and matching its key, every body decoding as the event at its position
    /// of this run (with those blobs only), and a first event that creates the run.
    /// - Throws: ``StoreError`` `.corrupt` naming the first bad seq, in one line.
    public init(
        run: RunID, records stored: [(seq: Int64, body: Data, hash: [UInt8], blobKeys: [String])],
        blobs given: [String: Data], snapshot: Snapshot?
    ) throws(StoreError) {
        guard !stored.isEmpty else { throw StoreError(.corrupt, "run \(run) has no events", seq: 1) }
        var previous = EventCodec.genesisHash
        var records: [Record] = []
        var events: [EventEnvelope] = []
        var blobs: [String: Data] = [:]
        records.reserveCapacity(stored.count)
        events.reserveCapacity(stored.count)
        for (n, r) in stored.enumerated() {
            let seq = Int64(n + 1)
            guard r.seq == seq else {
                throw StoreError(.corrupt, "run \(run): event \(seq) is missing", seq: seq)
            }
            guard EventCodec.chain(previous, r.body) == r.hash else {
                throw StoreError(.corrupt, "run \(run): event \(seq) is corrupt (its hash does not chain)", seq: seq)
            }
            var own: [String: Data] = [:]
            for key in r.blobKeys {
                guard let bytes = given[key] else {
                    throw StoreError(
                        .corrupt, "run \(run): event \(seq) refers to a missing payload \(key.prefix(12))", seq: seq)
                }
                guard Payload.blobKey(bytes) == key else {
                    throw StoreError(
                        .corrupt, "run \(run): event \(seq) refers to a payload that does not match its hash",
                        seq: seq)
                }
                own[key] = bytes
            }
            switch EventCodec.decode(
                body: r.body, hash: r.hash, previousHash: previous, run: run, seq: seq, blobs: BlobSource(own))
            {
            case .success(let e): events.append(e)
            case .failure(let fault):
                throw StoreError(.corrupt, "run \(run): event \(seq) is corrupt (\(fault))", seq: seq)
            }
            blobs.merge(own) { a, _ in a }
            records.append(
                Record(
                    seq: seq, body: r.body, hash: r.hash, blobKeys: r.blobKeys.sorted(),
                    kind: events[n].event.kind, time: events[n].time))
            previous = r.hash
        }
        guard case let .runCreated(title, _, _, settings) = events[0].event else {
            throw StoreError(.corrupt, "run \(run): its first event is not run_created", seq: 1)
        }
        var status = RunStatus.running
        for e in events { if let s = e.event.statusAfter { status = s } }
        self.run = run
        self.records = records
        self.blobs = blobs
        self.events = events
        headHash = previous
        parent = settings.parent?.run
        summary = RunSummary(
            id: run, title: title, status: status, created: events[0].time, updated: events[events.count - 1].time,
            headSeq: Int64(events.count))
        wake = QueueChange.standing(after: events.map(\.event), of: run, parent: parent)
        self.snapshot = snapshot.flatMap { Self.sound($0, run: run, events: events) }
    }

    /// `snapshot` when the log vouches for it and the fold up to its event is the same state.
    static func sound(_ snapshot: Snapshot, run: RunID, events: [EventEnvelope]) -> Snapshot? {
        guard snapshot.seq >= 1, snapshot.seq <= Int64(events.count),
            let state = try? JSONDecoder().decode(RunState.self, from: Data(snapshot.state)),
            state.run == run, state.lastSeq == snapshot.seq,
            RunState.vouches(for: snapshot, state: state, in: Array(events[Int(snapshot.seq - 1)...])),
            let folded = try? RunState.fold(run, events.prefix(Int(snapshot.seq))), folded == state
        else { return nil }
        return snapshot
    }
}

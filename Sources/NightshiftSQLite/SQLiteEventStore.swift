import Foundation
import GRDB
public import NightshiftCore
import Synchronization

/// The event store on one SQLite file (WAL). Concurrent appends, from any number of runs in
/// this process, share commits: while one transaction commits, later appends queue and go into
/// the next one together (group commit), so N agents cost far fewer than N fsyncs.
public final class SQLiteEventStore: EventStore {
    /// How hard each commit waits for the disk.
    public enum Durability: String, Sendable {
        /// `synchronous=FULL`: a committed append survives power loss. The default.
        case full
        /// `synchronous=NORMAL`: survives a process crash; the last commits may be lost on power loss.
        case normal

        /// The label benchmarks print next to every figure.
        public var label: String { "sqlite-wal-\(rawValue)" }
    }

    public struct Configuration: Sendable {
        /// Defaults to `.full`.
        public var durability: Durability
        /// How long to wait for another process's write lock before failing with `.locked`. Defaults to 5 s.
        public var busyTimeout: Duration
        /// Clock for event times. Defaults to the system clock.
        public var now: @Sendable () -> Timestamp
        public init(
            durability: Durability = .full, busyTimeout: Duration = .seconds(5),
            now: @escaping @Sendable () -> Timestamp = SQLiteEventStore.systemNow
        ) {
            self.durability = durability
            self.busyTimeout = busyTimeout
            self.now = now
        }
    }

    public static let systemNow: @Sendable () -> Timestamp = {
        Timestamp(milliseconds: Int64((Date().timeIntervalSince1970 * 1000).rounded()))
    }

    let writer: any DatabaseWriter
    let path: String
    let configuration: Configuration
    private let committer: GroupCommitter
    let witness: HeadWitness
    /// Made on first use (a live view or a worker waits on it): each costs an inotify instance,
    /// of which a user has few, and most commands never wait.
    let watcher = Mutex<HeadWatcher?>(nil)

    /// The store's log signal (see ``LogSignal``).
    var signal: HeadWatcher {
        watcher.withLock { w in
            if let w { return w }
            let made = HeadWatcher(folder: witness.folder)
            w = made
            return made
        }
    }

    /// Opens (creating if needed) the database at `path`.
    /// - Throws: ``StoreError`` with the path and what to do when the file cannot be opened.
    public convenience init(path: String, configuration: Configuration = Configuration()) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw StoreError(.io, "cannot create the database folder \(dir): \(error.localizedDescription)")
        }
        if FileManager.default.fileExists(atPath: path), !FileManager.default.isWritableFile(atPath: path) {
            throw StoreError(
                .readOnly, "the database \(path) is read-only: make it writable (chmod u+w) or pass another --db")
        }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: Self.grdbConfiguration(configuration))
        } catch {
            throw Self.mapError(error, path: path)
        }
        try self.init(writer: pool, path: path, configuration: configuration)
    }

    /// A store in memory (one connection, nothing on disk): for tests of the SQL itself.
    public static func inMemory(configuration: Configuration = Configuration()) throws -> SQLiteEventStore {
        try SQLiteEventStore(writer: DatabaseQueue(), configuration: configuration)
    }

    init(writer: any DatabaseWriter, path: String = ":memory:", configuration: Configuration = Configuration()) throws {
        self.writer = writer
        self.path = path
        self.configuration = configuration
        do {
            try SQLiteSchema.migrator.migrate(writer)
            // GRDB's WAL set-up sets synchronous=NORMAL after prepareDatabase: set it again here.
            try writer.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = \(configuration.durability == .full ? "FULL" : "NORMAL")")
            }
        } catch {
            throw Self.mapError(error, path: path)
        }
        let witness = HeadWitness(databasePath: path)
        self.witness = witness
        committer = GroupCommitter(writer: writer, path: path) { run in witness.read(run) }
    }

    static func grdbConfiguration(_ c: Configuration) -> GRDB.Configuration {
        var g = GRDB.Configuration()
        g.busyMode = .timeout(TimeInterval(c.busyTimeout.components.seconds))
        let sync = c.durability == .full ? "FULL" : "NORMAL"
        g.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(sync)")
        }
        return g
    }

    /// The `synchronous` setting actually in force on the writer connection (0 OFF, 1 NORMAL, 2 FULL).
    public func synchronousInForce() throws -> Int {
        try writer.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// The journal mode in force ("wal" for files).
    public func journalMode() throws -> String {
        try writer.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }

    /// Checkpoints the WAL into the main file (benchmarks measure bytes on disk after this).
    public func checkpoint() throws {
        try writer.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
    }

    // MARK: EventStore

    public func append(
        _ events: [Event], to run: RunID, expectedSeq: Int64, snapshot: Snapshot?, fence: Lease?
    ) async throws -> [EventEnvelope] {
        // Encode here, in the caller's task, so concurrent appenders encode in parallel; only the
        // hash chaining and the inserts happen under the single write lock.
        let time = configuration.now()
        let bodies = try events.enumerated().map { n, event in
            try EventCodec.body(event, run: run, seq: expectedSeq + Int64(n) + 1, time: time)
        }
        let envelopes = try await committer.submit(
            AppendRequest(
                run: run, expectedSeq: expectedSeq, bodies: bodies, snapshot: snapshot,
                fence: fence?.epoch))
        // Witnessed here, in the appender's task: appenders of different runs write their witnesses in
        // parallel, off the single commit path, and still before the caller acts on what it appended.
        if let last = envelopes.last {
            let accepting = if case .rollbackAccepted = events.first { true } else { false }
            witness.record(run, seq: last.seq, hash: last.hash, backwards: accepting)
            if let w = watcher.withLock({ $0 }) { w.bump([HeadWitness.fileName(run)]) }
        }
        return envelopes
    }

    public func events(of kind: Event.Kind) async throws -> [EventEnvelope] {
        // The partial index event_memory_kinds holds these kinds (the query repeats its condition
        // so SQLite uses it); another kind is a scan of the event table.
        let sql =
            Self.indexedKinds.contains(kind)
            ? "SELECT run, seq FROM event WHERE kind = ? AND kind IN ('memory_proposed', 'memories_shown')"
            : "SELECT run, seq FROM event WHERE kind = ?"
        do {
            return try await writer.read { db in
                let found = try Row.fetchAll(db, sql: sql, arguments: [kind.rawValue]).map {
                    (RunID($0["run"] as String), $0["seq"] as Int64)
                }
                // Each read like any other: decoded and checked against the hash before it.
                return try found.flatMap { run, seq in try Self.read(db, run: run, after: seq - 1, limit: 1) }
            }
        } catch let error as StoreError { throw error } catch { throw Self.mapError(error, path: path) }
    }

    /// The kinds the partial index `event_memory_kinds` holds (its condition names the same).
    static let indexedKinds: Set<Event.Kind> = [.memoryProposed, .memoriesShown]

    public func read(_ run: RunID, after: Int64, limit: Int) async throws -> [EventEnvelope] {
        do {
            return try await writer.read { db in try Self.read(db, run: run, after: after, limit: limit) }
        } catch let error as StoreError { throw error } catch { throw Self.mapError(error, path: path) }
    }

    static func read(_ db: Database, run: RunID, after: Int64, limit: Int) throws -> [EventEnvelope] {
        guard try Bool.fetchOne(db, sql: "SELECT 1 FROM run WHERE id = ?", arguments: [run.rawValue]) == true else {
            throw StoreError(.runNotFound, "no run \(run) in this database (nightshift status lists the runs)")
        }
        var previous = EventCodec.genesisHash
        if after > 0 {
            guard
                let h = try Data.fetchOne(
                    db, sql: "SELECT hash FROM event WHERE run = ? AND seq = ?",
                    arguments: [run.rawValue, after])
            else {
                throw StoreError(.corrupt, "run \(run): event \(after) is missing", seq: after)
            }
            previous = [UInt8](h)
        }
        let rows = try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT seq, body, hash, blobs FROM event WHERE run = ? AND seq > ? ORDER BY seq LIMIT ?
                    """), arguments: [run.rawValue, after, limit == .max ? -1 : limit])
        var keys: [String] = []
        for row in rows { if let b: String = row["blobs"] { keys += b.split(separator: ",").map(String.init) } }
        var blobs: [String: Data] = [:]
        if !keys.isEmpty {
            for key in Set(keys) {
                if let bytes = try Data.fetchOne(db, sql: "SELECT bytes FROM blob WHERE key = ?", arguments: [key]) {
                    blobs[key] = bytes
                }
            }
        }
        let source = BlobSource(blobs)
        return try EventCodec.decodeRecords(
            rows.map { ($0["seq"], $0["body"], $0["hash"]) }, of: run, after: after, previous: previous, blobs: source)
    }

    public func runs() async throws -> [RunSummary] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.summaryColumns) FROM run ORDER BY created DESC, id DESC")
                .map(Self.summaryAt)
        }
    }

    public func runs(status: RunStatus?, limit: Int, offset: Int) async throws -> (runs: [RunSummary], total: Int) {
        try await writer.read { db in
            let filter = status == nil ? "" : "WHERE status = ?"
            let arguments: StatementArguments = status.map { [$0.rawValue] } ?? []
            let total = try Int.fetchOne(db, sql: "SELECT count(*) FROM run \(filter)", arguments: arguments) ?? 0
            let page = try Row.fetchAll(
                db,
                sql:
                    "SELECT \(Self.summaryColumns) FROM run \(filter) ORDER BY created DESC, id DESC LIMIT ? OFFSET ?",
                arguments: arguments + [limit, offset]
            ).map(Self.summaryAt)
            return (page, total)
        }
    }

    /// The run index's columns a summary reads, in the order ``summaryAt(_:)`` reads them by
    /// position (a lookup by name costs a lowercased copy of every name, every row).
    static let summaryColumns = "id, title, status, created, updated, head_seq"

    static func summaryAt(_ row: Row) -> RunSummary {
        RunSummary(
            id: RunID(row[0] as String), title: row[1], status: RunStatus(rawValue: row[2]) ?? .failed,
            created: Timestamp(milliseconds: row[3]), updated: Timestamp(milliseconds: row[4]), headSeq: row[5])
    }

    public func summary(of run: RunID) async throws -> RunSummary? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM run WHERE id = ?", arguments: [run.rawValue]).map(Self.summary)
        }
    }

    static func summary(_ row: Row) -> RunSummary {
        RunSummary(
            id: RunID(row["id"] as String), title: row["title"], status: RunStatus(rawValue: row["status"]) ?? .failed,
            created: Timestamp(milliseconds: row["created"]), updated: Timestamp(milliseconds: row["updated"]),
            headSeq: row["head_seq"])
    }

    public func latestSnapshot(of run: RunID) async throws -> Snapshot? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT seq, state FROM snapshot WHERE run = ?", arguments: [run.rawValue]).map {
                Snapshot(seq: $0["seq"], state: [UInt8]($0["state"] as Data))
            }
        }
    }

    /// The run index's head: where the log should end, and the hash it should end with.
    static func head(_ db: Database, _ run: RunID) throws -> (seq: Int64, hash: [UInt8]) {
        guard
            let head = try Row.fetchOne(
                db, sql: "SELECT head_seq, head_hash FROM run WHERE id = ?", arguments: [run.rawValue])
        else {
            throw StoreError(.runNotFound, "no run \(run) in this database (nightshift status lists the runs)")
        }
        return (head["head_seq"], [UInt8](head["head_hash"] as Data))
    }

    public func verify(_ run: RunID) async throws -> VerifyReport {
        try await writer.read { db in
            let (headSeq, headHash) = try Self.head(db, run)
            var after: Int64 = 0
            var last = EventCodec.genesisHash
            do {
                while true {
                    let page = try Self.read(db, run: run, after: after, limit: 1000)
                    guard let tail = page.last else { break }
                    after = tail.seq
                    last = tail.hash
                }
            } catch let error as StoreError {
                return VerifyReport(
                    run: run, events: after, firstBadSeq: error.seq ?? after + 1, problem: error.message,
                    headHash: headHash)
            }
            return VerifyReport.ended(run, last: after, lastHash: last, headSeq: headSeq, headHash: headHash)
        }
    }

    public func verifyChain(_ run: RunID) async throws -> VerifyReport {
        try await writer.read { db in
            let (headSeq, headHash) = try Self.head(db, run)
            var previous = EventCodec.genesisHash
            var expected: Int64 = 1
            func bad(_ seq: Int64, _ problem: String) -> VerifyReport {
                VerifyReport(run: run, events: expected - 1, firstBadSeq: seq, problem: problem, headHash: headHash)
            }
            let rows = try Row.fetchCursor(
                db, sql: "SELECT seq, body, hash, blobs FROM event WHERE run = ? ORDER BY seq",
                arguments: [run.rawValue])
            let blob = try db.cachedStatement(sql: "SELECT bytes FROM blob WHERE key = ?")
            while let row = try rows.next() {
                let seq: Int64 = row["seq"]
                guard seq == expected else { return bad(expected, "run \(run): event \(expected) is missing") }
                let body: Data = row["body"]
                let hash = [UInt8](row["hash"] as Data)
                guard EventCodec.chain(previous, body) == hash else {
                    return bad(seq, "run \(run): event \(seq) is corrupt (its hash does not chain)")
                }
                if let keys: String = row["blobs"] {
                    for key in keys.split(separator: ",").map(String.init) {
                        guard let bytes = try Data.fetchOne(blob, arguments: [key]) else {
                            return bad(seq, "run \(run): event \(seq) refers to a missing payload \(key.prefix(12))")
                        }
                        guard Payload.blobKey(bytes) == key else {
                            return bad(seq, "run \(run): event \(seq) refers to a payload that does not match its hash")
                        }
                    }
                }
                previous = hash
                expected += 1
            }
            return VerifyReport.ended(
                run, last: expected - 1, lastHash: previous, headSeq: headSeq, headHash: headHash)
        }
    }

    // MARK: Head witness

    public func witnessedHead(of run: RunID) async throws -> (seq: Int64, hash: String)? { witness.read(run) }

    public func witnessedRuns() async throws -> [RunID] { witness.runs() }

    // MARK: Leases

    public func acquireLease(
        _ key: LeaseKey, holder: LeaseHolder, ttl: Duration, isAlive: @Sendable (LeaseHolder) -> Bool
    ) async throws -> Lease {
        let now = configuration.now()
        do {
            return try await writer.write { db in
                let current = try Self.leaseRecord(db, key)
                if let current, current.lease.holder != holder, !current.isFree(now: now, ttl: ttl, isAlive: isAlive) {
                    let since = Date(timeIntervalSince1970: Double(current.lease.since.milliseconds) / 1000)
                    throw StoreError(
                        .leaseHeld,
                        """
                        \(key == .dream ? "the dream lease is held" : "\(key) is being advanced") by \
                        \(current.lease.holder) since \(since.formatted(.iso8601)); wait for it, or stop that process
                        """)
                }
                let lease = Lease(key: key, epoch: (current?.lease.epoch ?? 0) + 1, holder: holder, since: now)
                try db.execute(
                    sql: """
                        INSERT OR REPLACE INTO lease (run, epoch, host, boot, pid, started, since, heartbeat, released)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)
                        """,
                    arguments: [
                        key.storageKey, lease.epoch, holder.host, holder.boot, holder.pid, holder.started,
                        now.milliseconds, now.milliseconds,
                    ])
                return lease
            }
        } catch { throw Self.mapError(error, path: path) }
    }

    public func renewLease(_ lease: Lease) async throws {
        let now = configuration.now()
        do {
            try await writer.write { db in
                try db.execute(
                    sql: "UPDATE lease SET heartbeat = ? WHERE run = ? AND epoch = ? AND released = 0",
                    arguments: [now.milliseconds, lease.key.storageKey, lease.epoch])
                guard db.changesCount == 1 else {
                    throw StoreError(.leaseLost, "\(lease.key) was taken over; this process stops driving it")
                }
            }
        } catch { throw Self.mapError(error, path: path) }
    }

    public func releaseLease(_ lease: Lease) async throws {
        do {
            try await writer.write { db in
                try db.execute(
                    sql: "UPDATE lease SET released = 1 WHERE run = ? AND epoch = ?",
                    arguments: [lease.key.storageKey, lease.epoch])
            }
        } catch { throw Self.mapError(error, path: path) }
    }

    /// Stored as `released = 2`: a binary that knows only 0 and 1 reads it as released.
    public func handOverLease(_ lease: Lease) async throws {
        do {
            try await writer.write { db in
                try db.execute(
                    sql: "UPDATE lease SET released = 2 WHERE run = ? AND epoch = ? AND released = 0",
                    arguments: [lease.key.storageKey, lease.epoch])
            }
        } catch { throw Self.mapError(error, path: path) }
    }

    public func leaseRecord(of key: LeaseKey) async throws -> LeaseRecord? {
        try await writer.read { db in try Self.leaseRecord(db, key) }
    }

    /// The `lease` table's column is still named `run`: it holds a ``LeaseKey``'s storage key.
    static func leaseRecord(_ db: Database, _ key: LeaseKey) throws -> LeaseRecord? {
        guard
            let row = try Row.fetchOne(db, sql: "SELECT * FROM lease WHERE run = ?", arguments: [key.storageKey])
        else {
            return nil
        }
        let holder = LeaseHolder(
            host: row["host"], boot: row["boot"], pid: Int32(row["pid"] as Int64), started: row["started"])
        return LeaseRecord(
            lease: Lease(key: key, epoch: row["epoch"], holder: holder, since: Timestamp(milliseconds: row["since"])),
            heartbeat: Timestamp(milliseconds: row["heartbeat"]), released: (row["released"] as Int64) != 0,
            handedOver: (row["released"] as Int64) == 2)
    }

    static func mapError(_ error: any Error, path: String) -> StoreError {
        if let e = error as? StoreError { return e }
        if let db = error as? DatabaseError {
            switch db.resultCode {
            case .SQLITE_BUSY, .SQLITE_LOCKED:
                return StoreError(
                    .locked,
                    "the database \(path) is locked by another process; wait for it to finish or use another --db")
            case .SQLITE_READONLY:
                return StoreError(
                    .readOnly,
                    "the database \(path) is read-only: make it (and its folder) writable or pass another --db")
            case .SQLITE_FULL:
                return StoreError(.io, "the disk holding \(path) is full: nothing was written; free space and resume")
            case .SQLITE_CANTOPEN:
                return StoreError(.io, "cannot open the database \(path): check the path and its folder's permissions")
            case .SQLITE_NOTADB, .SQLITE_CORRUPT:
                return StoreError(.corrupt, "\(path) is not a valid Nightshift database (\(db.message ?? "corrupt"))")
            default:
                return StoreError(.io, "database error on \(path): \(db.message ?? "\(db.resultCode)")")
            }
        }
        return StoreError(.io, "database error on \(path): \(error)")
    }
}

struct AppendRequest: Sendable {
    var run: RunID
    var expectedSeq: Int64
    /// Canonical bytes of the events at positions expectedSeq + 1, +2, …
    var bodies: [EventCodec.Body]
    var snapshot: Snapshot?
    /// The driver's lease epoch, checked in the transaction; nil for unfenced appends.
    var fence: Int64?
}

/// Serialises appends and batches the ones that queue up while a commit is in flight.
///
/// The appender that finds no commit in flight writes its own request and returns. Appends that
/// queued up meanwhile are written by a drain task of the committer's own, one transaction per
/// batch, until none are left; each appender is resumed as soon as its batch is committed. No
/// appender is kept committing others' batches while its own run waits (with many runs appending
/// at once, a leader that drained until the queue was empty could be held for seconds: the
/// fleet benchmark's fan-out showed it).
actor GroupCommitter {
    private let writer: any DatabaseWriter
    private let path: String
    private var queue: [(AppendRequest, CheckedContinuation<[EventEnvelope], any Error>)] = []
    private var draining = false
    /// The run's head as witnessed outside the database, read in the transaction of every append.
    private let witnessed: @Sendable (RunID) -> (seq: Int64, hash: String)?

    init(
        writer: any DatabaseWriter, path: String,
        witnessed: @escaping @Sendable (RunID) -> (seq: Int64, hash: String)? = { _ in nil }
    ) {
        self.writer = writer
        self.path = path
        self.witnessed = witnessed
    }

    func submit(_ request: AppendRequest) async throws -> [EventEnvelope] {
        if draining {
            return try await withCheckedThrowingContinuation { queue.append((request, $0)) }
        }
        draining = true
        let mine = await write([request])[0]
        if queue.isEmpty {
            draining = false
        } else {
            Task { await self.drain() }
        }
        return try mine.get()
    }

    private func drain() async {
        while !queue.isEmpty {
            let batch = queue
            queue = []
            let results = await write(batch.map(\.0))
            for (entry, result) in zip(batch, results) { entry.1.resume(with: result) }
        }
        draining = false
    }

    /// One transaction for the whole batch; each request in its own savepoint so a conflict fails alone.
    private func write(_ requests: [AppendRequest]) async -> [Result<[EventEnvelope], any Error>] {
        let path = self.path
        let witnessed = self.witnessed
        do {
            return try await writer.write { db in
                requests.map { request in
                    Result { () throws -> [EventEnvelope] in
                        var out: [EventEnvelope] = []
                        try db.inSavepoint {
                            out = try Self.append(db, request, witness: witnessed(request.run))
                            return .commit
                        }
                        return out
                    }.mapError { SQLiteEventStore.mapError($0, path: path) as any Error }
                }
            }
        } catch {
            let mapped = SQLiteEventStore.mapError(error, path: path)
            return requests.map { _ in .failure(mapped) }
        }
    }

    private static func append(
        _ db: Database, _ r: AppendRequest, witness: (seq: Int64, hash: String)?
    ) throws -> [EventEnvelope] {
        if let fence = r.fence {
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT epoch, released, pid, host FROM lease WHERE run = ?"),
                arguments: [LeaseKey.run(r.run).storageKey])
            guard let row, row["epoch"] as Int64 == fence, row["released"] as Int64 == 0 else {
                let by = row.map { " by pid \($0["pid"] as Int64) on \($0["host"] as String)" } ?? ""
                throw StoreError(.leaseLost, "run \(r.run) was taken over\(by); this process stops driving it")
            }
        }
        let head = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT head_seq, head_hash, status, parent FROM run WHERE id = ?"),
            arguments: [r.run.rawValue])
        let headSeq: Int64 = head?["head_seq"] ?? 0
        guard headSeq == r.expectedSeq else {
            throw StoreError(
                .sequenceConflict,
                "run \(r.run) is at seq \(headSeq), not \(r.expectedSeq): another writer advanced it",
                seq: headSeq)
        }
        guard let first = r.bodies.first else { return [] }
        let time = first.time
        var previous = head.map { [UInt8]($0["head_hash"] as Data) } ?? EventCodec.genesisHash
        // Never append to a log that went back, or forked, from the head witnessed outside the
        // database: whatever the lost events did would be done again, and the append would erase
        // the evidence. Only a person's acceptance of the loss is appended to such a log.
        if let witness, !first.event.isRollbackAcceptance {
            try Self.check(db, r.run, head: headSeq, headHash: previous, against: witness)
        }
        var parent = (head?["parent"] as String?).map { RunID($0) }
        if head == nil {
            guard case let .runCreated(title, _, _, settings) = first.event else {
                throw StoreError(.runNotFound, "no run \(r.run); a run's first event must be run_created")
            }
            parent = settings.parent?.run
            try db.execute(
                sql: """
                    INSERT INTO run (id, title, status, created, updated, head_seq, head_hash, parent)
                    VALUES (?, ?, 'running', ?, ?, 0, ?, ?)
                    """,
                arguments: [
                    r.run.rawValue, title, time.milliseconds, time.milliseconds, Data(previous), parent?.rawValue,
                ])
        }
        let insert = try db.cachedStatement(
            sql: "INSERT INTO event (run, seq, kind, body, hash, blobs) VALUES (?, ?, ?, ?, ?, ?)")
        let insertBlob = try db.cachedStatement(sql: "INSERT OR IGNORE INTO blob (key, bytes) VALUES (?, ?)")
        var out: [EventEnvelope] = []
        out.reserveCapacity(r.bodies.count)
        var status: RunStatus?
        for body in r.bodies {
            let (seq, event) = (body.seq, body.event)
            let encoded = body.chained(after: previous)
            let keys = encoded.blobs.keys.sorted()
            for key in keys { try insertBlob.execute(arguments: [key, encoded.blobs[key]!]) }
            try insert.execute(arguments: [
                r.run.rawValue, seq, event.kind, encoded.body, Data(encoded.envelope.hash),
                keys.isEmpty ? nil : keys.joined(separator: ","),
            ])
            previous = encoded.envelope.hash
            if let s = event.statusAfter { status = s }
            out.append(encoded.envelope)
        }
        let lastEventRow = db.lastInsertedRowID  // the queue's version (see SQLiteRunQueue.apply)
        let newHead = r.expectedSeq + Int64(r.bodies.count)
        if let status {
            try db.execute(
                sql: "UPDATE run SET head_seq = ?, head_hash = ?, updated = ?, status = ? WHERE id = ?",
                arguments: [newHead, Data(previous), time.milliseconds, status.rawValue, r.run.rawValue])
        } else {
            try db.cachedStatement(sql: "UPDATE run SET head_seq = ?, head_hash = ?, updated = ? WHERE id = ?")
                .execute(arguments: [newHead, Data(previous), time.milliseconds, r.run.rawValue])
        }
        if let s = r.snapshot {
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO snapshot (run, seq, state) VALUES (?, ?, ?)")
                .execute(arguments: [r.run.rawValue, s.seq, Data(s.state)])
        }
        let statusNow = status ?? head.flatMap { RunStatus(rawValue: $0["status"]) } ?? .running
        let changes = QueueChange.after(
            appending: r.bodies.map(\.event), to: r.run, status: statusNow, parent: parent)
        if !changes.isEmpty {
            try SQLiteRunQueue.apply(changes, db, version: lastEventRow)
        }
        return out
    }
}

extension GroupCommitter {
    /// Throws `rolledBack` when the log ends before the witnessed head, or its event at the
    /// witnessed position is not the one witnessed (rewritten or replaced).
    static func check(
        _ db: Database, _ run: RunID, head: Int64, headHash: [UInt8], against witness: (seq: Int64, hash: String)
    ) throws {
        if witness.seq > head {
            throw StoreError(
                .rolledBack,
                "run \(run)'s log ends at event \(head) but it had reached event \(witness.seq) (its head witness beside "
                    + "the database): events \(head + 1)–\(witness.seq) were lost, likely with the database's -wal file, "
                    + "and what they did may have happened; nothing was appended", seq: head)
        }
        guard witness.seq > 0 else { return }
        let hash: [UInt8]? =
            witness.seq == head
            ? headHash
            : try Data.fetchOne(
                db.cachedStatement(sql: "SELECT hash FROM event WHERE run = ? AND seq = ?"),
                arguments: [run.rawValue, witness.seq]
            ).map { [UInt8]($0) }
        guard let hash, hash.hex == witness.hash else {
            throw StoreError(
                .rolledBack,
                "run \(run)'s event \(witness.seq) is not the one its head witness recorded: the log was replaced or "
                    + "rewritten; nothing was appended", seq: witness.seq)
        }
    }
}

extension SQLiteEventStore {
    /// Mean ms of `count` single-row commits in a scratch table, with this store's durability:
    /// the disk's physical limit that every figure is read against.
    public func measureRawCommits(count: Int) throws -> Double {
        try writer.writeWithoutTransaction { db in
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS commit_probe (n INTEGER)")
        }
        let start = ContinuousClock.now
        for n in 0..<count {
            try writer.write { db in try db.execute(sql: "INSERT INTO commit_probe (n) VALUES (?)", arguments: [n]) }
        }
        let d = ContinuousClock.now - start
        return (Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15) / Double(count)
    }
}

import Foundation
public import Logging
public import NightshiftCore
public import PostgresNIO
import Synchronization

/// The event log, its audit and the leases on PostgreSQL, for many workers on many hosts: the
/// same canonical bytes and hash chain as SQLite (``EventCodec``), each append one transaction
/// that checks the run's head and, for a driver, its lease's epoch (the fencing token) under a
/// row lock, and every lease's time taken from the database's clock, so hosts whose clocks
/// disagree still agree on who holds a run.
///
/// It keeps the run queue as SQLite does, in each append's transaction (`PostgresRunQueue`), and
/// signals appends to every host by LISTEN/NOTIFY (``LogSignal``). The memory bank, tokens and
/// schedules share its pool; ``PostgresDatabase`` is what the composition root opens.
public final class PostgresEventStore: EventStore, Sendable {
    /// Where it connects, and the event times' clock (the leases use the database's).
    public struct Configuration: Sendable {
        public var client: PostgresClient.Configuration
        public var now: @Sendable () -> Timestamp
        public init(client: PostgresClient.Configuration, now: (@Sendable () -> Timestamp)? = nil) {
            self.client = client
            self.now = now ?? { Timestamp(milliseconds: Int64((Date().timeIntervalSince1970 * 1000).rounded())) }
        }
    }

    let client: PostgresClient
    public let configuration: Configuration
    let logger: Logger
    /// The log signal's generations and waiters, fed by this store's commits and the listener.
    let board = LogSignalBoard<RunID>()
    /// Whether the listening connection is up (see ``hearsOtherProcesses()``).
    let listening = Atomic<Bool>(false)

    /// A store over `client`, which must be running (``run()``, which also listens for other
    /// hosts' appends) for any call to be answered.
    public init(_ configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.client = PostgresClient(configuration: configuration.client, backgroundLogger: logger)
        self.logger = logger
    }

    /// Runs the connection pool, and the connection that listens for appends, until cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            group.addTask { await self.listen() }
        }
    }

    /// Makes the schema, or brings it up to this binary's version; refuses a newer one.
    public func migrate() async throws {
        do { try await PostgresSchema.migrate(client, logger: logger) } catch {
            throw Self.mapError(error, run: nil, expectedSeq: nil)
        }
    }

    /// Runs one statement with no parameters (administration: the tests make databases with it).
    package func execute(_ sql: String) async throws {
        try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
    }

    // MARK: - EventLog

    public func append(
        _ events: [Event], to run: RunID, expectedSeq: Int64, snapshot: Snapshot?, fence: Lease?
    ) async throws -> [EventEnvelope] {
        let time = configuration.now()
        let bodies = try events.enumerated().map { n, event in
            try EventCodec.body(event, run: run, seq: expectedSeq + Int64(n) + 1, time: time)
        }
        let out: [EventEnvelope]
        do {
            out = try await client.withTransaction(logger: logger) { c in
                try await Self.append(
                    c, run: run, expectedSeq: expectedSeq, bodies: bodies, snapshot: snapshot,
                    fence: fence?.epoch, logger: logger)
            }
        } catch { throw Self.mapError(error, run: run, expectedSeq: expectedSeq) }
        // Waiters here hear it now, not after the notification's round trip (which comes too).
        if !out.isEmpty { board.bump([run]) }
        return out
    }

    static func append(
        _ c: PostgresConnection, run: RunID, expectedSeq: Int64, bodies: [EventCodec.Body], snapshot: Snapshot?,
        fence: Int64?, logger: Logger
    ) async throws -> [EventEnvelope] {
        let id = run.rawValue
        if let fence {
            // Locked (shared) until the commit: a take-over waits for this append, then fences the next.
            let key = LeaseKey.run(run).storageKey
            let rows = try await c.query(
                "SELECT epoch, released, pid, host FROM lease WHERE key = \(key) FOR SHARE", logger: logger)
            var current: (Int64, Int16, Int32, String)?
            for try await row in rows.decode((Int64, Int16, Int32, String).self) { current = row }
            guard let current, current.0 == fence, current.1 == 0 else {
                let by = current.map { " by pid \($0.2) on \($0.3)" } ?? ""
                throw StoreError(.leaseLost, "run \(run) was taken over\(by); this process stops driving it")
            }
        }
        var head: (seq: Int64, hash: Data, status: String, parent: String?)?
        let rows = try await c.query(
            "SELECT head_seq, head_hash, status, parent FROM run WHERE id = \(id) FOR UPDATE", logger: logger)
        for try await (seq, hash, status, parent) in rows.decode((Int64, Data, String, String?).self) {
            head = (seq, hash, status, parent)
        }
        let headSeq = head?.seq ?? 0
        guard headSeq == expectedSeq else {
            throw StoreError(
                .sequenceConflict,
                "run \(run) is at seq \(headSeq), not \(expectedSeq): another writer advanced it", seq: headSeq)
        }
        guard let first = bodies.first else { return [] }
        let time = first.time.milliseconds
        var previous = head.map { [UInt8]($0.hash) } ?? EventCodec.genesisHash
        var parentRun = head?.parent.map { RunID($0) }
        if head == nil {
            guard case let .runCreated(title, _, _, settings) = first.event else {
                throw StoreError(.runNotFound, "no run \(run); a run's first event must be run_created")
            }
            parentRun = settings.parent?.run
            let parent = settings.parent?.run.rawValue
            let genesis = Data(previous)
            try await c.query(
                """
                INSERT INTO run (id, title, status, created, updated, head_seq, head_hash, parent)
                VALUES (\(id), \(title), 'running', \(time), \(time), 0, \(genesis), \(parent))
                """, logger: logger)
        }
        var out: [EventEnvelope] = []
        out.reserveCapacity(bodies.count)
        var status: RunStatus?
        var encodedBodies: [EventCodec.Encoded] = []
        var chain = previous
        for body in bodies {
            let encoded = body.chained(after: chain)
            chain = encoded.envelope.hash
            encodedBodies.append(encoded)
        }
        // Every blob of the batch first, in key order: two batches sharing blobs take their locks
        // in the same order, so they never wait on each other in a circle.
        var blobs: [String: Data] = [:]
        for e in encodedBodies { blobs.merge(e.blobs) { a, _ in a } }
        for key in blobs.keys.sorted() {
            let bytes = blobs[key]!
            try await c.query(
                "INSERT INTO blob (key, bytes) VALUES (\(key), \(bytes)) ON CONFLICT (key) DO NOTHING", logger: logger)
        }
        for (body, encoded) in zip(bodies, encodedBodies) {
            let keys = encoded.blobs.keys.sorted()
            let (seq, kind, bytes, hash) = (body.seq, body.event.kind, encoded.body, Data(encoded.envelope.hash))
            let blobs = keys.isEmpty ? nil : keys.joined(separator: ",")
            try await c.query(
                """
                INSERT INTO event (run, seq, kind, body, hash, blobs)
                VALUES (\(id), \(seq), \(kind), \(bytes), \(hash), \(blobs))
                """, logger: logger)
            previous = encoded.envelope.hash
            if let s = body.event.statusAfter { status = s }
            out.append(encoded.envelope)
        }
        let newHead = expectedSeq + Int64(bodies.count)
        let (headHash, statusText) = (Data(previous), (status?.rawValue ?? head?.status) ?? "running")
        try await c.query(
            """
            UPDATE run SET head_seq = \(newHead), head_hash = \(headHash), updated = \(time), status = \(statusText)
            WHERE id = \(id)
            """, logger: logger)
        // The run queue, kept in the same transaction (see `QueueChange`).
        let changes = QueueChange.after(
            appending: bodies.map(\.event), to: run, status: RunStatus(rawValue: statusText) ?? .running,
            parent: parentRun)
        if !changes.isEmpty { try await Self.apply(changes, c, logger: logger) }
        if let snapshot {
            let state = Data(snapshot.state)
            try await c.query(
                """
                INSERT INTO snapshot (run, seq, state) VALUES (\(id), \(snapshot.seq), \(state))
                ON CONFLICT (run) DO UPDATE SET seq = EXCLUDED.seq, state = EXCLUDED.state
                """, logger: logger)
        }
        // Sent by the server at commit, and never if the transaction rolls back.
        for try await _ in try await c.query("SELECT pg_notify(\(Self.channel), \(id))", logger: logger) {}
        return out
    }

    public func read(_ run: RunID, after: Int64, limit: Int) async throws -> [EventEnvelope] {
        do {
            return try await client.withConnection { c in
                try await Self.read(c, run: run, after: after, limit: limit, logger: self.logger)
            }
        } catch { throw Self.mapError(error, run: run, expectedSeq: nil) }
    }

    static func read(
        _ c: PostgresConnection, run: RunID, after: Int64, limit: Int, logger: Logger
    ) async throws -> [EventEnvelope] {
        let id = run.rawValue
        var exists = false
        for try await _ in try await c.query("SELECT 1 FROM run WHERE id = \(id)", logger: logger).decode(Int32.self) {
            exists = true
        }
        guard exists else {
            throw StoreError(.runNotFound, "no run \(run) in this database (nightshift status lists the runs)")
        }
        var previous = EventCodec.genesisHash
        if after > 0 {
            var found: Data?
            for try await h in try await c.query(
                "SELECT hash FROM event WHERE run = \(id) AND seq = \(after)", logger: logger
            ).decode(Data.self) { found = h }
            guard let found else { throw StoreError(.corrupt, "run \(run): event \(after) is missing", seq: after) }
            previous = [UInt8](found)
        }
        let cap = Int64(limit == .max ? Int(Int64.max) : limit)
        var rows: [(Int64, Data, Data, String?)] = []
        for try await row in try await c.query(
            "SELECT seq, body, hash, blobs FROM event WHERE run = \(id) AND seq > \(after) ORDER BY seq LIMIT \(cap)",
            logger: logger
        ).decode((Int64, Data, Data, String?).self) { rows.append(row) }
        let keys = Set(rows.flatMap { $0.3.map { $0.split(separator: ",").map(String.init) } ?? [] })
        var blobs: [String: Data] = [:]
        for key in keys {
            for try await bytes in try await c.query("SELECT bytes FROM blob WHERE key = \(key)", logger: logger)
                .decode(Data.self)
            {
                blobs[key] = bytes
            }
        }
        return try EventCodec.decodeRecords(
            rows.map { ($0.0, $0.1, $0.2) }, of: run, after: after, previous: previous, blobs: BlobSource(blobs))
    }

    public func runs() async throws -> [RunSummary] {
        try await summaries(
            "SELECT id, title, status, created, updated, head_seq FROM run ORDER BY created DESC, id DESC")
    }

    public func runs(status: RunStatus?, limit: Int, offset: Int) async throws -> (runs: [RunSummary], total: Int) {
        let (l, o) = (Int64(limit), Int64(offset))
        let page: [RunSummary]
        var total = 0
        do {
            if let status = status?.rawValue {
                page = try await summaries(
                    """
                    SELECT id, title, status, created, updated, head_seq FROM run WHERE status = \(status)
                    ORDER BY created DESC, id DESC LIMIT \(l) OFFSET \(o)
                    """)
                for try await n in try await client.query(
                    "SELECT count(*) FROM run WHERE status = \(status)", logger: logger
                ).decode(Int64.self) { total = Int(n) }
            } else {
                page = try await summaries(
                    """
                    SELECT id, title, status, created, updated, head_seq FROM run
                    ORDER BY created DESC, id DESC LIMIT \(l) OFFSET \(o)
                    """)
                for try await n in try await client.query("SELECT count(*) FROM run", logger: logger).decode(Int64.self)
                {
                    total = Int(n)
                }
            }
        } catch { throw Self.mapError(error, run: nil, expectedSeq: nil) }
        return (page, total)
    }

    public func summary(of run: RunID) async throws -> RunSummary? {
        try await summaries(
            "SELECT id, title, status, created, updated, head_seq FROM run WHERE id = \(run.rawValue)"
        ).first
    }

    func summaries(_ query: PostgresQuery) async throws -> [RunSummary] {
        do {
            var out: [RunSummary] = []
            for try await (id, title, status, created, updated, head) in try await client.query(query, logger: logger)
                .decode((String, String, String, Int64, Int64, Int64).self)
            {
                out.append(
                    RunSummary(
                        id: RunID(id), title: title, status: RunStatus(rawValue: status) ?? .failed,
                        created: Timestamp(milliseconds: created), updated: Timestamp(milliseconds: updated),
                        headSeq: head))
            }
            return out
        } catch { throw Self.mapError(error, run: nil, expectedSeq: nil) }
    }

    public func events(of kind: Event.Kind) async throws -> [EventEnvelope] {
        do {
            return try await client.withConnection { c in
                var found: [(String, Int64)] = []
                for try await row in try await c.query(
                    "SELECT run, seq FROM event WHERE kind = \(kind.rawValue)", logger: self.logger
                ).decode((String, Int64).self) { found.append(row) }
                var out: [EventEnvelope] = []
                for (run, seq) in found {
                    out += try await Self.read(c, run: RunID(run), after: seq - 1, limit: 1, logger: self.logger)
                }
                return out
            }
        } catch { throw Self.mapError(error, run: nil, expectedSeq: nil) }
    }

    public func latestSnapshot(of run: RunID) async throws -> Snapshot? {
        do {
            for try await (seq, state) in try await client.query(
                "SELECT seq, state FROM snapshot WHERE run = \(run.rawValue)", logger: logger
            ).decode((Int64, Data).self) {
                return Snapshot(seq: seq, state: [UInt8](state))
            }
            return nil
        } catch { throw Self.mapError(error, run: run, expectedSeq: nil) }
    }

    // MARK: - LogAudit

    /// None: PostgreSQL does not lose a committed transaction the way a lost SQLite `-wal` file
    /// does, so there is no head kept outside it to compare with.
    public func witnessedHead(of run: RunID) async throws -> (seq: Int64, hash: String)? { nil }
    public func witnessedRuns() async throws -> [RunID] { [] }

    public func verify(_ run: RunID) async throws -> VerifyReport {
        try await consistent { c in
            let (headSeq, headHash) = try await Self.head(c, run, logger: self.logger)
            var after: Int64 = 0
            var last = EventCodec.genesisHash
            do {
                while true {
                    let page = try await Self.read(c, run: run, after: after, limit: 1000, logger: self.logger)
                    guard let tail = page.last else { break }
                    after = tail.seq
                    last = tail.hash
                }
            } catch let error as StoreError where error.code == .corrupt {
                return VerifyReport(
                    run: run, events: after, firstBadSeq: error.seq ?? after + 1, problem: error.message,
                    headHash: headHash)
            }
            return VerifyReport.ended(run, last: after, lastHash: last, headSeq: headSeq, headHash: headHash)
        }
    }

    public func verifyChain(_ run: RunID) async throws -> VerifyReport {
        try await consistent { c in
            let (headSeq, headHash) = try await Self.head(c, run, logger: self.logger)
            var previous = EventCodec.genesisHash
            var expected: Int64 = 1
            func bad(_ seq: Int64, _ problem: String) -> VerifyReport {
                VerifyReport(run: run, events: expected - 1, firstBadSeq: seq, problem: problem, headHash: headHash)
            }
            // A page at a time: a long log is never held whole.
            while true {
                var rows: [(Int64, Data, Data, String?)] = []
                for try await row in try await c.query(
                    """
                    SELECT seq, body, hash, blobs FROM event WHERE run = \(run.rawValue) AND seq >= \(expected)
                    ORDER BY seq LIMIT 1000
                    """, logger: self.logger
                ).decode((Int64, Data, Data, String?).self) { rows.append(row) }
                if rows.isEmpty { break }
                for (seq, body, hashData, keys) in rows {
                    guard seq == expected else { return bad(expected, "run \(run): event \(expected) is missing") }
                    let hash = [UInt8](hashData)
                    guard EventCodec.chain(previous, body) == hash else {
                        return bad(seq, "run \(run): event \(seq) is corrupt (its hash does not chain)")
                    }
                    for key in keys.map({ $0.split(separator: ",").map(String.init) }) ?? [] {
                        var bytes: Data?
                        for try await b in try await c.query(
                            "SELECT bytes FROM blob WHERE key = \(key)", logger: self.logger
                        ).decode(Data.self) { bytes = b }
                        guard let bytes else {
                            return bad(seq, "run \(run): event \(seq) refers to a missing payload \(key.prefix(12))")
                        }
                        guard Payload.blobKey(bytes) == key else {
                            return bad(seq, "run \(run): event \(seq) refers to a payload that does not match its hash")
                        }
                    }
                    previous = hash
                    expected += 1
                }
            }
            return VerifyReport.ended(run, last: expected - 1, lastHash: previous, headSeq: headSeq, headHash: headHash)
        }
    }

    /// `body` in one read-only transaction that sees one state of the database: the run index's
    /// head and the events are read as of the same moment (an append meanwhile is not half seen).
    func consistent<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withConnection { c in
                try await c.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: self.logger)
                do {
                    let result = try await body(c)
                    try await c.query("COMMIT", logger: self.logger)
                    return result
                } catch {
                    _ = try? await c.query("ROLLBACK", logger: self.logger)
                    throw error
                }
            }
        } catch { throw Self.mapError(error, run: nil, expectedSeq: nil) }
    }

    static func head(_ c: PostgresConnection, _ run: RunID, logger: Logger) async throws -> (seq: Int64, hash: [UInt8])
    {
        for try await (seq, hash) in try await c.query(
            "SELECT head_seq, head_hash FROM run WHERE id = \(run.rawValue)", logger: logger
        ).decode((Int64, Data).self) {
            return (seq, [UInt8](hash))
        }
        throw StoreError(.runNotFound, "no run \(run) in this database (nightshift status lists the runs)")
    }

    // MARK: - LogSignal

    /// The channel each append notifies, its payload the run's ID.
    static let channel = "nightshift_log"
    /// The wait before the first try to listen again after the connection is lost; it doubles up to
    /// ``longestPause`` while tries fail.
    static let firstPause = Duration.milliseconds(100)
    static let longestPause = Duration.seconds(30)

    /// Holds one pool connection (the pool's address, TLS and password) listening on ``channel``
    /// while the store runs, and takes another when it is lost (the server restarted, the backend
    /// was killed). Each time it starts to listen it bumps every waiter: appends made while it was
    /// deaf were not heard.
    func listen() async {
        var pause = Self.firstPause
        while !Task.isCancelled {
            do {
                try await client.withConnection { c in
                    try await c.listen(on: Self.channel) { notifications in
                        board.bumpAll()
                        listening.store(true, ordering: .releasing)
                        for try await n in notifications { board.bump([RunID(n.payload)]) }
                    }
                }
            } catch {
                if !Task.isCancelled {
                    logger.debug("not listening for appends", metadata: ["error": "\(String(reflecting: error))"])
                }
            }
            if listening.exchange(false, ordering: .acquiringAndReleasing) {
                pause = Self.firstPause
                if !Task.isCancelled {
                    logger.warning("lost the connection that hears other hosts' appends; listening again")
                }
            }
            if Task.isCancelled { return }
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, Self.longestPause)
        }
    }

    // MARK: - Errors

    /// A PostgreSQL error as the store's: a second creator of a run is a sequence conflict, a
    /// connection that cannot be made says where (never the password).
    static func mapError(_ error: any Error, run: RunID?, expectedSeq: Int64?) -> any Error {
        if error is StoreError { return error }
        if let t = error as? PostgresTransactionError {
            // What went wrong inside the transaction, or at its begin or commit.
            if let inner = t.closureError ?? t.commitError ?? t.beginError {
                return mapError(inner, run: run, expectedSeq: expectedSeq)
            }
        }
        if let psql = error as? PSQLError {
            let state = psql.serverInfo?[.sqlState]
            if state == "23505", let run {
                return StoreError(
                    .sequenceConflict,
                    "run \(run) is not at seq \(expectedSeq ?? 0): another writer advanced it", seq: expectedSeq)
            }
            if state == "40001" || state == "40P01" {
                return StoreError(.locked, "the database refused the write because another one raced it; try again")
            }
            if state == "55P03" {
                return StoreError(
                    .locked, "a row this needs stayed locked past lock_timeout (another session's open transaction)")
            }
            let message = psql.serverInfo?[.message] ?? "\(psql.code)"
            // Passing: the connection (08), the server shutting down (57P), its resources (53), a
            // conflict (40), and no SQLSTATE at all (the client's connection). Anything else
            // (a permission, a missing table) stays until a person acts.
            guard let state, !["08", "57", "53", "40"].contains(where: { state.hasPrefix($0) }) else {
                return StoreError(.io, "PostgreSQL: \(message)")
            }
            return StoreError(.refused, "PostgreSQL: \(message) (SQLSTATE \(state))")
        }
        return error
    }
}

/// The store's ``LogSignal``: each append notifies ``PostgresEventStore/channel`` with its run's ID
/// inside its transaction, so it is delivered at commit and never for an append rolled back or
/// refused, and one connection per store listens: every host hears every append without reading a
/// row (LISTEN reads nothing, and nothing here polls). The run queue changes only in appends (a
/// decision, an answer, a child's end make a run runnable), so the same notification wakes a worker
/// waiting on any run. While the listening connection is down only this process's appends are heard
/// and ``hearsOtherProcesses()`` is false, so waiters fall back to their timeout.
extension PostgresEventStore: LogSignal {
    public func generation(of run: RunID?) async -> UInt64 { board.generation(of: run) }

    public func wait(for run: RunID?, past seen: UInt64, timeout: Duration) async -> Bool {
        await board.wait(for: run, past: seen, timeout: timeout)
    }

    public func hearsOtherProcesses() async -> Bool { listening.load(ordering: .acquiring) }
}

import Foundation
import Logging
public import NightshiftCore
import PostgresNIO

/// Moving runs in and out (``EventLog/records(of:)``, ``EventLog/restore(_:)``) and pruning them
/// (``LogRetention``), each one transaction.
extension PostgresEventStore: LogRetention {
    public func records(of run: RunID) async throws -> RunRecords {
        let id = run.rawValue
        // Read as of one moment: an append meanwhile is either wholly seen or not at all.
        return try await consistent { c in
            _ = try await Self.head(c, run, logger: self.logger)
            var rows: [(Int64, Data, Data, String?)] = []
            for try await row in try await c.query(
                "SELECT seq, body, hash, blobs FROM event WHERE run = \(id) ORDER BY seq", logger: self.logger
            ).decode((Int64, Data, Data, String?).self) { rows.append(row) }
            let keys = Set(rows.flatMap { $0.3.map { $0.split(separator: ",").map(String.init) } ?? [] })
            var blobs: [String: Data] = [:]
            if !keys.isEmpty {
                let wanted = Array(keys)
                for try await (key, bytes) in try await c.query(
                    "SELECT key, bytes FROM blob WHERE key = ANY(\(wanted))", logger: self.logger
                ).decode((String, Data).self) { blobs[key] = bytes }
            }
            var snapshot: Snapshot?
            for try await (seq, state) in try await c.query(
                "SELECT seq, state FROM snapshot WHERE run = \(id)", logger: self.logger
            ).decode((Int64, Data).self) { snapshot = Snapshot(seq: seq, state: [UInt8](state)) }
            return try RunRecords(
                run: run,
                records: rows.map { ($0.0, $0.1, [UInt8]($0.2), $0.3?.split(separator: ",").map(String.init) ?? []) },
                blobs: blobs, snapshot: snapshot)
        }
    }

    public func restore(_ runs: [RunRecords]) async throws {
        guard !runs.isEmpty else { return }
        do {
            try await client.withTransaction(logger: logger) { c in
                var seen = Set<RunID>()
                for r in runs {
                    var here = false
                    for try await _ in try await c.query(
                        "SELECT 1 FROM run WHERE id = \(r.run.rawValue)", logger: logger
                    ).decode(Int32.self) { here = true }
                    guard !here, seen.insert(r.run).inserted else {
                        throw StoreError(.runExists, "run \(r.run) is already in this database; nothing was imported")
                    }
                }
                // Every blob first, in key order, as appends write theirs (no wait in a circle).
                var blobs: [String: Data] = [:]
                for r in runs { blobs.merge(r.blobs) { a, _ in a } }
                for key in blobs.keys.sorted() {
                    let bytes = blobs[key]!
                    try await c.query(
                        "INSERT INTO blob (key, bytes) VALUES (\(key), \(bytes)) ON CONFLICT (key) DO NOTHING",
                        logger: logger)
                }
                for r in runs {
                    let (id, s) = (r.run.rawValue, r.summary)
                    let (status, created, updated) = (s.status.rawValue, s.created.milliseconds, s.updated.milliseconds)
                    let (head, parent) = (Data(r.headHash), r.parent?.rawValue)
                    try await c.query(
                        """
                        INSERT INTO run (id, title, status, created, updated, head_seq, head_hash, parent)
                        VALUES (\(id), \(s.title), \(status), \(created), \(updated), \(s.headSeq), \(head), \(parent))
                        """, logger: logger)
                    for e in r.records {
                        let (hash, keys) = (Data(e.hash), e.blobKeys.isEmpty ? nil : e.blobKeys.joined(separator: ","))
                        try await c.query(
                            """
                            INSERT INTO event (run, seq, kind, body, hash, blobs)
                            VALUES (\(id), \(e.seq), \(e.kind), \(e.body), \(hash), \(keys))
                            """, logger: logger)
                    }
                    if let snapshot = r.snapshot {
                        let state = Data(snapshot.state)
                        try await c.query(
                            "INSERT INTO snapshot (run, seq, state) VALUES (\(id), \(snapshot.seq), \(state))",
                            logger: logger)
                    }
                    if let wake = r.wake { try await Self.apply([.wake(r.run, wake)], c, logger: logger) }
                    // Heard by every host's workers at commit, as an append's.
                    for try await _ in try await c.query("SELECT pg_notify(\(Self.channel), \(id))", logger: logger) {}
                }
            }
        } catch {
            let mapped = Self.mapError(error, run: nil, expectedSeq: nil)
            // Another import or a new run with the same id committed first.
            if let psql = (error as? PostgresTransactionError)?.closureError as? PSQLError ?? error as? PSQLError,
                psql.serverInfo?[.sqlState] == "23505"
            {
                throw StoreError(.runExists, "a run of this import is already in this database; nothing was imported")
            }
            throw mapped
        }
        board.bump(runs.map(\.run))
    }

    // MARK: - LogRetention

    public func prune(_ pruned: [PrunedRun]) async throws {
        guard !pruned.isEmpty else { return }
        do {
            try await client.withTransaction(logger: logger) { c in
                let ids = Set(pruned.map(\.run.rawValue))
                var keys = Set<String>()
                for p in pruned {
                    let id = p.run.rawValue
                    var row: (Int64, Data, String, String?)?
                    for try await r in try await c.query(
                        "SELECT head_seq, head_hash, status, parent FROM run WHERE id = \(id) FOR UPDATE",
                        logger: logger
                    ).decode((Int64, Data, String, String?).self) { row = r }
                    guard let (seq, hash, status, parent) = row else {
                        throw StoreError(.runNotFound, "no run \(p.run) in this database; nothing was pruned")
                    }
                    var parentStatus: String?
                    if let parent, !ids.contains(parent) {
                        for try await s in try await c.query(
                            "SELECT status FROM run WHERE id = \(parent) FOR SHARE", logger: logger
                        ).decode(String.self) { parentStatus = s }
                    }
                    var leftOut: [String] = []
                    for try await kid in try await c.query(
                        "SELECT id FROM run WHERE parent = \(id) FOR SHARE", logger: logger
                    ).decode(String.self) where !ids.contains(kid) { leftOut.append(kid) }
                    if let refusal = p.refusal(
                        headSeq: seq, headHash: [UInt8](hash), status: status, parent: parent,
                        parentStatus: parentStatus, leftOut: leftOut)
                    {
                        throw refusal
                    }
                    for try await list in try await c.query(
                        "SELECT blobs FROM event WHERE run = \(id) AND blobs IS NOT NULL", logger: logger
                    ).decode(String.self) { keys.formUnion(list.split(separator: ",").map(String.init)) }
                }
                for p in pruned {
                    let (id, lease) = (p.run.rawValue, LeaseKey.run(p.run).storageKey)
                    try await c.query("DELETE FROM event WHERE run = \(id)", logger: logger)
                    try await c.query("DELETE FROM snapshot WHERE run = \(id)", logger: logger)
                    try await c.query("DELETE FROM run_queue WHERE run = \(id)", logger: logger)
                    try await c.query("DELETE FROM lease WHERE key = \(lease)", logger: logger)
                    try await c.query("DELETE FROM run WHERE id = \(id)", logger: logger)
                    let (root, time) = (p.root.rawValue, p.time.milliseconds)
                    try await c.query(
                        """
                        INSERT INTO retention_log
                            (run, root, head_seq, head_hash, export_file, export_sha256, time, pruned_by)
                        VALUES (\(id), \(root), \(p.headSeq), \(p.headHash), \(p.exportFile), \(p.exportSHA256),
                            \(time), \(p.by))
                        """, logger: logger)
                }
                if !keys.isEmpty {
                    // An append that refers to a blob it found already stored (its insert did nothing)
                    // must not lose it to this delete: the lock waits for every append writing blobs
                    // to commit (so its events are seen below) and holds off new ones until this
                    // commits (they then store the blob again).
                    try await c.query("LOCK TABLE blob IN SHARE ROW EXCLUSIVE MODE", logger: logger)
                    let candidates = Array(keys)
                    try await c.query(
                        """
                        DELETE FROM blob WHERE key = ANY(\(candidates)) AND NOT EXISTS (
                            SELECT 1 FROM event WHERE blobs IS NOT NULL
                                AND string_to_array(blobs, ',') @> ARRAY[blob.key])
                        """, logger: logger)
                }
            }
        } catch { throw Self.mapError(error, run: nil, expectedSeq: nil) }
    }

    public func prunings() async throws -> [PrunedRun] {
        try await retention("SELECT \(unescaped: Self.retentionColumns) FROM retention_log ORDER BY n")
    }

    public func pruning(of run: RunID) async throws -> PrunedRun? {
        try await retention(
            """
            SELECT \(unescaped: Self.retentionColumns) FROM retention_log WHERE run = \(run.rawValue)
            ORDER BY n DESC LIMIT 1
            """
        ).first
    }

    static let retentionColumns = "run, root, head_seq, head_hash, export_file, export_sha256, time, pruned_by"

    func retention(_ query: PostgresQuery) async throws -> [PrunedRun] {
        do {
            var out: [PrunedRun] = []
            for try await (run, root, seq, hash, file, sha, time, by) in try await client.query(query, logger: logger)
                .decode((String, String, Int64, String, String, String, Int64, String).self)
            {
                out.append(
                    PrunedRun(
                        run: RunID(run), root: RunID(root), headSeq: seq, headHash: hash, exportFile: file,
                        exportSHA256: sha, time: Timestamp(milliseconds: time), by: by))
            }
            return out
        } catch { throw Self.mapError(error, run: nil, expectedSeq: nil) }
    }
}

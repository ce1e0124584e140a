import Foundation
import GRDB
public import NightshiftCore
import Synchronization

/// Moving runs in and out (``EventLog/records(of:)``, ``EventLog/restore(_:)``) and pruning them
/// (``LogRetention``): each one transaction on the writer.
extension SQLiteEventStore: LogRetention {
    public func records(of run: RunID) async throws -> RunRecords {
        do {
            return try await writer.read { db in
                _ = try Self.head(db, run)
                let rows = try Row.fetchAll(
                    db, sql: "SELECT seq, body, hash, blobs FROM event WHERE run = ? ORDER BY seq",
                    arguments: [run.rawValue])
                var blobs: [String: Data] = [:]
                let records = try rows.map { row -> (seq: Int64, body: Data, hash: [UInt8], blobKeys: [String]) in
                    let keys = (row["blobs"] as String?)?.split(separator: ",").map(String.init) ?? []
                    for key in keys where blobs[key] == nil {
                        blobs[key] = try Data.fetchOne(
                            db, sql: "SELECT bytes FROM blob WHERE key = ?", arguments: [key])
                    }
                    return (row["seq"], row["body"], [UInt8](row["hash"] as Data), keys)
                }
                let snapshot = try Row.fetchOne(
                    db, sql: "SELECT seq, state FROM snapshot WHERE run = ?", arguments: [run.rawValue]
                ).map { Snapshot(seq: $0["seq"], state: [UInt8]($0["state"] as Data)) }
                return try RunRecords(run: run, records: records, blobs: blobs, snapshot: snapshot)
            }
        } catch { throw Self.mapError(error, path: path) }
    }

    public func restore(_ runs: [RunRecords]) async throws {
        do {
            try await writer.write { db in
                var seen = Set<RunID>()
                for r in runs {
                    let here = try Bool.fetchOne(db, sql: "SELECT 1 FROM run WHERE id = ?", arguments: [r.run.rawValue])
                    guard here != true, seen.insert(r.run).inserted else {
                        throw StoreError(.runExists, "run \(r.run) is already in this database; nothing was imported")
                    }
                }
                let insertEvent = try db.cachedStatement(
                    sql: "INSERT INTO event (run, seq, kind, body, hash, blobs) VALUES (?, ?, ?, ?, ?, ?)")
                let insertBlob = try db.cachedStatement(sql: "INSERT OR IGNORE INTO blob (key, bytes) VALUES (?, ?)")
                for r in runs {
                    let s = r.summary
                    try db.execute(
                        sql: """
                            INSERT INTO run (id, title, status, created, updated, head_seq, head_hash, parent)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [
                            r.run.rawValue, s.title, s.status.rawValue, s.created.milliseconds, s.updated.milliseconds,
                            s.headSeq, Data(r.headHash), r.parent?.rawValue,
                        ])
                    for key in r.blobs.keys.sorted() { try insertBlob.execute(arguments: [key, r.blobs[key]!]) }
                    for e in r.records {
                        try insertEvent.execute(arguments: [
                            r.run.rawValue, e.seq, e.kind, e.body, Data(e.hash),
                            e.blobKeys.isEmpty ? nil : e.blobKeys.joined(separator: ","),
                        ])
                    }
                    // The queue's version: the rowid of the run's last event, as an append's.
                    let version = db.lastInsertedRowID
                    if let snapshot = r.snapshot {
                        try db.execute(
                            sql: "INSERT INTO snapshot (run, seq, state) VALUES (?, ?, ?)",
                            arguments: [r.run.rawValue, snapshot.seq, Data(snapshot.state)])
                    }
                    if let wake = r.wake { try SQLiteRunQueue.apply([.wake(r.run, wake)], db, version: version) }
                }
            }
        } catch { throw Self.mapError(error, path: path) }
        for r in runs { witness.record(r.run, seq: r.summary.headSeq, hash: r.headHash) }
        if let w = watcher.withLock({ $0 }) { w.bump(runs.map { HeadWitness.fileName($0.run) }) }
    }

    // MARK: LogRetention

    public func prune(_ pruned: [PrunedRun]) async throws {
        guard !pruned.isEmpty else { return }
        do {
            try await writer.write { db in
                let ids = Set(pruned.map(\.run.rawValue))
                var keys = Set<String>()
                for p in pruned {
                    guard
                        let row = try Row.fetchOne(
                            db, sql: "SELECT head_seq, head_hash, status, parent FROM run WHERE id = ?",
                            arguments: [p.run.rawValue])
                    else { throw StoreError(.runNotFound, "no run \(p.run) in this database; nothing was pruned") }
                    let (seq, hash, status) = (
                        row["head_seq"] as Int64, [UInt8](row["head_hash"] as Data), row["status"] as String
                    )
                    let parent = row["parent"] as String?
                    let parentStatus = try parent.flatMap { parent in
                        ids.contains(parent)
                            ? nil
                            : try String.fetchOne(db, sql: "SELECT status FROM run WHERE id = ?", arguments: [parent])
                    }
                    let leftOut = try String.fetchAll(
                        db, sql: "SELECT id FROM run WHERE parent = ?", arguments: [p.run.rawValue]
                    ).filter { !ids.contains($0) }
                    if let refusal = p.refusal(
                        headSeq: seq, headHash: hash, status: status, parent: parent, parentStatus: parentStatus,
                        leftOut: leftOut)
                    {
                        throw refusal
                    }
                    for list in try String.fetchAll(
                        db, sql: "SELECT blobs FROM event WHERE run = ? AND blobs IS NOT NULL",
                        arguments: [p.run.rawValue])
                    {
                        keys.formUnion(list.split(separator: ",").map(String.init))
                    }
                }
                for p in pruned {
                    let id = p.run.rawValue
                    for table in ["event", "snapshot", "run_queue"] {
                        try db.execute(sql: "DELETE FROM \(table) WHERE run = ?", arguments: [id])
                    }
                    try db.execute(sql: "DELETE FROM lease WHERE run = ?", arguments: [LeaseKey.run(p.run).storageKey])
                    try db.execute(sql: "DELETE FROM run WHERE id = ?", arguments: [id])
                    try db.execute(
                        sql: """
                            INSERT INTO retention_log
                                (run, root, head_seq, head_hash, export_file, export_sha256, time, pruned_by)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [
                            id, p.root.rawValue, p.headSeq, p.headHash, p.exportFile, p.exportSHA256,
                            p.time.milliseconds, p.by,
                        ])
                }
                // Blobs are shared by content: only those no run left refers to go (one read of
                // the index of blob lists, not of the events).
                if !keys.isEmpty {
                    var kept = Set<String>()
                    let lists = try String.fetchCursor(db, sql: "SELECT blobs FROM event WHERE blobs IS NOT NULL")
                    while let list = try lists.next() {
                        for key in list.split(separator: ",") where keys.contains(String(key)) {
                            kept.insert(String(key))
                        }
                    }
                    for key in keys.subtracting(kept) {
                        try db.execute(sql: "DELETE FROM blob WHERE key = ?", arguments: [key])
                    }
                }
            }
        } catch { throw Self.mapError(error, path: path) }
        // After the commit: a pruned run's witness would otherwise report it lost. A crash before
        // this leaves the witness, which the audit reads against the retention log.
        for p in pruned { witness.forget(p.run) }
    }

    public func prunings() async throws -> [PrunedRun] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM retention_log ORDER BY n").map(Self.pruned)
        }
    }

    public func pruning(of run: RunID) async throws -> PrunedRun? {
        try await writer.read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM retention_log WHERE run = ? ORDER BY n DESC LIMIT 1", arguments: [run.rawValue]
            ).map(Self.pruned)
        }
    }

    static func pruned(_ row: Row) -> PrunedRun {
        PrunedRun(
            run: RunID(row["run"] as String), root: RunID(row["root"] as String), headSeq: row["head_seq"],
            headHash: row["head_hash"], exportFile: row["export_file"], exportSHA256: row["export_sha256"],
            time: Timestamp(milliseconds: row["time"]), by: row["pruned_by"])
    }
}

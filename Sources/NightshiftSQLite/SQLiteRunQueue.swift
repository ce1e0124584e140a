import GRDB
public import NightshiftCore

/// The run queue in the `run_queue` table, changed only inside append transactions (see
/// `QueueChange`) and by a worker's settle, which names the version it read.
extension SQLiteEventStore: RunQueue {
    public func due(now: Timestamp, after: QueuedRun?, limit: Int) async throws -> [QueuedRun] {
        do {
            return try await writer.read { db in
                guard let after else {
                    return try Row.fetchAll(
                        db.cachedStatement(
                            sql: "SELECT * FROM run_queue WHERE not_before <= ? ORDER BY not_before, run LIMIT ?"),
                        arguments: [now.milliseconds, limit]
                    ).map(SQLiteRunQueue.entry)
                }
                return try Row.fetchAll(
                    db.cachedStatement(
                        sql: """
                            SELECT * FROM run_queue WHERE not_before <= ?
                                AND (not_before > ? OR (not_before = ? AND run > ?))
                            ORDER BY not_before, run LIMIT ?
                            """),
                    arguments: [
                        now.milliseconds, after.notBefore.milliseconds, after.notBefore.milliseconds,
                        after.run.rawValue, limit,
                    ]
                ).map(SQLiteRunQueue.entry)
            }
        } catch { throw Self.mapError(error, path: path) }
    }

    public func reconcile() async throws -> Int {
        do {
            return try await writer.write { db in try SQLiteRunQueue.reconcile(db) }
        } catch { throw Self.mapError(error, path: path) }
    }

    public func settle(_ entry: QueuedRun, until: Timestamp?) async throws -> Bool {
        do {
            return try await writer.write { db in
                if let until {
                    try db.execute(
                        sql: "UPDATE run_queue SET not_before = ? WHERE run = ? AND version = ?",
                        arguments: [until.milliseconds, entry.run.rawValue, entry.version])
                } else {
                    try db.execute(
                        sql: "DELETE FROM run_queue WHERE run = ? AND version = ?",
                        arguments: [entry.run.rawValue, entry.version])
                }
                return db.changesCount == 1
            }
        } catch { throw Self.mapError(error, path: path) }
    }

    public func nextDue() async throws -> Timestamp? {
        try await writer.read { db in
            try Int64.fetchOne(db, sql: "SELECT MIN(not_before) FROM run_queue").map { Timestamp(milliseconds: $0) }
        }
    }

    public func queued() async throws -> [QueuedRun] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM run_queue ORDER BY not_before, run").map(SQLiteRunQueue.entry)
        }
    }
}

enum SQLiteRunQueue {
    static func entry(_ row: Row) -> QueuedRun {
        QueuedRun(
            run: RunID(row["run"] as String), reason: WakeReason(rawValue: row["reason"]) ?? .upgraded,
            notBefore: Timestamp(milliseconds: row["not_before"]), version: row["version"])
    }

    /// Applies an append's changes in its transaction. `version` is the rowid of the append's last
    /// event: it only grows, so a settle that read an older wake never removes a newer one. A wake
    /// is due at once (`not_before` 0), whatever the clocks say.
    static func apply(_ changes: [QueueChange], _ db: Database, version: Int64) throws {
        for change in changes {
            switch change {
            case .wake(let run, let reason):
                try db.cachedStatement(
                    sql: """
                        INSERT INTO run_queue (run, reason, not_before, version) VALUES (?, ?, 0, ?)
                        ON CONFLICT (run) DO UPDATE SET reason = excluded.reason, not_before = 0,
                            version = excluded.version
                        """
                ).execute(arguments: [run.rawValue, reason.rawValue, version])
            case .remove(let run):
                try db.cachedStatement(sql: "DELETE FROM run_queue WHERE run = ?").execute(arguments: [run.rawValue])
            }
        }
    }

    /// For a database written before the queue, or appended to by a binary that keeps none:
    /// records the parent of every live sub-agent whose parent the index lacks (from its first
    /// event) and queues every paused run and running sub-agent that is not queued, to be
    /// checked once. Returns how many it queued.
    static func reconcile(_ db: Database) throws -> Int {
        let live = try Row.fetchAll(
            db, sql: "SELECT id, status, parent FROM run WHERE status IN ('paused', 'running')"
        ).map { (RunID($0["id"] as String), RunStatus(rawValue: $0["status"]) ?? .failed, $0["parent"] as String?) }
        // Newer than every wake so far: a settle that read an older entry never removes this one.
        let version = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(id), 0) FROM event") ?? 0
        var queued = 0
        for (run, status, known) in live {
            var parent = known.map { RunID($0) }
            if parent == nil {
                // A first event that does not decode leaves the run without a parent: verify reports it.
                let first = try? SQLiteEventStore.read(db, run: run, after: 0, limit: 1).first
                if case let .runCreated(_, _, _, settings) = first?.event, let p = settings.parent?.run {
                    parent = p
                    try db.execute(
                        sql: "UPDATE run SET parent = ? WHERE id = ?", arguments: [p.rawValue, run.rawValue])
                }
            }
            guard status == .paused || parent != nil else { continue }
            try db.execute(
                sql: "INSERT OR IGNORE INTO run_queue (run, reason, not_before, version) VALUES (?, ?, 0, ?)",
                arguments: [run.rawValue, WakeReason.upgraded.rawValue, version])
            queued += db.changesCount
        }
        return queued
    }
}

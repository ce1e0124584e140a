import GRDB
public import NightshiftCore

/// The run queue in the `run_queue` table, changed only inside append transactions (see
/// `QueueChange`) and by a worker's settle, which names the version it read.
extension SQLiteEventStore: RunQueue {
    public func due(now: Timestamp, limit: Int) async throws -> [QueuedRun] {
        do {
            return try await writer.read { db in
                try Row.fetchAll(
                    db.cachedStatement(
                        sql: "SELECT * FROM run_queue WHERE not_before <= ? ORDER BY not_before, run LIMIT ?"),
                    arguments: [now.milliseconds, limit]
                ).map(SQLiteRunQueue.entry)
            }
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
    /// event: it only grows, so a settle that read an older wake never removes a newer one.
    static func apply(_ changes: [QueueChange], _ db: Database, time: Timestamp, version: Int64) throws {
        for change in changes {
            switch change {
            case .wake(let run, let reason):
                try db.cachedStatement(
                    sql: """
                        INSERT INTO run_queue (run, reason, not_before, version) VALUES (?, ?, ?, ?)
                        ON CONFLICT (run) DO UPDATE SET reason = excluded.reason,
                            not_before = MIN(not_before, excluded.not_before), version = excluded.version
                        """
                ).execute(arguments: [run.rawValue, reason.rawValue, time.milliseconds, version])
            case .remove(let run):
                try db.cachedStatement(sql: "DELETE FROM run_queue WHERE run = ?").execute(arguments: [run.rawValue])
            }
        }
    }

    /// For a database written before the queue: records each run's parent from its first event
    /// and queues every paused run and running sub-agent to be checked once.
    static func backfill(_ db: Database) throws {
        let runs = try Row.fetchAll(db, sql: "SELECT id, status FROM run").map {
            (RunID($0["id"] as String), RunStatus(rawValue: $0["status"]) ?? .failed)
        }
        for (run, status) in runs {
            // A first event that does not decode leaves the run without a parent: verify reports it.
            let first = try? SQLiteEventStore.read(db, run: run, after: 0, limit: 1).first
            var parent: RunID?
            if case let .runCreated(_, _, _, settings) = first?.event { parent = settings.parent?.run }
            if let parent {
                try db.execute(
                    sql: "UPDATE run SET parent = ? WHERE id = ?", arguments: [parent.rawValue, run.rawValue])
            }
            if status == .paused || (status == .running && parent != nil) {
                try db.execute(
                    sql: "INSERT INTO run_queue (run, reason, not_before, version) VALUES (?, ?, 0, 0)",
                    arguments: [run.rawValue, WakeReason.upgraded.rawValue])
            }
        }
    }
}

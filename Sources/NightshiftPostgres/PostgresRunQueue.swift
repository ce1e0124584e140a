import Logging
public import NightshiftCore
import PostgresNIO

/// The run queue in the `run_queue` table, changed only inside append transactions (see
/// `QueueChange`) and by a worker's settle, which names the version it read. Versions come from
/// a sequence: they only grow, across every host.
extension PostgresEventStore: RunQueue {
    static func apply(_ changes: [QueueChange], _ c: PostgresConnection, logger: Logger) async throws {
        for change in changes {
            switch change {
            case .wake(let run, let reason):
                let (id, why) = (run.rawValue, reason.rawValue)
                try await c.query(
                    """
                    INSERT INTO run_queue (run, reason, not_before, version)
                    VALUES (\(id), \(why), 0, nextval('run_queue_version'))
                    ON CONFLICT (run) DO UPDATE SET reason = EXCLUDED.reason, not_before = 0,
                        version = EXCLUDED.version
                    """, logger: logger)
            case .remove(let run):
                try await c.query("DELETE FROM run_queue WHERE run = \(run.rawValue)", logger: logger)
            }
        }
    }

    public func due(now: Timestamp, after: QueuedRun?, limit: Int) async throws -> [QueuedRun] {
        let (at, cap) = (now.milliseconds, Int64(limit))
        if let after {
            let (from, run) = (after.notBefore.milliseconds, after.run.rawValue)
            return try await entries(
                """
                SELECT run, reason, not_before, version FROM run_queue WHERE not_before <= \(at)
                    AND (not_before > \(from) OR (not_before = \(from) AND run > \(run)))
                ORDER BY not_before, run LIMIT \(cap)
                """)
        }
        return try await entries(
            """
            SELECT run, reason, not_before, version FROM run_queue WHERE not_before <= \(at)
            ORDER BY not_before, run LIMIT \(cap)
            """)
    }

    public func settle(_ entry: QueuedRun, until: Timestamp?) async throws -> Bool {
        let (run, version) = (entry.run.rawValue, entry.version)
        let query: PostgresQuery =
            if let until {
                "UPDATE run_queue SET not_before = \(until.milliseconds) WHERE run = \(run) AND version = \(version) RETURNING run"
            } else {
                "DELETE FROM run_queue WHERE run = \(run) AND version = \(version) RETURNING run"
            }
        do {
            var changed = false
            for try await _ in try await client.query(query, logger: logger).decode(String.self) { changed = true }
            return changed
        } catch { throw Self.mapError(error, run: entry.run, expectedSeq: nil) }
    }

    public func queued() async throws -> [QueuedRun] {
        try await entries("SELECT run, reason, not_before, version FROM run_queue ORDER BY not_before, run")
    }

    public func nextDue() async throws -> Timestamp? {
        do {
            for try await earliest in try await client.query("SELECT min(not_before) FROM run_queue", logger: logger)
                .decode(Int64?.self)
            {
                return earliest.map { Timestamp(milliseconds: $0) }
            }
            return nil
        } catch { throw Self.mapError(error, run: nil, expectedSeq: nil) }
    }

    /// Queues every paused run and running sub-agent that is not queued (the store has no other
    /// writer that keeps no queue yet; this is the worker's check at its start, as on SQLite).
    public func reconcile() async throws -> Int {
        do {
            return try await client.withTransaction(logger: logger) { c in
                var queued = 0
                for try await _ in try await c.query(
                    """
                    INSERT INTO run_queue (run, reason, not_before, version)
                    SELECT id, \(WakeReason.upgraded.rawValue), 0, nextval('run_queue_version') FROM run
                    WHERE (status = 'paused' OR (status = 'running' AND parent IS NOT NULL))
                    ON CONFLICT (run) DO NOTHING RETURNING run
                    """, logger: logger
                ).decode(String.self) { queued += 1 }
                return queued
            }
        } catch { throw Self.mapError(error, run: nil, expectedSeq: nil) }
    }

    func entries(_ query: PostgresQuery) async throws -> [QueuedRun] {
        do {
            var out: [QueuedRun] = []
            for try await (run, reason, notBefore, version) in try await client.query(query, logger: logger)
                .decode((String, String, Int64, Int64).self)
            {
                out.append(
                    QueuedRun(
                        run: RunID(run), reason: WakeReason(rawValue: reason) ?? .upgraded,
                        notBefore: Timestamp(milliseconds: notBefore), version: version))
            }
            return out
        } catch { throw Self.mapError(error, run: nil, expectedSeq: nil) }
    }
}

import Foundation
import Logging
public import NightshiftCore
import PostgresNIO

/// Schedules and their slots in the runs' database (tables `schedule`, `schedule_slot`). A slot
/// is claimed by `INSERT … ON CONFLICT DO NOTHING` on its primary key: of any number of hosts
/// claiming it at once, the database lets one row in, so exactly one claim returns true.
public final class PostgresScheduleStore: ScheduleStore, Sendable {
    let store: PostgresEventStore

    /// The schedules of the database `store` is on (one connection pool for both).
    public init(sharing store: PostgresEventStore) {
        self.store = store
    }

    public func add(_ schedule: Schedule) async throws {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let template = String(decoding: try e.encode(schedule.template), as: UTF8.self)
        let (catchUp, created) = (schedule.catchUp.rawValue, schedule.created.milliseconds)
        let added = try await names(
            """
            INSERT INTO schedule (name, cron, time_zone, template, catch_up, paused, created, created_by)
            VALUES (\(schedule.name), \(schedule.cron), \(schedule.timeZone), \(template), \(catchUp),
                \(schedule.paused), \(created), \(schedule.createdBy))
            ON CONFLICT (name) DO NOTHING RETURNING name
            """)
        guard !added.isEmpty else { throw ScheduleStoreError("a schedule named \(schedule.name) exists") }
    }

    public func schedules() async throws -> [Schedule] {
        do {
            var out: [Schedule] = []
            for try await (name, cron, zone, template, catchUp, paused, created, by) in try await store.client.query(
                """
                SELECT name, cron, time_zone, template, catch_up, paused, created, created_by
                FROM schedule ORDER BY name
                """, logger: store.logger
            ).decode((String, String, String, String, String, Bool, Int64, String).self) {
                // A row this binary cannot read (a newer nightshift's template) is left out, not
                // fatal: the schedules it can read are still kept.
                guard let decoded = try? JSONDecoder().decode(RunTemplate.self, from: Data(template.utf8)),
                    let kept = CatchUp(rawValue: catchUp)
                else { continue }
                out.append(
                    Schedule(
                        name: name, cron: cron, timeZone: zone, template: decoded, catchUp: kept, paused: paused,
                        created: Timestamp(milliseconds: created), createdBy: by))
            }
            return out
        } catch { throw PostgresEventStore.mapError(error, run: nil, expectedSeq: nil) }
    }

    public func setPaused(_ name: String, _ paused: Bool) async throws -> Bool {
        try await !names("UPDATE schedule SET paused = \(paused) WHERE name = \(name) RETURNING name").isEmpty
    }

    public func remove(_ name: String) async throws -> Bool {
        do {
            return try await store.client.withTransaction(logger: store.logger) { c in
                var removed = false
                for try await _ in try await c.query(
                    "DELETE FROM schedule WHERE name = \(name) RETURNING name", logger: store.logger
                ).decode(String.self) { removed = true }
                // Its slots go with it: a schedule added again under the name starts a history of its own.
                if removed {
                    try await c.query("DELETE FROM schedule_slot WHERE schedule = \(name)", logger: store.logger)
                }
                return removed
            }
        } catch { throw PostgresEventStore.mapError(error, run: nil, expectedSeq: nil) }
    }

    public func claim(
        _ name: String, slot: Timestamp, at: Timestamp, as outcome: ScheduleSlot.Outcome, detail: String?
    ) async throws -> Bool {
        let (ms, claimed, kind) = (slot.milliseconds, at.milliseconds, outcome.rawValue)
        return try await !names(
            """
            INSERT INTO schedule_slot (schedule, slot, claimed, outcome, detail)
            VALUES (\(name), \(ms), \(claimed), \(kind), \(detail))
            ON CONFLICT (schedule, slot) DO NOTHING RETURNING schedule
            """
        ).isEmpty
    }

    public func settle(
        _ name: String, slot: Timestamp, _ outcome: ScheduleSlot.Outcome, run: RunID?, detail: String?
    ) async throws -> Bool {
        // `outcome = 'claimed'` under the row's lock: of two settlers, the second finds it settled.
        let (ms, kind, id) = (slot.milliseconds, outcome.rawValue, run?.rawValue)
        return try await !names(
            """
            UPDATE schedule_slot SET outcome = \(kind), run = \(id), detail = \(detail)
            WHERE schedule = \(name) AND slot = \(ms) AND outcome = 'claimed' RETURNING schedule
            """
        ).isEmpty
    }

    public func slots(of name: String, limit: Int) async throws -> [ScheduleSlot] {
        do {
            var out: [ScheduleSlot] = []
            for try await (schedule, slot, claimed, outcome, run, detail) in try await store.client.query(
                """
                SELECT schedule, slot, claimed, outcome, run, detail FROM schedule_slot WHERE schedule = \(name)
                ORDER BY slot DESC LIMIT \(Int64(limit))
                """, logger: store.logger
            ).decode((String, Int64, Int64, String, String?, String?).self) {
                out.append(
                    ScheduleSlot(
                        schedule: schedule, slot: Timestamp(milliseconds: slot),
                        claimed: Timestamp(milliseconds: claimed),
                        outcome: ScheduleSlot.Outcome(rawValue: outcome) ?? .failed, run: run.map { RunID($0) },
                        detail: detail))
            }
            return out
        } catch { throw PostgresEventStore.mapError(error, run: nil, expectedSeq: nil) }
    }

    public func lastSlot(of name: String) async throws -> Timestamp? {
        do {
            for try await last in try await store.client.query(
                "SELECT max(slot) FROM schedule_slot WHERE schedule = \(name)", logger: store.logger
            ).decode(Int64?.self) {
                return last.map { Timestamp(milliseconds: $0) }
            }
            return nil
        } catch { throw PostgresEventStore.mapError(error, run: nil, expectedSeq: nil) }
    }

    /// The names (first column) of the rows `query` returns: which rows a write changed.
    private func names(_ query: PostgresQuery) async throws -> [String] {
        do {
            var out: [String] = []
            for try await name in try await store.client.query(query, logger: store.logger).decode(String.self) {
                out.append(name)
            }
            return out
        } catch { throw PostgresEventStore.mapError(error, run: nil, expectedSeq: nil) }
    }
}

import Foundation
import GRDB
public import NightshiftCore

/// Schedules and their slots in the runs' database (tables `schedule`, `schedule_slot`).
public final class SQLiteScheduleStore: ScheduleStore, Sendable {
    let writer: any DatabaseWriter

    /// The schedules of the database `store` has open (one connection pool for both).
    public init(sharing store: SQLiteEventStore) {
        writer = store.writer
    }

    public func add(_ schedule: Schedule) async throws {
        let template = String(decoding: try JSONEncoder.sortedKeys.encode(schedule.template), as: UTF8.self)
        try await writer.write { db in
            guard
                try Int.fetchOne(db, sql: "SELECT 1 FROM schedule WHERE name = ?", arguments: [schedule.name]) == nil
            else { throw ScheduleStoreError("a schedule named \(schedule.name) exists") }
            try db.execute(
                sql: """
                    INSERT INTO schedule (name, cron, time_zone, template, catch_up, paused, created, created_by)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    schedule.name, schedule.cron, schedule.timeZone, template, schedule.catchUp.rawValue,
                    schedule.paused, schedule.created.milliseconds, schedule.createdBy,
                ])
        }
    }

    public func schedules() async throws -> [Schedule] {
        let rows = try await writer.read { db in try Row.fetchAll(db, sql: "SELECT * FROM schedule ORDER BY name") }
        // A row this binary cannot read (a newer nightshift's template) is left out, not fatal:
        // the schedules it can read are still kept.
        return rows.compactMap { row in
            let template: String = row["template"]
            let created: Int64 = row["created"]
            let catchUp: String = row["catch_up"]
            guard let decoded = try? JSONDecoder().decode(RunTemplate.self, from: Data(template.utf8)),
                let kept = CatchUp(rawValue: catchUp)
            else { return nil }
            return Schedule(
                name: row["name"], cron: row["cron"], timeZone: row["time_zone"], template: decoded, catchUp: kept,
                paused: row["paused"], created: Timestamp(milliseconds: created), createdBy: row["created_by"])
        }
    }

    public func setPaused(_ name: String, _ paused: Bool) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "UPDATE schedule SET paused = ? WHERE name = ?", arguments: [paused, name])
            return db.changesCount == 1
        }
    }

    public func remove(_ name: String) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM schedule WHERE name = ?", arguments: [name])
            let removed = db.changesCount == 1
            // Its slots go with it: a schedule added again under the name starts a history of its own.
            if removed { try db.execute(sql: "DELETE FROM schedule_slot WHERE schedule = ?", arguments: [name]) }
            return removed
        }
    }

    public func claim(
        _ name: String, slot: Timestamp, at: Timestamp, as outcome: ScheduleSlot.Outcome, detail: String?
    ) async throws -> Bool {
        try await writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO schedule_slot (schedule, slot, claimed, outcome, detail) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (schedule, slot) DO NOTHING
                    """,
                arguments: [name, slot.milliseconds, at.milliseconds, outcome.rawValue, detail])
            return db.changesCount == 1
        }
    }

    public func settle(
        _ name: String, slot: Timestamp, _ outcome: ScheduleSlot.Outcome, run: RunID?, detail: String?
    ) async throws -> Bool {
        try await writer.write { db in
            try db.execute(
                sql: """
                    UPDATE schedule_slot SET outcome = ?, run = ?, detail = ?
                    WHERE schedule = ? AND slot = ? AND outcome = 'claimed'
                    """,
                arguments: [outcome.rawValue, run?.rawValue, detail, name, slot.milliseconds])
            return db.changesCount == 1
        }
    }

    public func slots(of name: String, limit: Int) async throws -> [ScheduleSlot] {
        try await writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM schedule_slot WHERE schedule = ? ORDER BY slot DESC LIMIT ?",
                arguments: [name, limit]
            ).map { row in
                let slot: Int64 = row["slot"]
                let claimed: Int64 = row["claimed"]
                let outcome: String = row["outcome"]
                let run: String? = row["run"]
                return ScheduleSlot(
                    schedule: row["schedule"], slot: Timestamp(milliseconds: slot),
                    claimed: Timestamp(milliseconds: claimed),
                    outcome: ScheduleSlot.Outcome(rawValue: outcome) ?? .failed,
                    run: run.map { RunID($0) }, detail: row["detail"])
            }
        }
    }

    public func lastSlot(of name: String) async throws -> Timestamp? {
        try await writer.read { db in
            try Int64.fetchOne(db, sql: "SELECT MAX(slot) FROM schedule_slot WHERE schedule = ?", arguments: [name])
                .map { Timestamp(milliseconds: $0) }
        }
    }
}

extension JSONEncoder {
    fileprivate static var sortedKeys: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}

public import NightshiftCore
import Synchronization

/// Schedules in memory: the twin of the SQLite schedule store (the same conformance suite).
public final class InMemoryScheduleStore: ScheduleStore, Sendable {
    private struct State {
        var schedules: [String: Schedule] = [:]
        var slots: [String: [Int64: ScheduleSlot]] = [:]
    }
    private let state = Mutex(State())

    public init() {}

    public func add(_ schedule: Schedule) async throws {
        try state.withLock { s in
            guard s.schedules[schedule.name] == nil else {
                throw ScheduleStoreError("a schedule named \(schedule.name) exists")
            }
            s.schedules[schedule.name] = schedule
        }
    }

    public func schedules() async throws -> [Schedule] {
        state.withLock { $0.schedules.values.sorted { $0.name < $1.name } }
    }

    public func setPaused(_ name: String, _ paused: Bool) async throws -> Bool {
        state.withLock { s in
            guard s.schedules[name] != nil else { return false }
            s.schedules[name]?.paused = paused
            return true
        }
    }

    public func remove(_ name: String) async throws -> Bool {
        state.withLock { s in
            guard s.schedules.removeValue(forKey: name) != nil else { return false }
            s.slots[name] = nil
            return true
        }
    }

    public func claim(
        _ name: String, slot: Timestamp, at: Timestamp, as outcome: ScheduleSlot.Outcome, detail: String?
    ) async throws -> Bool {
        state.withLock { s in
            guard s.slots[name]?[slot.milliseconds] == nil else { return false }
            s.slots[name, default: [:]][slot.milliseconds] = ScheduleSlot(
                schedule: name, slot: slot, claimed: at, outcome: outcome, detail: detail)
            return true
        }
    }

    public func settle(
        _ name: String, slot: Timestamp, _ outcome: ScheduleSlot.Outcome, run: RunID?, detail: String?
    ) async throws -> Bool {
        state.withLock { s in
            guard var settled = s.slots[name]?[slot.milliseconds], settled.outcome == .claimed else { return false }
            settled.outcome = outcome
            settled.run = run
            settled.detail = detail
            s.slots[name]?[slot.milliseconds] = settled
            return true
        }
    }

    public func slots(of name: String, limit: Int) async throws -> [ScheduleSlot] {
        state.withLock { s in Array((s.slots[name] ?? [:]).values.sorted { $0.slot > $1.slot }.prefix(limit)) }
    }

    public func lastSlot(of name: String) async throws -> Timestamp? {
        state.withLock { s in s.slots[name]?.keys.max().map { Timestamp(milliseconds: $0) } }
    }
}

/// Where schedules and their settled slots are kept: in the runs' database, which no agent
/// reaches. Claiming a slot is the one place two processes meet: ``claim(_:slot:at:)`` succeeds
/// for exactly one of them, however many run, so a slot starts at most one run.
public protocol ScheduleStore: Sendable {
    /// Adds a schedule. - Throws: ``ScheduleStoreError`` when one with its name exists.
    func add(_ schedule: Schedule) async throws
    /// Every schedule this binary can read, by name.
    func schedules() async throws -> [Schedule]
    /// Pauses or resumes one. False when there is no such schedule.
    func setPaused(_ name: String, _ paused: Bool) async throws -> Bool
    /// Removes one and its slots' records (its runs stay). False when there is no such schedule.
    func remove(_ name: String) async throws -> Bool
    /// Claims `slot` of schedule `name` for the caller: true for exactly one caller per slot.
    /// - Parameter outcome: `.claimed` for a slot whose run the caller starts next; a slot that
    ///   starts nothing (`.skipped`) is settled in the same write, so no crash leaves it claimed.
    func claim(
        _ name: String, slot: Timestamp, at: Timestamp, as outcome: ScheduleSlot.Outcome, detail: String?
    ) async throws -> Bool
    /// Records how a claimed slot ended (started a run, skipped, failed): once; a slot settled
    /// already keeps its record (false).
    @discardableResult
    func settle(
        _ name: String, slot: Timestamp, _ outcome: ScheduleSlot.Outcome, run: RunID?, detail: String?
    )
        async throws -> Bool
    /// The latest slots of `name`, newest first.
    func slots(of name: String, limit: Int) async throws -> [ScheduleSlot]
    /// The latest slot of `name` any process claimed; nil when none was.
    func lastSlot(of name: String) async throws -> Timestamp?
}

extension ScheduleStore {
    /// Claims `slot` for a start (see ``claim(_:slot:at:as:detail:)``).
    public func claim(_ name: String, slot: Timestamp, at: Timestamp) async throws -> Bool {
        try await claim(name, slot: slot, at: at, as: .claimed, detail: nil)
    }
}

/// A schedule store's refusal, in one line.
public struct ScheduleStoreError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

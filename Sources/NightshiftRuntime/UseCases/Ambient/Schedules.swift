import Foundation
public import NightshiftCore
import Synchronization

/// Schedules: runs started at the slots of a cron expression (`nightshift schedule`). Every
/// `nightshift serve` and `nightshift worker` on the database keeps them (``keep(start:)``); a
/// slot starts at most one run however many do, because each slot is claimed in the database
/// first (``ScheduleStore/claim(_:slot:at:)``) and only the claimer starts it.
public struct Schedules: Sendable {
    let store: any ScheduleStore
    let clock: any WallClock

    public init(store: any ScheduleStore, clock: any WallClock) {
        self.store = store
        self.clock = clock
    }

    /// A schedule with when it next fires and how its latest slot was settled.
    public struct Entry: Sendable {
        public var schedule: Schedule
        public var next: Timestamp?
        public var last: ScheduleSlot?
    }

    /// Adds a schedule after checking everything it names: its name, its cron, its zone, its
    /// template (a goal or a plan, an absolute workspace that exists).
    /// - Throws: ``RuntimeError`` `.invalidInput` naming what is wrong; `.exists` for a taken name.
    @discardableResult
    public func add(
        name: String, cron: String, timeZone: String = "UTC", template: RunTemplate, catchUp: CatchUp = .skip,
        by: String
    ) async throws -> Entry {
        if let problem = Schedule.checkName(name) { throw RuntimeError(.invalidInput, problem) }
        let parsed: Cron
        do { parsed = try Cron.parse(cron) } catch { throw RuntimeError(.invalidInput, "--cron: \(error)") }
        guard let zone = TimeZone(identifier: timeZone) else {
            throw RuntimeError(.invalidInput, "'\(timeZone)' is not a time zone (an IANA name, such as Europe/Paris)")
        }
        guard [template.goal != nil, template.plan != nil, template.dream != nil].filter({ $0 }).count == 1 else {
            throw RuntimeError(.invalidInput, "a schedule starts a goal or a plan, or dreams: give exactly one")
        }
        if let scopes = template.dream, scopes.isEmpty {
            throw RuntimeError(.invalidInput, "a scheduled dream needs at least one memory scope")
        }
        if let goal = template.goal, !goal.contains(where: { !$0.isWhitespace }) {
            throw RuntimeError(.invalidInput, "the goal is empty")
        }
        var isFolder: ObjCBool = false
        guard template.workspace.hasPrefix("/"),
            FileManager.default.fileExists(atPath: template.workspace, isDirectory: &isFolder), isFolder.boolValue
        else { throw RuntimeError(.notFound, "no folder at \(template.workspace) to work in") }
        let schedule = Schedule(
            name: name, cron: parsed.text, timeZone: zone.identifier, template: template, catchUp: catchUp,
            created: clock.now(), createdBy: by)
        do { try await store.add(schedule) } catch let e as ScheduleStoreError {
            throw RuntimeError(.exists, "\(e) (nightshift schedule remove \(name) first)")
        }
        return Entry(schedule: schedule, next: parsed.next(after: schedule.created, in: zone), last: nil)
    }

    /// Every schedule, with its next slot (nil while paused) and its latest settled slot.
    public func list() async throws -> [Entry] {
        let now = clock.now()
        var out: [Entry] = []
        for s in try await store.schedules() {
            let next = s.paused ? nil : Self.next(s, after: now)
            out.append(Entry(schedule: s, next: next, last: try await store.slots(of: s.name, limit: 1).first))
        }
        return out
    }

    /// A schedule's latest settled slots, newest first.
    public func slots(of name: String, limit: Int = 20) async throws -> [ScheduleSlot] {
        try await store.slots(of: name, limit: limit)
    }

    /// Pauses (no slot starts anything while paused, nor is caught up after) or resumes one.
    /// - Throws: ``RuntimeError`` `.notFound`.
    public func setPaused(_ name: String, _ paused: Bool) async throws {
        guard try await store.setPaused(name, paused) else { throw Self.missing(name) }
        // Slots passed while paused are not caught up: the resume is recorded as a slot seen.
        guard !paused else { return }
        let now = clock.now()
        _ = try await store.claim(
            name, slot: now, at: now, as: .skipped, detail: "resumed; slots while paused are not caught up")
    }

    /// - Throws: ``RuntimeError`` `.notFound`.
    public func remove(_ name: String) async throws {
        guard try await store.remove(name) else { throw Self.missing(name) }
    }

    static func missing(_ name: String) -> RuntimeError {
        RuntimeError(.notFound, "no schedule named \(name) (nightshift schedule list)")
    }

    static func next(_ s: Schedule, after time: Timestamp) -> Timestamp? {
        guard let cron = try? Cron.parse(s.cron), let zone = TimeZone(identifier: s.timeZone) else { return nil }
        return cron.next(after: time, in: zone)
    }

    /// A slot's run id: the schedule's name and the slot's minute, so the slot names its run.
    public static func runID(_ name: String, slot: Timestamp) -> RunID {
        RunID("sched-\(name)-" + slot.slotText.filter { $0 != "-" && $0 != ":" })
    }

    /// Looks at the schedules under way at once in one process (a long dream is one of them).
    static let looksAtOnce = 4

    /// How long a claimed slot may stay unsettled before it counts as its claimer's crash.
    public static let stale: Int64 = 10 * 60_000

    /// A slot to act on: start its run (or dream).
    enum Work {
        case start(Schedule, Timestamp)
        /// A slot claimed for a start by a process that ended before settling it: its run is
        /// started now (with the slot's id, so a run the process did make is found instead).
        case recover(Schedule, Timestamp)
    }

    /// Settles every slot due at `now`: claims each (a slot another process claimed is left to
    /// it; a missed slot with catch-up `skip` is recorded skipped in the claim itself), then
    /// starts their runs or dreams side by side, so a slow one makes no other late, and records
    /// how each went. A slot claimed long ago for a start and never settled (its claimer died in
    /// between) is taken up again. One schedule's trouble does not stop the others': the first
    /// error is thrown after every slot that could be settled was.
    /// - Parameters:
    ///   - start: starts `schedule`'s run for `slot`, returning its id (throwing `.exists` when
    ///     the slot's run was made already).
    ///   - dream: dreams for a dreaming schedule, returning what it did in a line; nil: this
    ///     process cannot dream (the slot is recorded failed).
    /// - Returns: the slots this call settled.
    @discardableResult
    public func tick(
        now: Timestamp, start: @escaping @Sendable (_ schedule: Schedule, _ slot: Timestamp) async throws -> RunID,
        dream: (@Sendable (_ schedule: Schedule, _ slot: Timestamp) async throws -> String)? = nil
    ) async throws -> [ScheduleSlot] {
        var work: [Work] = []
        var settled: [ScheduleSlot] = []
        var errors: [any Error] = []
        for s in try await store.schedules() where !s.paused {
            guard let cron = try? Cron.parse(s.cron), let zone = TimeZone(identifier: s.timeZone) else { continue }
            do {
                for slot in try await store.slots(of: s.name, limit: 3)
                where slot.outcome == .claimed && now.milliseconds - slot.claimed.milliseconds > Self.stale
                    && s.template.dream == nil
                {
                    work.append(.recover(s, slot.slot))
                }
                let since = max(try await store.lastSlot(of: s.name) ?? s.created, s.created)
                switch ScheduleDue.due(cron: cron, zone: zone, since: since, now: now, catchUp: s.catchUp) {
                case nil: break
                case let .skip(slot)?:
                    let detail = "missed (no process kept the schedule at \(slot.slotText)); catch-up is skip"
                    if try await store.claim(s.name, slot: slot, at: now, as: .skipped, detail: detail) {
                        settled.append(
                            ScheduleSlot(schedule: s.name, slot: slot, claimed: now, outcome: .skipped, detail: detail))
                    }
                case let .fire(slot)?:
                    if try await store.claim(s.name, slot: slot, at: now) { work.append(.start(s, slot)) }
                }
            } catch {
                errors.append(error)
            }
        }
        let store = self.store
        let results = await withTaskGroup(of: Result<ScheduleSlot?, any Error>.self) { group in
            for w in work {
                group.addTask {
                    do {
                        return .success(try await Self.settle(w, at: now, store: store, start: start, dream: dream))
                    } catch {
                        return .failure(error)
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        for r in results {
            switch r {
            case let .success(slot?): settled.append(slot)
            case .success(nil): break
            case let .failure(error): errors.append(error)
            }
        }
        if let first = errors.first { throw first }
        return settled
    }

    /// Starts (or dreams for) one slot and records how it went; nil when it records nothing (a
    /// recovered slot whose start this very process is still making).
    static func settle(
        _ work: Work, at now: Timestamp, store: any ScheduleStore,
        start: @Sendable (Schedule, Timestamp) async throws -> RunID,
        dream: (@Sendable (Schedule, Timestamp) async throws -> String)?
    ) async throws -> ScheduleSlot? {
        let (s, slot, recovering): (Schedule, Timestamp, Bool) =
            switch work {
            case let .start(s, slot): (s, slot, false)
            case let .recover(s, slot): (s, slot, true)
            }
        func record(_ outcome: ScheduleSlot.Outcome, run: RunID?, _ detail: String?) async throws -> ScheduleSlot? {
            // Settled once: a slot another look or process settled first keeps its record.
            guard try await store.settle(s.name, slot: slot, outcome, run: run, detail: detail) else { return nil }
            return ScheduleSlot(schedule: s.name, slot: slot, claimed: now, outcome: outcome, run: run, detail: detail)
        }
        func line(_ error: any Error) -> String {
            "\(error)".split(separator: "\n").first.map(String.init) ?? "\(error)"
        }
        if s.template.dream != nil {
            guard let dream else {
                return try await record(.failed, run: nil, "this process cannot dream (a serve or worker can)")
            }
            do { return try await record(.started, run: nil, try await dream(s, slot)) } catch {
                return try await record(.failed, run: nil, line(error))
            }
        }
        do {
            let run = try await start(s, slot)
            return try await record(.started, run: run, recovering ? "taken up after its claimer ended" : nil)
        } catch let e as RuntimeError where e.code == .exists {
            // The slot's run was made (by the claimer that ended before it could say so).
            return try await record(.started, run: Schedules.runID(s.name, slot: slot), "its run was found made")
        } catch let e as RuntimeError where e.code == .busy && recovering {
            // This process is still making it: the start under way settles it.
            return nil
        } catch {
            return try await record(.failed, run: nil, line(error))
        }
    }

    /// Keeps the schedules until cancelled: settles what is due, then sleeps until the next slot
    /// of any schedule (at most `recheck`, so one added or resumed meanwhile is seen). The
    /// store's trouble (a busy database, a row it cannot read) is reported with `onError` and
    /// tried again at the next look; it never ends the process that keeps the schedules.
    public func keep(
        recheck: Duration = .seconds(30), onSettled: @escaping @Sendable (ScheduleSlot) -> Void = { _ in },
        onError: @escaping @Sendable (any Error) -> Void = { _ in },
        start: @escaping @Sendable (_ schedule: Schedule, _ slot: Timestamp) async throws -> RunID,
        dream: (@Sendable (_ schedule: Schedule, _ slot: Timestamp) async throws -> String)? = nil
    ) async throws {
        // Each look runs as a child task and the next look does not wait for it: a long dream or a
        // slow start never makes another schedule's slot late (a slot claimed is never due again).
        let underWay = LooksUnderWay()
        await withDiscardingTaskGroup { looks in
            while !Task.isCancelled {
                let now = clock.now()
                // A store that hangs does not pile looks up: a few at once, the rest wait.
                if underWay.begin(atMost: Self.looksAtOnce) {
                    looks.addTask {
                        defer { underWay.end() }
                        do {
                            for slot in try await tick(now: now, start: start, dream: dream) { onSettled(slot) }
                        } catch is CancellationError {
                        } catch {
                            if !Task.isCancelled { onError(error) }
                        }
                    }
                }
                var wait = Int64(recheck.components.seconds) * 1000
                do {
                    for s in try await store.schedules() where !s.paused {
                        if let next = Self.next(s, after: now) {
                            wait = min(wait, max(0, next.milliseconds - now.milliseconds))
                        }
                    }
                } catch is CancellationError {
                    break
                } catch {
                    if Task.isCancelled { break }
                    onError(error)
                }
                // At least a second (or the recheck, when shorter) between looks.
                let least = min(
                    1000,
                    Int64(recheck.components.seconds) * 1000 + recheck.components.attoseconds / 1_000_000_000_000_000)
                do { try await Task.sleep(for: .milliseconds(max(wait, least) + 50)) } catch { break }
            }
            looks.cancelAll()
        }
    }
}

/// How many looks at the schedules are under way in this process.
final class LooksUnderWay: Sendable {
    private let count = Mutex(0)
    /// Counts one more, unless `atMost` are under way (false: none begins).
    func begin(atMost: Int) -> Bool {
        count.withLock { n in
            guard n < atMost else { return false }
            n += 1
            return true
        }
    }
    func end() { count.withLock { $0 -= 1 } }
}

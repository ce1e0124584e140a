import Foundation
import Logging
import NightshiftCore
import NightshiftSQLite
import NightshiftTesting
import Synchronization
import Testing

@testable import NightshiftRuntime

/// Schedules as the runtime keeps them: checked when added, each slot settled once however many
/// processes tick, downtime caught up by the schedule's rule, a failed start recorded.
@Suite struct SchedulesTests {
    let ws = tempDir("ns-sched-ws")

    func schedules(_ store: any ScheduleStore = InMemoryScheduleStore(), clock: TestClock) -> Schedules {
        Schedules(store: store, clock: clock)
    }

    /// 2026-12-07 20:00 UTC.
    static let evening: Int64 = 1_796_673_600_000

    @Test func aScheduleIsCheckedBeforeItIsKept() async throws {
        let clock = TestClock(Self.evening)
        let s = schedules(clock: clock)
        let goal = RunTemplate(goal: "tidy", workspace: ws)
        let cases: [(String, String, String, RunTemplate, String)] = [
            ("bad name!", "@daily", "UTC", goal, "is not a name"),
            ("n", "0 25 * * *", "UTC", goal, "--cron: the hour field"),
            ("n", "@daily", "Mars/Olympus", goal, "not a time zone"),
            ("n", "@daily", "UTC", RunTemplate(workspace: ws), "give exactly one"),
            ("n", "@daily", "UTC", RunTemplate(goal: "  ", workspace: ws), "the goal is empty"),
            ("n", "@daily", "UTC", RunTemplate(goal: "x", workspace: ws + "/missing"), "no folder"),
            ("n", "@daily", "UTC", RunTemplate(goal: "x", workspace: "relative"), "no folder"),
        ]
        for (name, cron, zone, template, message) in cases {
            await #expect {
                try await s.add(name: name, cron: cron, timeZone: zone, template: template, by: "alice")
            } throws: { ($0 as? RuntimeError)?.message.contains(message) == true }
        }
        #expect(try await s.list().isEmpty)
        let added = try await s.add(name: "nightly", cron: "0 2 * * *", template: goal, by: "alice")
        #expect(added.next?.slotText == "2026-12-08T02:00Z")
        await #expect { try await s.add(name: "nightly", cron: "@daily", template: goal, by: "bob") } throws: {
            ($0 as? RuntimeError)?.code == .exists
        }
    }

    /// Two processes' runtimes tick the same database at the slot: one run starts. The slot is
    /// not started again by a later tick, and the next slot starts the next run.
    @Test func aSlotStartsOneRunHoweverManyTick() async throws {
        let db = tempDir("ns-sched") + "/ns.db"
        let clock = TestClock(Self.evening)
        let a = schedules(SQLiteScheduleStore(sharing: try SQLiteEventStore(path: db)), clock: clock)
        let b = schedules(SQLiteScheduleStore(sharing: try SQLiteEventStore(path: db)), clock: clock)
        try await a.add(name: "hourly", cron: "@hourly", template: RunTemplate(goal: "g", workspace: ws), by: "alice")
        let started = Mutex<[String]>([])
        let start: @Sendable (Schedule, Timestamp) async throws -> RunID = { s, slot in
            let id = Schedules.runID(s.name, slot: slot)
            started.withLock { $0.append(id.rawValue) }
            return id
        }
        let atSlot = Timestamp(milliseconds: Self.evening + 3_600_000 + 1_000)
        async let one = a.tick(now: atSlot, start: start)
        async let two = b.tick(now: atSlot, start: start)
        let settled = try await one + two
        #expect(started.withLock { $0 } == ["sched-hourly-20261207T2100Z"])
        #expect(settled.map(\.outcome) == [.started])
        #expect(try await a.tick(now: atSlot, start: start).isEmpty)
        _ = try await b.tick(now: Timestamp(milliseconds: atSlot.milliseconds + 3_600_000), start: start)
        #expect(started.withLock { $0 }.count == 2)
        let slots = try await a.slots(of: "hourly")
        #expect(slots.map(\.run?.rawValue) == ["sched-hourly-20261207T2200Z", "sched-hourly-20261207T2100Z"])
    }

    /// Downtime: catch-up `skip` records the missed slot skipped and starts nothing; `once` starts
    /// one run for the latest slot however many were missed. A start that fails is recorded with
    /// why, and the slot is not tried again.
    @Test func downtimeAndFailuresAreRecorded() async throws {
        let clock = TestClock(Self.evening)
        let s = schedules(clock: clock)
        let template = RunTemplate(goal: "g", workspace: ws)
        try await s.add(name: "skipper", cron: "@hourly", template: template, catchUp: .skip, by: "alice")
        try await s.add(name: "catcher", cron: "@hourly", template: template, catchUp: .once, by: "alice")
        try await s.add(name: "broken", cron: "@hourly", template: template, catchUp: .once, by: "alice")
        let started = Mutex<[String]>([])
        let later = Timestamp(milliseconds: Self.evening + 10 * 3_600_000 + 20 * 60_000)  // 10 slots missed
        let settled = try await s.tick(now: later) { schedule, slot in
            if schedule.name == "broken" {
                throw RuntimeError(.untrusted, "the project's configuration is not trusted")
            }
            started.withLock { $0.append(Schedules.runID(schedule.name, slot: slot).rawValue) }
            return Schedules.runID(schedule.name, slot: slot)
        }
        #expect(started.withLock { $0 } == ["sched-catcher-20261208T0600Z"])
        let by = Dictionary(uniqueKeysWithValues: settled.map { ($0.schedule, $0) })
        #expect(by["skipper"]?.outcome == .skipped && by["skipper"]?.slot.slotText == "2026-12-08T06:00Z")
        #expect(by["broken"]?.outcome == .failed && by["broken"]?.detail?.contains("not trusted") == true)
        // Nothing is due again until the next slot.
        #expect(try await s.tick(now: later) { _, _ in throw TestFailure("started again") }.isEmpty)
    }

    /// A paused schedule starts nothing; resumed, the slots it missed while paused are not caught up.
    @Test func aPausedScheduleStartsNothingAndIsNotCaughtUp() async throws {
        let clock = TestClock(Self.evening)
        let s = schedules(clock: clock)
        try await s.add(
            name: "h", cron: "@hourly", template: RunTemplate(goal: "g", workspace: ws), catchUp: .once, by: "alice")
        try await s.setPaused("h", true)
        clock.advance(5 * 3_600_000)
        #expect(try await s.tick(now: clock.now()) { _, _ in throw TestFailure("started while paused") }.isEmpty)
        #expect(try await s.list()[0].next == nil)
        try await s.setPaused("h", false)
        #expect(try await s.tick(now: clock.now()) { _, _ in throw TestFailure("caught up") }.isEmpty)
        await #expect { try await s.setPaused("nope", false) } throws: { ($0 as? RuntimeError)?.code == .notFound }
        await #expect { try await s.remove("nope") } throws: { ($0 as? RuntimeError)?.code == .notFound }
        try await s.remove("h")
        #expect(try await s.list().isEmpty)
    }

    /// A template's placeholders are filled from the trigger's data as text; a plan's checks never.
    @Test func aTemplateIsFilledWithDataOnly() throws {
        let data = try JSONDecoder().decode(
            TriggerData.self,
            from: Data(#"{"a": {"b": [1, {"c": "x"}]}, "n": 1.5, "t": true, "o": {"z": 1, "y": null}}"#.utf8))
        #expect(
            TemplateFill.fill("{{a.b.1.c}} {{ n }} {{t}} {{o}} [{{missing}}] ({{a.b.9}}) {{", data)
                == #"x 1.5 true {"y":null,"z":1} [] () {{"#)
        #expect(TemplateFill.fill("{{n}}", nil) == "")
        let long = try JSONDecoder().decode(
            TriggerData.self, from: Data(("{\"s\":\"" + String(repeating: "x", count: 9000) + "\"}").utf8))
        #expect(TemplateFill.fill("{{s}}", long).count == TemplateFill.maxValue)
        let plan = Plan(
            title: "fix {{ref}}",
            tasks: [PlanTask(id: TaskID("t"), description: "on {{ref}}", checks: [Check(command: "test {{ref}}")])])
        guard
            case let .plan(filled) = try TemplateFill.source(
                RunTemplate(plan: plan, workspace: "/w"),
                data: try JSONDecoder().decode(TriggerData.self, from: Data(#"{"ref": "$(rm -rf /)"}"#.utf8)))
        else { throw TestFailure("not a plan") }
        #expect(filled.title == "fix $(rm -rf /)" && filled.tasks[0].description == "on $(rm -rf /)")
        #expect(filled.tasks[0].checks[0].command == "test {{ref}}", "a check's command is never filled")
    }

    /// A dreaming schedule's slot dreams (and starts no run); a process that cannot dream records
    /// the slot failed, saying so.
    @Test func aDreamingScheduleDreams() async throws {
        let clock = TestClock(Self.evening)
        let s = schedules(clock: clock)
        try await s.add(
            name: "dreams", cron: "@hourly",
            template: RunTemplate(dream: [MemoryScope(.user, "alice")], workspace: ws), catchUp: .once, by: "alice")
        await #expect {
            try await s.add(name: "none", cron: "@hourly", template: RunTemplate(dream: [], workspace: ws), by: "a")
        } throws: { ($0 as? RuntimeError)?.message.contains("at least one memory scope") == true }
        await #expect {
            try await s.add(
                name: "both", cron: "@hourly",
                template: RunTemplate(goal: "g", dream: [MemoryScope(.user, "a")], workspace: ws),
                by: "a")
        } throws: { ($0 as? RuntimeError)?.message.contains("give exactly one") == true }
        let first = Timestamp(milliseconds: Self.evening + 3_600_000 + 5_000)
        let cannot = try await s.tick(now: first) { _, _ in throw TestFailure("a run started") }
        #expect(cannot.first?.outcome == .failed && cannot.first?.detail?.contains("cannot dream") == true)
        let next = Timestamp(milliseconds: first.milliseconds + 3_600_000)
        let dreamt = try await s.tick(now: next, start: { _, _ in throw TestFailure("a run started") }) { schedule, _ in
            "dreamt over \(schedule.template.dream?.map(\.description) ?? [])"
        }
        #expect(dreamt.first?.outcome == .started && dreamt.first?.run == nil)
        #expect(dreamt.first?.detail == "dreamt over [\"user:alice\"]", "\(dreamt)")
    }

    /// A slot whose claimer died before settling it is taken up by a later tick: its run started
    /// then, or found when the claimer had made it. A slot claimed a moment ago is left alone.
    @Test func aSlotItsClaimerNeverSettledIsTakenUp() async throws {
        let clock = TestClock(Self.evening)
        let store = InMemoryScheduleStore()
        let s = schedules(store, clock: clock)
        try await s.add(name: "a", cron: "@daily", template: RunTemplate(goal: "g", workspace: ws), by: "alice")
        try await s.add(name: "b", cron: "@daily", template: RunTemplate(goal: "g", workspace: ws), by: "alice")
        let slot = Timestamp(milliseconds: Self.evening - 3_600_000)
        #expect(try await store.claim("a", slot: slot, at: clock.now()))
        #expect(try await store.claim("b", slot: slot, at: clock.now()))
        let fresh = try await s.tick(now: clock.now()) { _, _ in throw TestFailure("a fresh claim was taken") }
        #expect(fresh.isEmpty)
        clock.advance(Schedules.stale + 1000)
        let started = Mutex<[String]>([])
        let settled = try await s.tick(now: clock.now()) { schedule, slot in
            if schedule.name == "b" { throw RuntimeError(.exists, "a run with that id already exists") }
            started.withLock { $0.append(Schedules.runID(schedule.name, slot: slot).rawValue) }
            return Schedules.runID(schedule.name, slot: slot)
        }
        #expect(started.withLock { $0 } == [Schedules.runID("a", slot: slot).rawValue])
        #expect(settled.count == 2 && settled.allSatisfy { $0.outcome == .started })
        #expect(Set(settled.compactMap(\.run)) == [Schedules.runID("a", slot: slot), Schedules.runID("b", slot: slot)])
    }

    /// Slots due at once start side by side: one start waits until the other has begun (it
    /// would wait for ever if they ran one after the other).
    @Test(.timeLimit(.minutes(1))) func slotsDueTogetherStartSideBySide() async throws {
        let clock = TestClock(Self.evening)
        let s = schedules(clock: clock)
        for name in ["first", "second"] {
            try await s.add(name: name, cron: "@hourly", template: RunTemplate(goal: "g", workspace: ws), by: "alice")
        }
        let (began, mark) = AsyncStream<Void>.makeStream()
        let settled = try await s.tick(now: Timestamp(milliseconds: Self.evening + 3_600_000 + 1_000)) {
            schedule, slot in
            if schedule.name == "first" {
                var it = began.makeAsyncIterator()
                _ = await it.next()
            } else {
                mark.yield()
            }
            return Schedules.runID(schedule.name, slot: slot)
        }
        #expect(settled.count == 2 && settled.allSatisfy { $0.outcome == .started })
    }

    /// A dream that takes long never makes another schedule late: the next look starts the other
    /// schedule's slot while the dream still runs (it would wait for ever if looks waited).
    @Test(.timeLimit(.minutes(1))) func aLongDreamMakesNoOtherSlotLate() async throws {
        let clock = TestClock(Self.evening)
        let s = schedules(clock: clock)
        try await s.add(
            name: "dreams", cron: "@hourly", template: RunTemplate(dream: [MemoryScope(.user, "a")], workspace: ws),
            by: "alice")
        try await s.add(name: "runs", cron: "30 * * * *", template: RunTemplate(goal: "g", workspace: ws), by: "alice")
        clock.advance(3_600_000 + 1_000)  // 21:00:01: the dream's slot
        let (dreaming, dreamBegan) = AsyncStream<Void>.makeStream()
        let (started, runBegan) = AsyncStream<String>.makeStream()
        let keeper = Task {
            try await s.keep(
                recheck: .milliseconds(10),
                start: { schedule, _ in
                    runBegan.yield(schedule.name)
                    return RunID("r")
                },
                dream: { _, _ in
                    dreamBegan.yield()
                    try await Task.sleep(for: .seconds(3600))
                    return "never"
                })
        }
        var it = dreaming.makeAsyncIterator()
        _ = await it.next()
        clock.advance(30 * 60_000)  // 21:30:01: the other schedule's slot, the dream still running
        var runs = started.makeAsyncIterator()
        #expect(await runs.next() == "runs")
        keeper.cancel()
        _ = await keeper.result
    }

    /// One schedule's trouble (its claim refused by a busy store) does not keep another's slot
    /// from starting; the trouble is thrown after. A dream refused as busy is recorded failed,
    /// never as a run.
    @Test func oneSchedulesTroubleLeavesTheOthersToStart() async throws {
        let clock = TestClock(Self.evening)
        let store = ClaimRefusingStore(refusing: "bad")
        let s = schedules(store, clock: clock)
        for name in ["bad", "good"] {
            try await s.add(name: name, cron: "@hourly", template: RunTemplate(goal: "g", workspace: ws), by: "alice")
        }
        try await s.add(
            name: "dreams", cron: "@hourly", template: RunTemplate(dream: [MemoryScope(.user, "a")], workspace: ws),
            by: "alice")
        let started = Mutex<[String]>([])
        await #expect(throws: FailingScheduleStore.Busy.self) {
            try await s.tick(
                now: Timestamp(milliseconds: Self.evening + 3_600_000 + 1_000),
                start: { schedule, slot in
                    started.withLock { $0.append(schedule.name) }
                    return Schedules.runID(schedule.name, slot: slot)
                },
                dream: { _, _ in throw RuntimeError(.busy, "a dream is still under way in this process") })
        }
        #expect(started.withLock { $0 } == ["good"])
        #expect(try await store.slots(of: "good", limit: 1).first?.outcome == .started)
        let dream = try await store.slots(of: "dreams", limit: 1).first
        #expect(dream?.outcome == .failed && dream?.run == nil && dream?.detail?.contains("still under way") == true)
    }

    /// The store's trouble is reported and tried again; it never ends the keeper.
    @Test(.timeLimit(.minutes(1))) func theKeeperOutlivesTheStoresTrouble() async throws {
        let clock = TestClock(Self.evening)
        let (errors, report) = AsyncStream<String>.makeStream()
        let keeper = Task {
            try await Schedules(store: FailingScheduleStore(), clock: clock).keep(
                recheck: .milliseconds(10), onError: { report.yield("\($0)") },
                start: { _, _ in throw TestFailure("nothing is due") })
        }
        var seen: [String] = []
        for await e in errors {
            seen.append(e)
            if seen.count == 3 { break }
        }
        #expect(seen.allSatisfy { $0.contains("database is locked") }, "\(seen)")
        #expect(!keeper.isCancelled)
        keeper.cancel()
        _ = await keeper.result
    }

    /// A template's `{{…}}` is filled only from a trigger's data: the API's and a schedule's text
    /// is the person's, kept as written.
    @Test func withoutDataATemplateIsKeptAsWritten() throws {
        guard
            case let .goal(goal) = try TemplateFill.source(
                RunTemplate(goal: "fix the {{name}} partial", workspace: "/w"), data: nil)
        else { throw TestFailure("not a goal") }
        #expect(goal == "fix the {{name}} partial")
    }
}

/// A schedule store whose database is always busy.
struct FailingScheduleStore: ScheduleStore {
    struct Busy: Error, CustomStringConvertible { var description: String { "database is locked" } }
    func add(_ schedule: Schedule) async throws { throw Busy() }
    func schedules() async throws -> [Schedule] { throw Busy() }
    func setPaused(_ name: String, _ paused: Bool) async throws -> Bool { throw Busy() }
    func remove(_ name: String) async throws -> Bool { throw Busy() }
    func claim(
        _ name: String, slot: Timestamp, at: Timestamp, as outcome: ScheduleSlot.Outcome, detail: String?
    ) async throws -> Bool { throw Busy() }
    func settle(
        _ name: String, slot: Timestamp, _ outcome: ScheduleSlot.Outcome, run: RunID?, detail: String?
    )
        async throws -> Bool
    { throw Busy() }
    func slots(of name: String, limit: Int) async throws -> [ScheduleSlot] { throw Busy() }
    func lastSlot(of name: String) async throws -> Timestamp? { throw Busy() }
}

/// A schedule store whose claims for one schedule fail (a busy database, for that moment).
final class ClaimRefusingStore: ScheduleStore, Sendable {
    let base = InMemoryScheduleStore()
    let refusing: String
    init(refusing: String) { self.refusing = refusing }
    func add(_ schedule: Schedule) async throws { try await base.add(schedule) }
    func schedules() async throws -> [Schedule] { try await base.schedules() }
    func setPaused(_ name: String, _ paused: Bool) async throws -> Bool { try await base.setPaused(name, paused) }
    func remove(_ name: String) async throws -> Bool { try await base.remove(name) }
    func claim(
        _ name: String, slot: Timestamp, at: Timestamp, as outcome: ScheduleSlot.Outcome, detail: String?
    ) async throws -> Bool {
        if name == refusing { throw FailingScheduleStore.Busy() }
        return try await base.claim(name, slot: slot, at: at, as: outcome, detail: detail)
    }
    func settle(
        _ name: String, slot: Timestamp, _ outcome: ScheduleSlot.Outcome, run: RunID?, detail: String?
    )
        async throws -> Bool
    { try await base.settle(name, slot: slot, outcome, run: run, detail: detail) }
    func slots(of name: String, limit: Int) async throws -> [ScheduleSlot] {
        try await base.slots(of: name, limit: limit)
    }
    func lastSlot(of name: String) async throws -> Timestamp? { try await base.lastSlot(of: name) }
}

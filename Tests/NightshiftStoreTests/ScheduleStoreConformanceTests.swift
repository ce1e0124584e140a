import Foundation
import NightshiftCore
import NightshiftPostgres
import NightshiftSQLite
import NightshiftTesting
import Testing

/// The schedule store: SQLite, PostgreSQL and the in-memory twin behave alike, above all in
/// claiming a slot once, however many callers race for it.
@Suite struct ScheduleStoreConformanceTests {
    func make(_ kind: LogStoreKind) async throws -> any ScheduleStore {
        switch kind {
        case .memory: InMemoryScheduleStore()
        case .sqliteMemory: SQLiteScheduleStore(sharing: try SQLiteEventStore.inMemory())
        case .sqliteFile: SQLiteScheduleStore(sharing: try SQLiteEventStore(path: temporaryDirectory() + "/store.db"))
        case .postgres: PostgresScheduleStore(sharing: try await PostgresFixture.store())
        }
    }

    func schedule(_ name: String, plan: Bool = false) -> Schedule {
        Schedule(
            name: name, cron: "0 2 * * *", timeZone: "Europe/Paris",
            template: RunTemplate(
                goal: plan ? nil : "tidy the <docs>", plan: plan ? Plan(title: "p", tasks: []) : nil, agent: "tidier",
                workspace: "/srv/app"), catchUp: .once, created: Timestamp(milliseconds: 5), createdBy: "alice")
    }

    @Test(arguments: LogStoreKind.available)
    func schedulesAreKeptPausedAndRemoved(_ kind: LogStoreKind) async throws {
        let store = try await make(kind)
        try await store.add(schedule("nightly"))
        try await store.add(schedule("b-plan", plan: true))
        await #expect(throws: ScheduleStoreError.self) { try await store.add(schedule("nightly")) }
        #expect(try await store.schedules().map(\.name) == ["b-plan", "nightly"])
        #expect(try await store.schedules()[1] == schedule("nightly"))
        #expect(try await store.schedules()[0].template.plan?.title == "p")
        #expect(try await store.setPaused("nightly", true))
        #expect(try await store.schedules()[1].paused)
        #expect(try await !store.setPaused("nope", true))
        #expect(try await store.remove("b-plan"))
        #expect(try await !store.remove("b-plan"))
        #expect(try await store.schedules().map(\.name) == ["nightly"])
    }

    @Test(arguments: LogStoreKind.available)
    func aSlotIsClaimedOnceAndSettled(_ kind: LogStoreKind) async throws {
        let store = try await make(kind)
        try await store.add(schedule("nightly"))
        let slot = Timestamp(milliseconds: 60_000)
        #expect(try await store.lastSlot(of: "nightly") == nil)
        // Twenty claims at once: exactly one wins.
        let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
            for n in 0..<20 {
                group.addTask { try await store.claim("nightly", slot: slot, at: Timestamp(milliseconds: Int64(n))) }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(wins == 1)
        #expect(try await store.slots(of: "nightly", limit: 5).map(\.outcome) == [.claimed])
        try await store.settle("nightly", slot: slot, .started, run: RunID("sched-nightly-1"), detail: nil)
        #expect(
            try await store.claim("nightly", slot: Timestamp(milliseconds: 120_000), at: Timestamp(milliseconds: 9)))
        try await store.settle(
            "nightly", slot: Timestamp(milliseconds: 120_000), .failed, run: nil, detail: "untrusted")
        let slots = try await store.slots(of: "nightly", limit: 5)
        #expect(slots.map(\.outcome) == [.failed, .started] && slots[0].detail == "untrusted")
        #expect(slots[1].run == RunID("sched-nightly-1"))
        #expect(try await store.slots(of: "nightly", limit: 1).count == 1)
        #expect(try await store.lastSlot(of: "nightly") == Timestamp(milliseconds: 120_000))
        // Another schedule's slots are its own.
        #expect(try await store.claim("other", slot: slot, at: slot))
        // Settled once: a late second word on a slot changes nothing.
        #expect(try await !store.settle("nightly", slot: slot, .failed, run: nil, detail: "late"))
        #expect(try await store.slots(of: "nightly", limit: 5).last?.outcome == .started)
        // A slot that starts nothing is settled in its claim: no crash can leave it claimed.
        let missed = Timestamp(milliseconds: 180_000)
        #expect(try await store.claim("nightly", slot: missed, at: missed, as: .skipped, detail: "missed"))
        let skipped = try await store.slots(of: "nightly", limit: 1).first
        #expect(skipped?.outcome == .skipped && skipped?.detail == "missed")
        #expect(try await !store.settle("nightly", slot: missed, .started, run: RunID("x"), detail: nil))
        // Removed, its slots go with it: added again, it starts afresh.
        #expect(try await store.remove("nightly"))
        #expect(try await store.slots(of: "nightly", limit: 5).isEmpty)
        #expect(try await store.lastSlot(of: "nightly") == nil)
        #expect(try await store.slots(of: "other", limit: 5).count == 1)
    }
}

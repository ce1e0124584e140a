public import NightshiftCore

/// One SQLite file holds the runs and everything beside them (each adapter shares its pool).
extension SQLiteEventStore: RunDatabase {
    public var location: String { path }
    public var memoryBank: any MemoryBankStore { SQLiteMemoryStore(sharing: self) }
    public var schedules: any ScheduleStore { SQLiteScheduleStore(sharing: self) }
    public var tokens: any TokenStore { SQLiteTokenStore(sharing: self) }
}

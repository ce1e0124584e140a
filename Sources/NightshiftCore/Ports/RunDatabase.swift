/// The one database a runtime keeps everything in: the runs' logs, leases and queue, the signal
/// of their appends, the record of the runs pruned from it, and beside them the memory bank, the
/// schedules and the API tokens. SQLite (one machine) and PostgreSQL (many hosts) both offer it;
/// the composition root picks one, and the use cases see only this.
public protocol RunDatabase: EventStore, RunQueue, LogSignal, LogRetention {
    /// Where it is, for messages: a file's path, or an address without its password.
    var location: String { get }
    /// The memory bank and its dreams, in this database.
    var memoryBank: any MemoryBankStore { get }
    /// The schedules, in this database (a slot is claimed here, so it fires once across hosts).
    var schedules: any ScheduleStore { get }
    /// The HTTP API's tokens, in this database.
    var tokens: any TokenStore { get }
}

import Foundation
public import Logging
public import NightshiftCore
import PostgresNIO
import Synchronization

/// Everything a runtime keeps, in one PostgreSQL database: the event store (log, audit, leases,
/// queue and signal) and, over its connection pool, the memory bank, the schedules and the
/// tokens. Made without a word to the server: the pool runs from then on, and the first call
/// connects and brings the schema up to this binary's version, so a command that never reads
/// needs no server, and a server down at start, a wrong password or a newer schema fail that
/// call with one line naming the host, database and user (never a password).
public final class PostgresDatabase: RunDatabase, Sendable {
    /// The event store; its pool runs only while this database lives, so calls go through this
    /// object (a caller that kept only the store would find its pool stopped).
    package let events: PostgresEventStore
    public let location: String
    let address: PostgresURL.Address
    let logger: Logger
    private let pool: Task<Void, Never>
    private let schema = Mutex<Task<Void, any Error>?>(nil)
    private let ready = Atomic<Bool>(false)

    /// - Parameter address: `postgres://USER@HOST:PORT/DATABASE` (see ``PostgresURL``).
    /// - Throws: ``PostgresURLError`` when the address cannot be used.
    public init(
        address: String, environment: [String: String]? = nil, now: (@Sendable () -> Timestamp)? = nil,
        logger: Logger
    ) throws(PostgresURLError) {
        let parsed = try PostgresURL.address(address, environment: environment)
        self.address = parsed
        var client = parsed.client
        // A lost server shows within seconds, not after the library's default.
        client.options.connectTimeout = .seconds(5)
        location = "postgres://" + PostgresURL.shown(client)
        let events = PostgresEventStore(.init(client: client, now: now), logger: logger)
        self.events = events
        self.logger = logger
        pool = Task { await events.run() }
    }

    deinit { pool.cancel() }

    /// Connects and checks the schema once (again after a failure, which is not kept).
    func prepared() async throws {
        if ready.load(ordering: .acquiring) { return }
        let task = schema.withLock { current in
            if let current { return current }
            let made = Task { [events, address, logger] in
                // One connection of its own first: the pool, refused, retries for a minute and
                // then says only that it gave up; this says why (refused, no such database, a
                // wrong password) within the connect timeout.
                let probe = try await PostgresConnection.connect(
                    configuration: try address.connection(), id: 0, logger: logger)
                try? await probe.close()
                try await events.migrate()
            }
            current = made
            return made
        }
        do {
            try await task.value
            ready.store(true, ordering: .releasing)
        } catch {
            schema.withLock { if $0 == task { $0 = nil } }
            throw StoreError(.io, PostgresDatabaseError(location: location, error).description)
        }
    }

    /// Runs `body` once the schema is ready, a lost connection's error told in one line.
    private func ready<T>(_ body: () async throws -> T) async throws -> T {
        try await prepared()
        do { return try await body() } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.io, PostgresDatabaseError(location: location, error).description)
        }
    }

    /// Runs one statement with no parameters (administration: tests make databases with it).
    package func execute(_ sql: String) async throws {
        defer { withExtendedLifetime(self) {} }
        try await events.execute(sql)
    }

    /// The first column of the first row of `sql`, as text (benchmarks read statistics with it).
    package func scalar(_ sql: String) async throws -> String? {
        defer { withExtendedLifetime(self) {} }
        return try await events.scalar(sql)
    }

    public var memoryBank: any MemoryBankStore { Prepared(self, PostgresMemoryStore(sharing: events)) }
    public var schedules: any ScheduleStore { Prepared(self, PostgresScheduleStore(sharing: events)) }
    public var tokens: any TokenStore { Prepared(self, PostgresTokenStore(sharing: events)) }

    // MARK: - EventLog

    public func append(
        _ events: [Event], to run: RunID, expectedSeq: Int64, snapshot: Snapshot?, fence: Lease?
    ) async throws -> [EventEnvelope] {
        try await ready {
            try await self.events.append(events, to: run, expectedSeq: expectedSeq, snapshot: snapshot, fence: fence)
        }
    }
    public func read(_ run: RunID, after: Int64, limit: Int) async throws -> [EventEnvelope] {
        try await ready { try await events.read(run, after: after, limit: limit) }
    }
    public func runs() async throws -> [RunSummary] { try await ready { try await events.runs() } }
    public func events(of kind: Event.Kind) async throws -> [EventEnvelope] {
        try await ready { try await events.events(of: kind) }
    }
    public func runs(status: RunStatus?, limit: Int, offset: Int) async throws -> (runs: [RunSummary], total: Int) {
        try await ready { try await events.runs(status: status, limit: limit, offset: offset) }
    }
    public func summary(of run: RunID) async throws -> RunSummary? {
        try await ready { try await events.summary(of: run) }
    }
    public func latestSnapshot(of run: RunID) async throws -> Snapshot? {
        try await ready { try await events.latestSnapshot(of: run) }
    }

    public func records(of run: RunID) async throws -> RunRecords {
        try await ready { try await events.records(of: run) }
    }
    public func restore(_ runs: [RunRecords]) async throws { try await ready { try await events.restore(runs) } }

    // MARK: - LogRetention

    public func prune(_ pruned: [PrunedRun]) async throws { try await ready { try await events.prune(pruned) } }
    public func prunings() async throws -> [PrunedRun] { try await ready { try await events.prunings() } }
    public func pruning(of run: RunID) async throws -> PrunedRun? {
        try await ready { try await events.pruning(of: run) }
    }

    // MARK: - LogAudit

    public func verify(_ run: RunID) async throws -> VerifyReport { try await ready { try await events.verify(run) } }
    public func verifyChain(_ run: RunID) async throws -> VerifyReport {
        try await ready { try await events.verifyChain(run) }
    }

    // MARK: - LeaseStore

    public func acquireLease(
        _ key: LeaseKey, holder: LeaseHolder, ttl: Duration, isAlive: @Sendable (LeaseHolder) -> Bool
    ) async throws -> Lease {
        try await ready { try await events.acquireLease(key, holder: holder, ttl: ttl, isAlive: isAlive) }
    }
    public func renewLease(_ lease: Lease) async throws { try await ready { try await events.renewLease(lease) } }
    public func releaseLease(_ lease: Lease) async throws { try await ready { try await events.releaseLease(lease) } }
    public func handOverLease(_ lease: Lease) async throws {
        try await ready { try await events.handOverLease(lease) }
    }
    public func leaseRecord(of key: LeaseKey) async throws -> LeaseRecord? {
        try await ready { try await events.leaseRecord(of: key) }
    }
    public func leaseClock() async throws -> Timestamp? { try await ready { try await events.leaseClock() } }

    // MARK: - RunQueue

    public func due(now: Timestamp, after: QueuedRun?, limit: Int) async throws -> [QueuedRun] {
        try await ready { try await events.due(now: now, after: after, limit: limit) }
    }
    public func settle(_ entry: QueuedRun, until: Timestamp?) async throws -> Bool {
        try await ready { try await events.settle(entry, until: until) }
    }
    public func queued() async throws -> [QueuedRun] { try await ready { try await events.queued() } }
    public func nextDue() async throws -> Timestamp? { try await ready { try await events.nextDue() } }
    public func reconcile() async throws -> Int { try await ready { try await events.reconcile() } }

    // MARK: - LogSignal

    public func generation(of run: RunID?) async -> UInt64 { await events.generation(of: run) }
    public func wait(for run: RunID?, past seen: UInt64, timeout: Duration) async -> Bool {
        await events.wait(for: run, past: seen, timeout: timeout)
    }
    public func hearsOtherProcesses() async -> Bool { await events.hearsOtherProcesses() }
}

/// Why the database could not be used, in one line: where (user, host, port, database; never a
/// password) and what the server or the connection said.
public struct PostgresDatabaseError: Error, CustomStringConvertible, Sendable {
    public var description: String

    init(location: String, _ error: any Error) {
        let reason: String
        if let store = error as? StoreError {
            reason = store.message.hasPrefix("PostgreSQL: ") ? String(store.message.dropFirst(12)) : store.message
        } else if let t = error as? PostgresTransactionError,
            let inner = t.closureError ?? t.commitError ?? t.beginError
        {
            reason = PostgresDatabaseError(location: "", inner).reason
        } else if let psql = error as? PSQLError {
            reason = Self.reason(psql)
        } else {
            reason = "\(error)"
        }
        description = location.isEmpty ? reason : "PostgreSQL at \(location): \(reason)"
    }

    var reason: String {
        guard let range = description.range(of: ": ") else { return description }
        return String(description[range.upperBound...])
    }

    /// What PostgreSQL or the connection said (a `PSQLError`'s own description says nothing, on purpose).
    static func reason(_ psql: PSQLError) -> String {
        if let message = psql.serverInfo?[.message] {
            let state = psql.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            return message + state
        }
        switch psql.code {
        case .connectionError:
            let underlying = psql.underlying.map { "\($0)" } ?? ""
            let why =
                underlying.contains("Connection refused")
                ? " (connection refused)"
                : underlying.lowercased().contains("timeout") || underlying.contains("timed out")
                    ? " (timed out)" : underlying.isEmpty ? "" : " (\(underlying.prefix(200)))"
            return "cannot connect\(why): is the server running, and reachable from here?"
        case .authMechanismRequiresPassword:
            return "the server asks for a password: set PGPASSWORD or add it to ~/.pgpass"
        case .serverClosedConnection, .uncleanShutdown:
            return "the server closed the connection"
        case .sslUnsupported:
            return "the server does not offer TLS: add ?sslmode=disable to the address, or turn TLS on"
        default:
            return "\(psql.code)"
        }
    }
}

/// One of the stores beside the log, each call made once the schema is ready.
private struct Prepared<Store: Sendable>: Sendable {
    let database: PostgresDatabase
    let store: Store
    init(_ database: PostgresDatabase, _ store: Store) {
        self.database = database
        self.store = store
    }
    func call<T>(_ body: (Store) async throws -> T) async throws -> T {
        try await database.prepared()
        return try await body(store)
    }
}

extension Prepared: MemoryStore where Store: MemoryStore {
    func apply(_ change: MemoryChange, at time: Int64) async throws -> Memory {
        try await call { try await $0.apply(change, at: time) }
    }
    func apply(_ changes: [MemoryChange], at time: Int64) async throws -> [Memory] {
        try await call { try await $0.apply(changes, at: time) }
    }
    func memory(_ id: MemoryID) async throws -> Memory? { try await call { try await $0.memory(id) } }
    func list(scopes: [MemoryScope]?, includeGone: Bool) async throws -> [Memory] {
        try await call { try await $0.list(scopes: scopes, includeGone: includeGone) }
    }
    func search(_ query: String, scopes: [MemoryScope]?, limit: Int, now: Int64) async throws -> [Memory] {
        try await call { try await $0.search(query, scopes: scopes, limit: limit, now: now) }
    }
    func unembedded(model: String, scopes: [MemoryScope]?, limit: Int) async throws -> [Memory] {
        try await call { try await $0.unembedded(model: model, scopes: scopes, limit: limit) }
    }
    func setVectors(_ vectors: [MemoryVector], model: String) async throws {
        try await call { try await $0.setVectors(vectors, model: model) }
    }
    func nearest(
        _ vector: [Float], model: String, scopes: [MemoryScope]?, limit: Int, atLeast: Float, now: Int64
    ) async throws -> [MemoryID] {
        try await call {
            try await $0.nearest(vector, model: model, scopes: scopes, limit: limit, atLeast: atLeast, now: now)
        }
    }
    func history(_ id: MemoryID) async throws -> [MemoryRecord] { try await call { try await $0.history(id) } }
    func verifyLog() async throws -> (records: Int64, firstBad: Int64?) { try await call { try await $0.verifyLog() } }
}

extension Prepared: DreamLog where Store: DreamLog {
    func start(_ dream: DreamStart) async throws { try await call { try await $0.start(dream) } }
    func fail(dream: String, reason: String, at time: Int64) async throws {
        try await call { try await $0.fail(dream: dream, reason: reason, at: time) }
    }
    func unfinishedDreams() async throws -> [DreamStart] { try await call { try await $0.unfinishedDreams() } }
    func record(_ dream: Dream, at time: Int64) async throws { try await call { try await $0.record(dream, at: time) } }
    func dreams() async throws -> [Dream] { try await call { try await $0.dreams() } }
    func proposals() async throws -> [ProposalState] { try await call { try await $0.proposals() } }
    func decide(
        _ proposal: MemoryID, accepted: Bool, by: String, note: String, changes: [MemoryChange], at time: Int64
    ) async throws -> [Memory] {
        try await call {
            try await $0.decide(proposal, accepted: accepted, by: by, note: note, changes: changes, at: time)
        }
    }
}

extension Prepared: ScheduleStore where Store: ScheduleStore {
    func add(_ schedule: Schedule) async throws { try await call { try await $0.add(schedule) } }
    func schedules() async throws -> [Schedule] { try await call { try await $0.schedules() } }
    func setPaused(_ name: String, _ paused: Bool) async throws -> Bool {
        try await call { try await $0.setPaused(name, paused) }
    }
    func remove(_ name: String) async throws -> Bool { try await call { try await $0.remove(name) } }
    func claim(
        _ name: String, slot: Timestamp, at: Timestamp, as outcome: ScheduleSlot.Outcome, detail: String?
    ) async throws -> Bool {
        try await call { try await $0.claim(name, slot: slot, at: at, as: outcome, detail: detail) }
    }
    func settle(
        _ name: String, slot: Timestamp, _ outcome: ScheduleSlot.Outcome, run: RunID?, detail: String?
    ) async throws -> Bool {
        try await call { try await $0.settle(name, slot: slot, outcome, run: run, detail: detail) }
    }
    func slots(of name: String, limit: Int) async throws -> [ScheduleSlot] {
        try await call { try await $0.slots(of: name, limit: limit) }
    }
    func lastSlot(of name: String) async throws -> Timestamp? { try await call { try await $0.lastSlot(of: name) } }
}

extension Prepared: TokenStore where Store: TokenStore {
    func add(_ token: APIToken) async throws { try await call { try await $0.add(token) } }
    func token(id: String) async throws -> APIToken? { try await call { try await $0.token(id: id) } }
    func tokens() async throws -> [APIToken] { try await call { try await $0.tokens() } }
    func revoke(id: String, at: Timestamp) async throws -> Bool {
        try await call { try await $0.revoke(id: id, at: at) }
    }
}

import Foundation
public import Logging
public import NightshiftCore
import NightshiftHands
import NightshiftSQLite
public import ServiceLifecycle
import Synchronization

/// Nightshift as one long-lived service: it owns the store client and a pool of drives, and every
/// front end (the CLI's commands, a server, the worker) asks it to create, drive, inspect and
/// stop runs. Run it in a `ServiceGroup` (``serving(_:)`` makes one), so a shutdown reaches every
/// drive: a stop takes no new work, ends each drive at its next append (what its last step began
/// is in doubt at the next wake, as after a crash), gives each lease back (handed over when a
/// worker was driving, so the next worker goes on), and then `run()` returns.
public final class Runtime: Service, Sendable {
    public struct Configuration: Sendable {
        /// The database every run of this runtime lives in.
        public var store: StoreConfig
        /// Whether a database that does not exist yet may be made (a new run); otherwise its
        /// absence is an error that says how to start (inspection, resume, the worker).
        public var createsDatabase: Bool

        public init(store: StoreConfig, createsDatabase: Bool = false) {
            self.store = store
            self.createsDatabase = createsDatabase
        }
    }

    public let configuration: Configuration
    public let logger: Logger
    let pool: RunPool
    private let opened = Mutex<(any RunDatabase)?>(nil)
    private let group = Mutex<ServiceGroup?>(nil)

    public init(_ configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.pool = RunPool(logger: logger)
    }

    /// The store, opened on first use (a new run's checks come before its database is made) and kept.
    func store() throws -> any RunDatabase {
        try opened.withLock { store in
            if let store { return store }
            let made =
                configuration.createsDatabase
                ? try Adapters.openStore(configuration.store) : try Adapters.openExistingStore(configuration.store)
            store = made
            return made
        }
    }

    // MARK: - Lifetime

    /// Drives what it is given until a graceful shutdown (or cancellation), then waits for every
    /// drive under way to end.
    public func run() async throws {
        await withGracefulShutdownHandler {
            await pool.run()
        } onGracefulShutdown: { [pool] in
            pool.stop()
        }
    }

    /// Runs `body` with this runtime running in a service group of its own, then shuts the group
    /// down gracefully. ``stop()`` during `body` stops the drives; `body` learns it from their
    /// outcomes (``RuntimeError`` `stopped`).
    /// - Parameter others: services that live as long as the runtime in the same group (a
    ///   server): shut down before it, so they stop taking requests before its drives end.
    public func serving<T>(with others: [any Service] = [], _ body: (Runtime) async throws -> T) async throws -> T {
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: self)] + others.map { .init(service: $0) }, gracefulShutdownSignals: [],
                logger: logger))
        self.group.withLock { $0 = group }
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let result: Result<T, any Error>
            do { result = .success(try await body(self)) } catch { result = .failure(error) }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return try result.get()
        }
    }

    /// Stops: no new drive starts, and the drives under way end as described above. Returns at
    /// once; ``run()`` returns when they have ended.
    public func stop() async {
        if let group = group.withLock({ $0 }) {
            await group.triggerGracefulShutdown()
        } else {
            pool.stop()
        }
    }

    /// Whether ``stop()`` was asked for.
    public var isStopping: Bool { pool.stopping.isSet }

    /// Runs `operation` until it ends or the runtime stops, whichever comes first (then it is
    /// cancelled, and nil is returned): for loops that feed the runtime work, such as the worker's.
    public func untilStopped<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T? {
        try await withThrowingTaskGroup(of: T?.self) { tasks in
            tasks.addTask { try await operation() }
            tasks.addTask { [pool] in
                await pool.stopping.wait()
                return nil
            }
            defer { tasks.cancelAll() }
            return try await tasks.next() ?? nil
        }
    }

    // MARK: - Runs

    /// Checks and records a new run, then drives it in the pool: returns its id once its first
    /// events are in the log, while the drive goes on (``outcome(of:)`` waits for it).
    /// - Throws: ``RuntimeError`` for what the checks found (nothing was recorded then).
    public func create(_ request: StartRequest, observer: RunObserver) async throws -> RunID {
        var request = request
        request.store = configuration.store
        let id = request.id ?? Adapters.newRunID()
        request.id = id
        let recorded = OneShot<RunID>()
        try pool.submit(id, dropped: { recorded.fail($0) }) { [request] in
            do {
                let outcome = try await StartRun.start(
                    request, observer: observer, open: self.store, recorded: { recorded.succeed($0) })
                recorded.succeed(id)
                return try await Self.stopped(outcome, store: try self.store())
            } catch {
                // (Stopped before it was recorded: there is no run to continue.)
                recorded.fail(
                    Task.isCancelled
                        ? RuntimeError(.stopped, "run \(id) was not started: this process is stopping") : error)
                throw error
            }
        }
        return try await recorded.value()
    }

    /// Drives an existing run (and, while it waits for sub-agents, its tree) in the pool; returns
    /// at once (``outcome(of:)`` waits for the drive).
    /// - Throws: ``RuntimeError`` `busy` when this runtime drives it already, `stopped` when stopping.
    public func drive(_ request: ResumeRequest, observer: RunObserver) throws {
        var request = request
        request.store = configuration.store
        try pool.submit(request.run) { [request] in
            let store = try self.store()
            return try await Self.stopped(
                try await ResumeRun.resumeWithFleet(request, store: store, observer: observer), store: store)
        }
    }

    /// A run left waiting for its sub-agents because the stop cut their drives short stopped with
    /// the process; any other outcome is the run's own (a pause for a person stays a pause).
    static func stopped(_ outcome: RunOutcome, store: any RunDatabase) async throws -> RunOutcome {
        guard Task.isCancelled, case .paused = outcome.reason else { return outcome }
        let run = outcome.run
        // Read outside the cancellation (a store refuses work in a cancelled task).
        let kind = await Leasing.outsideCancellation { try? await store.state(of: run).pauseKind }
        if kind == .agents { throw RunPool.stopped(run, before: false) }
        return outcome
    }

    /// How the drive of `run` this runtime started ended, waiting for it while it goes on.
    /// - Throws: what the drive threw (``RuntimeError`` `stopped` when the runtime stopped it).
    public func outcome(of run: RunID) async throws -> RunOutcome {
        try await pool.outcome(of: run)
    }

    /// The worker's loop over this runtime's store, driving each run it picks in the pool.
    /// Run it with ``untilStopped(_:)``: a stop ends the drive under way and then the loop.
    /// - Parameter request: the resume request for a run (read again for each: a key file may change).
    public func worker(
        poll: Duration, request: @escaping @Sendable (RunID) throws -> ResumeRequest, observer: RunObserver,
        afterLook: (@Sendable (_ resumed: Int) async -> Void)? = nil
    ) throws -> WorkerLoop {
        WorkerLoop(
            store: try store(), poll: poll, request: request,
            resume: { request in
                try self.drive(request, observer: observer)
                return try await self.outcome(of: request.run)
            }, logger: logger, afterLook: afterLook)
    }

    // MARK: - Reading and deciding

    /// The runs, then the runs again after each append to any of them (a live list).
    public func runsFeed() throws -> RunsFeed { RunsFeed(store: try store()) }

    /// Every run in the database, newest first.
    public func runs() async throws -> [RunSummary] { try await store().runs() }

    /// A page of the runs, newest first (of one status, when given), and how many there are.
    public func runs(status: RunStatus?, limit: Int, offset: Int) async throws -> (runs: [RunSummary], total: Int) {
        try await store().runs(status: status, limit: limit, offset: offset)
    }

    /// One run as its log stands, checked.
    public func status(of run: RunID) async throws -> Inspect.RunView {
        try await Inspect.run(run, store: try store())
    }

    /// A run's events after `after`, live while it runs when `follow` (resumable from any seq).
    public func events(
        of run: RunID, after: Int64, follow: Bool
    ) async throws -> (
        start: Timestamp?, events: RunEvents
    ) {
        try await Inspect.events(
            of: run, after: after, follow: follow, store: try store(), db: configuration.store.db)
    }

    /// A run's events after `after`, then each new one as it is appended until the run finishes
    /// or fails (a pause does not end it): a live view, resumable from any seq.
    public func live(of run: RunID, after: Int64) async throws -> RunEvents {
        try await Inspect.events(
            of: run, after: after, follow: true, throughPauses: true, store: try store(), db: configuration.store.db
        ).events
    }

    /// The work a run committed to its branch (a worktree run), as a diff from where it began;
    /// nil for a run that works in place, or whose branch git cannot read here.
    public func committedDiff(of run: RunID) async throws -> String? {
        let state = try await store().state(of: run)
        guard let repository = state.settings.worktreeOf, let branch = state.branch else { return nil }
        var base: String?
        // Recorded among the run's first events (the worktree is made at its first step).
        for try await e in try await events(of: run, after: 0, follow: false).events {
            if case let .workspaceProvisioned(_, _, from) = e.event {
                base = from
                break
            }
            if e.seq > 500 { break }
        }
        guard let base else { return nil }
        return await GitWorkspace.committedDiff(repository: repository, base: base, branch: branch)
    }

    /// The agent profiles runs were started as, each version with its runs (from the logs: what
    /// ran, whatever the profile files say today).
    public func profileUse() async throws -> [String: [(run: RunID, version: String)]] {
        try await Inspect.profileUse(try store())
    }

    /// What waits for a person.
    public func inbox() async throws -> [Inbox.Item] { try await Inbox.items(try store()) }

    /// One waiting run in full: what it waits for, and what the decision would append.
    public func inbox(_ run: RunID) async throws -> Inbox.Case {
        try await Inbox.detail(run, store: try store())
    }

    /// Memories proposed by runs, waiting for a person.
    public func memoryProposals() async throws -> [MemoryBank.Proposal] { try await Inbox.proposals(try store()) }

    /// Dreams' proposals, waiting for a person.
    public func dreamProposals() async throws -> [ProposalState] { try await Inbox.dreamProposals(try store()) }

    /// Every chain recomputed, witnesses and snapshots compared, a checkpoint matched (`audit verify`).
    public func verify(_ request: AuditVerify.Request) async throws -> [AuditVerify.Finding] {
        try await AuditVerify.verify(request, store: try store(), db: configuration.store.db)
    }

    /// A run's full record with a signed checkpoint of its head (`audit export`).
    /// - Parameter keyFile: the audit key (made if missing); nil: the default path.
    /// - Parameter makeKey: make the key when missing (false for a server: a read makes no file).
    public func export(_ run: RunID, keyFile: String?, makeKey: Bool = true) async throws -> AuditExport.Export {
        try await AuditExport.export(
            run, keyFile: keyFile, makeKey: makeKey, store: try store(), db: configuration.store.db)
    }

    /// A run and its sub-agents as one signed file of their stored records (`nightshift export`).
    /// - Parameter keyFile: the audit key that signs it (made if missing); nil: the default path.
    public func exportTree(_ run: RunID, keyFile: String?) async throws -> RunTransfer.Exported {
        try await RunTransfer.export(run, keyFile: keyFile, store: try store())
    }

    /// An export's runs written into this runtime's store, everything in it checked first; all
    /// of them or none (`nightshift import`). Drives nothing.
    public func importRuns(from file: String, trust: RunTransfer.Trust) async throws -> RunTransfer.Imported {
        try await RunTransfer.import(from: file, trust: trust, store: store)
    }

    /// Ended runs older than a date exported and removed, each with a record (`nightshift prune`).
    public func prune(_ request: PruneRuns.Request) async throws -> [PruneRuns.Tree] {
        try await PruneRuns.prune(request, store: try store(), db: configuration.store)
    }

    /// The retention log: every run pruned from this runtime's store, oldest first.
    public func prunings() async throws -> [PrunedRun] { try await store().prunings() }

    /// Decisions (approve, deny, answer, budget, plan review) recorded as `decider`.
    public func decisions(by decider: String) throws -> Decisions {
        Decisions(store: try store(), decider: decider)
    }

    /// Each agent's scorecard over the runs created in the last `within` (nil: every run).
    public func scorecards(within: Duration?) async throws -> [Scorecards.Card] {
        let since = within.map {
            Timestamp(milliseconds: Adapters.clock.now().milliseconds - Int64($0.components.seconds) * 1000)
        }
        return try await Scorecards.cards(store: try store(), since: since)
    }

    /// The memory bank in this runtime's database, its changes made as `by`.
    public func memoryBank(by: String) throws -> MemoryBank {
        let events = try store()
        return MemoryBank(store: events.memoryBank, runs: events, by: by)
    }

    /// A run and its sub-agents, with what each spent.
    public func fleetTree(of run: RunID) async throws -> FleetTree {
        let store = try store()
        guard try await store.summary(of: run) != nil else {
            throw RuntimeError(.notFound, "no run \(run) (nightshift status lists the runs)")
        }
        return try await FleetTree.load(run, store: store)
    }

    /// The schedules kept in this runtime's database (`nightshift schedule`).
    public func schedules() throws -> Schedules {
        Schedules(store: try store().schedules, clock: Adapters.clock)
    }

    /// Keeps the schedules until cancelled, starting each due slot's run with `starts` in this
    /// runtime's pool (every `serve` and `worker` does; a slot starts at most one run).
    public func keepSchedules(
        _ starts: RunStarts, observer: RunObserver, recheck: Duration = .seconds(30)
    ) async throws {
        var dreamer: (@Sendable (Schedule, Timestamp) async throws -> String)?
        if let dream = starts.dream {
            // One dream at a time in this process (the dream lease lets its own holder in again).
            let dreaming = Mutex(false)
            dreamer = { schedule, _ in
                guard
                    dreaming.withLock({ busy in
                        busy
                            ? false
                            : {
                                busy = true
                                return true
                            }()
                    })
                else {
                    throw RuntimeError(.busy, "a dream is still under way in this process; this slot's is not started")
                }
                defer { dreaming.withLock { $0 = false } }
                return try await dream(schedule.template, "schedule \(schedule.name)")
            }
        }
        try await schedules().keep(
            recheck: recheck,
            onSettled: { [logger] slot in
                let run = slot.run.map { ": run \($0)" } ?? ""
                let detail = slot.detail.map { ": \($0)" } ?? ""
                logger.notice(
                    "schedule \(slot.schedule): slot \(slot.slot.slotText) \(slot.outcome.rawValue)\(run)\(detail)")
            },
            onError: { [logger] error in logger.error("schedules: \(error) (tried again at the next look)") },
            start: { schedule, slot in
                try await starts.start(
                    schedule.template,
                    trigger: RunTrigger(
                        kind: .schedule, name: schedule.name, by: schedule.createdBy, detail: "slot \(slot.slotText)"),
                    id: Schedules.runID(schedule.name, slot: slot), on: self, observer: observer)
            },
            dream: dreamer)
    }

    /// Each agent's cards week by week over the runs created in the last `within` (nil: every
    /// run): a version's trend, to set a new guidance version beside the old.
    public func scorecardWeeks(within: Duration?) async throws -> [Scorecards.Period] {
        let since = within.map {
            Timestamp(milliseconds: Adapters.clock.now().milliseconds - Int64($0.components.seconds) * 1000)
        }
        return try await Scorecards.periods(store: try store(), since: since, length: .seconds(7 * 86400))
    }

    /// The HTTP API's tokens, kept in this runtime's database.
    public func tokens() throws -> Tokens { Tokens(store: try store().tokens) }

    /// Cancels a run and its sub-agents.
    @discardableResult
    public func cancel(_ run: RunID, reason: String, by decider: String) async throws -> RunState {
        try await CancelRun.cancel(run, reason: reason, by: decider, store: try store())
    }
}

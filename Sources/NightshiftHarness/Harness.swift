import Foundation
public import NightshiftCore

/// The brain's loop. Holds no run state between calls: `drive` wakes a run from the log, then
/// repeatedly folds, decides (purely) and acts, recording every intent before its IO and every
/// result after it. A crash anywhere is survived by driving the run again.
public struct Harness: Sendable {
    public struct Configuration: Sendable {
        /// A snapshot of the folded state is stored after this many events, bounding the tail a wake decodes. Defaults to 64.
        public var snapshotEvery: Int64
        /// How many recent events of the active task the model's transcript draws on. Defaults to 48.
        public var transcriptWindow: Int
        public init(snapshotEvery: Int64 = 64, transcriptWindow: Int = 48) {
            self.snapshotEvery = snapshotEvery
            self.transcriptWindow = transcriptWindow
        }
    }

    public let store: any EventStore
    public let model: any ModelProvider
    public let tools: any ToolRunner
    public let checks: any CheckRunner
    /// Commits finished tasks when the run works in a git worktree; nil records that this process cannot.
    public let vcs: (any WorkspaceVCS)?
    /// Writes PROGRESS.md, PLAN.md and REPORT.md and hashes protected files; nil: no views, and a
    /// run whose policy protects files pauses (the ratchet fails closed without its evidence).
    public let files: (any WorkspaceFiles)?
    public let configuration: Configuration
    /// Called with every committed event, in order (live progress, fault injection in tests).
    public let observer: (@Sendable (EventEnvelope) -> Void)?
    /// Makes sub-agents' runs; nil: the run is not offered `spawn_agents` and `wait_agents`.
    public let children: (any ChildRunMaker)?
    /// Sub-agents' ends seen in this process (shared by every harness of one fleet driver); nil:
    /// a parent reads each child's end from its log.
    public let settled: SettledRuns?
    /// The memory bank a run's shifts recall from; nil: shifts are shown no memories (and say so).
    public let memories: (any MemoryStore)?

    public init(
        store: any EventStore, model: any ModelProvider, tools: any ToolRunner, checks: any CheckRunner,
        vcs: (any WorkspaceVCS)? = nil, files: (any WorkspaceFiles)? = nil,
        configuration: Configuration = Configuration(), observer: (@Sendable (EventEnvelope) -> Void)? = nil,
        children: (any ChildRunMaker)? = nil, settled: SettledRuns? = nil, memories: (any MemoryStore)? = nil
    ) {
        self.memories = memories
        self.children = children
        self.settled = settled
        // A maker with no profiles makes only a coding fleet's workers: nothing to spawn.
        let profiles = (children?.profiles).flatMap { $0.isEmpty ? nil : $0 }
        let fleet = profiles.map { [ToolSpec.spawnAgents(offering: $0), .waitAgents] } ?? []
        // A run with a memory bank may propose memories.
        let core = [ToolSpec.note, ToolSpec.escalate] + fleet + (memories != nil ? [ToolSpec.remember] : [])
        let offered = tools.specs + core.filter { core in !tools.specs.contains { $0.name == core.name } }
        self.offered = offered
        self.catalog = ToolCatalog(offered, profiles: profiles)
        self.store = store
        self.model = model
        self.tools = tools
        self.checks = checks
        self.vcs = vcs
        self.files = files
        self.configuration = configuration
        self.observer = observer
    }

    /// Creates a run: its first events are `run_created` and `plan_set`.
    /// - Throws: ``StoreError`` `.sequenceConflict` if a run with this id exists.
    @discardableResult
    public func create(
        _ run: RunID, title: String, plan: Plan, workspace: String, settings: RunSettings
    ) async throws -> RunState {
        try await create(run, title: title, workspace: workspace, settings: settings, then: .planSet(plan: plan))
    }

    /// Creates a run from a goal: `run_created` and `goal_set`; the planner role makes the plan.
    @discardableResult
    public func create(
        _ run: RunID, title: String, goal: String, workspace: String, settings: RunSettings
    ) async throws -> RunState {
        try await create(
            run, title: title, workspace: workspace, settings: settings, then: .goalSet(goal: Payload(goal)))
    }

    private func create(
        _ run: RunID, title: String, workspace: String, settings: RunSettings, then second: Event
    ) async throws -> RunState {
        let events: [Event] = [
            .runCreated(title: title, workspace: workspace, model: model.label, settings: settings), second,
        ]
        var state = RunState(run: run)
        for e in events { try state.applyUncommitted(e) }  // validate before writing anything
        let envelopes = try await store.append(events, to: run, expectedSeq: 0)
        envelopes.forEach { observer?($0) }
        return try RunState.fold(run, envelopes)
    }

    /// Loads a run's state (see ``EventStore/state(of:)``).
    public func wake(_ run: RunID) async throws -> RunState { try await store.state(of: run) }

    /// The tools every model call is offered: the runner's, plus `note` and `escalate` (decided in
    /// the core) and, where sub-agents can be made, `spawn_agents` and `wait_agents`, unless the
    /// runner has its own tool of that name. Worked out once: every model call is handed them.
    let offered: [ToolSpec]

    /// The catalog decisions are made against: the offered tools, and the profiles children may be spawned as.
    let catalog: ToolCatalog

    /// Drives a run until it finishes, fails, pauses or waits (see ``RunDriver``).
    /// - Parameter resumedBy: when waking a run another process left, who is resuming it; recorded
    ///   as `run_resumed`, which puts calls that were in flight in doubt.
    /// - Parameter driver: recorded with it when a worker, not a person, resumes the run.
    /// - Parameter announce: events this process records before it starts (how it isolates commands).
    /// - Parameter policyChanges: asked before every step; returns a `policy_set` when the policy changed.
    /// - Parameter provision: makes the workspace, concurrently with the first model call; awaited
    ///   before anything touches the workspace. Its events (`workspace_provisioned`) are recorded
    ///   then; if it fails, the run pauses with the reason. It never outlives the drive.
    /// - Parameter lease: the run's lease, held by this process; every append is fenced with it, so
    ///   a process whose lease was taken over stops at its next append (`StoreError.leaseLost`).
    public func drive(
        _ run: RunID, resumedBy: String? = nil, driver: ResumeDriver? = nil, announce: [Event] = [],
        provision: (@Sendable () async throws -> [Event])? = nil,
        policyChanges: (@Sendable () -> Event?)? = nil, lease: Lease? = nil
    ) async throws -> StopReason {
        let (committed, recent) = try await wakeWithRecent(run)
        await files?.write(WorkspaceViews.progress(committed), workspace: committed.workspace)
        let catalog = catalog
        if committed.isTerminal, case let .stop(reason) = committed.nextAction(tools: catalog) { return reason }
        var runDriver = RunDriver(
            harness: self, committed: committed, recent: recent, catalog: catalog, lease: lease,
            policyChanges: policyChanges,
            lastSnapshotSeq: (try await store.latestSnapshot(of: run))?.seq ?? 0)
        if let resumedBy { try runDriver.record([.runResumed(by: resumedBy, driver: driver)]) }
        try runDriver.record(announce)
        runDriver.startProvisioning(provision)
        do {
            return try await runDriver.loop()
        } catch {
            await runDriver.abandonProvisioning()
            throw error
        }
    }

    /// The context the next model call of `run` would be handed, built exactly as `drive` builds it
    /// (from the folded state and a bounded window of recent events), without recording anything.
    /// Nil when the run's next step is not a model call. For inspection and `bench context`.
    public func nextContext(_ run: RunID) async throws -> ModelRequest? {
        var (state, recent) = try await wakeWithRecent(run)
        guard !state.isTerminal else { return nil }
        if state.status == .paused { try state.applyUncommitted(.runResumed(by: "inspection")) }
        let offered = offered
        let catalog = catalog
        for _ in 0..<16 {
            switch state.nextAction(tools: catalog) {
            case let .emit(events): for e in events { try state.applyUncommitted(e) }
            case let .callModel(call, task, attempt, turn, role):
                return ContextBuilder.request(
                    state: state, recent: recent, call: call, task: task, attempt: attempt, turn: turn,
                    role: role, tools: offered, window: window(state))
            default: return nil
            }
        }
        return nil
    }

    /// Wakes the run and reads the recent window in one verified read: the snapshot's tail and the
    /// window mostly overlap, so each event is read and decoded once (decoding is most of a wake).
    func wakeWithRecent(_ run: RunID) async throws -> (RunState, [EventEnvelope]) {
        if let snapshot = try await store.latestSnapshot(of: run),
            let state = try? JSONDecoder().decode(RunState.self, from: Data(snapshot.state)),
            state.run == run, state.lastSeq == snapshot.seq, snapshot.seq > 0,
            let head = try await store.summary(of: run)?.headSeq
        {
            // What came before the shift or its last summary is not in any context: it is not read either.
            let from = min(
                snapshot.seq - 1,
                max(
                    head - Int64(window(state)), state.shiftState.shiftStartSeq - 1,
                    state.shiftState.compactedThroughSeq, 0))
            let events = try await store.read(run, after: from, limit: .max)
            if RunState.vouches(for: snapshot, state: state, in: events) {
                var s = state
                for e in events where e.seq > snapshot.seq { try s.apply(e) }
                guard let start = recentStart(s) else { return (s, []) }
                return (s, events.filter { $0.seq > start })
            }
        }
        let state = try await wake(run)
        return (state, try await loadRecent(state))
    }

    private func loadRecent(_ state: RunState) async throws -> [EventEnvelope] {
        guard let from = recentStart(state) else { return [] }
        return try await store.read(state.run, after: from, limit: window(state) + 1)
    }

    /// Where the events a context may draw on begin (exclusive): the active task's first event,
    /// the window, the shift's start and its last summary, whichever is latest. Nil with no task.
    func recentStart(_ state: RunState) -> Int64? {
        guard let i = state.current else { return nil }
        return max(
            state.tasks[i].startSeq - 1, state.lastSeq - Int64(window(state)), state.shiftState.shiftStartSeq - 1,
            state.shiftState.compactedThroughSeq, 0)
    }

    /// Recent events the worker's transcript draws on: the configured window, widened under the
    /// loop so that a shift's turns are summarised (compacted) before any could fall out of it.
    func window(_ state: RunState) -> Int {
        state.settings.loop?.transcriptWindow(atLeast: configuration.transcriptWindow) ?? configuration.transcriptWindow
    }
}

/// Appends `model_retried` events while a model call is in flight, keeping its own copy of the
/// folded state so each append names the right position.
actor RetryRecorder {
    let store: any EventStore
    var state: RunState
    let fence: Lease?
    var appended: [EventEnvelope] = []
    var failure: (any Error)?
    let observer: (@Sendable (EventEnvelope) -> Void)?

    init(store: any EventStore, state: RunState, fence: Lease?, observer: (@Sendable (EventEnvelope) -> Void)?) {
        self.store = store
        self.state = state
        self.fence = fence
        self.observer = observer
    }

    func record(_ event: Event) async {
        guard failure == nil, !Task.isCancelled else { return }
        do {
            for e in try await store.append(
                [event], to: state.run, expectedSeq: state.lastSeq, snapshot: nil, fence: fence)
            {
                try state.apply(e)
                appended.append(e)
                observer?(e)
            }
        } catch {
            failure = error
        }
    }

    /// The state after the recorded retries; rethrows a failed append (the log must not silently miss one).
    func finish() throws -> (RunState, [EventEnvelope]) {
        if let failure { throw failure }
        return (state, appended)
    }
}

extension Event {
    /// Events after which the workspace's PROGRESS.md is rewritten.
    var changesProgress: Bool {
        switch self {
        case .noteWritten, .noteAdded, .taskBlocked, .runFinished, .runFailed, .planSet, .workspaceProvisioned,
            .workspaceMoved,
            .planRevised,
            .handoffWritten, .judgeVerdict, .baselineRan:
            true
        // The rest by name: a new kind must say whether PROGRESS.md shows it.
        case .runCreated, .taskStarted, .modelRequested, .modelResponded, .modelFailed, .modelRetried,
            .toolRequested, .toolStarted, .toolFinished, .toolInDoubt, .checkRan, .taskFinished, .taskAttemptFailed,
            .runPaused, .runResumed, .runReported, .isolationSet, .snapshotTaken, .rollbackAccepted, .workCommitted,
            .toolServerStarted, .policySet, .toolDecided, .approvalDecided, .budgetExhausted, .budgetSet,
            .breakerTripped, .escalated, .guidanceGiven, .guidanceSet, .protectedHashed, .protectedVerified,
            .goalSet, .planApproved, .planRejected, .initRan, .contextCompacted, .hookRan, .childSpawned,
            .childCreated, .waitStarted, .childrenPolled, .childEnded, .taskDispatched, .mergeStarted, .workMerged,
            .workRejected, .memoriesShown, .memoryProposed, .memorySearchDegraded:
            false
        }
    }
}

extension StopReason {
    /// A one-line description for terminals.
    public var text: String {
        switch self {
        case .finished: "finished"
        case .failed(let r): "failed: \(r)"
        case .paused(let r): "paused: \(r)"
        }
    }
}

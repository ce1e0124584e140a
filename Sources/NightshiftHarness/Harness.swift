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

    public init(
        store: any EventStore, model: any ModelProvider, tools: any ToolRunner, checks: any CheckRunner,
        vcs: (any WorkspaceVCS)? = nil, files: (any WorkspaceFiles)? = nil,
        configuration: Configuration = Configuration(), observer: (@Sendable (EventEnvelope) -> Void)? = nil
    ) {
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
        let events: [Event] = [
            .runCreated(title: title, workspace: workspace, model: model.label, settings: settings),
            .planSet(plan: plan),
        ]
        var state = RunState(run: run)
        for e in events { try state.applyUncommitted(e) }  // validate before writing anything
        let envelopes = try await store.append(events, to: run, expectedSeq: 0)
        envelopes.forEach { observer?($0) }
        return try RunState.fold(run, envelopes)
    }

    /// Creates a run from a goal: `run_created` and `goal_set`; the planner role makes the plan.
    @discardableResult
    public func create(
        _ run: RunID, title: String, goal: String, workspace: String, settings: RunSettings
    ) async throws -> RunState {
        let events: [Event] = [
            .runCreated(title: title, workspace: workspace, model: model.label, settings: settings),
            .goalSet(goal: Payload(goal)),
        ]
        var state = RunState(run: run)
        for e in events { try state.applyUncommitted(e) }
        let envelopes = try await store.append(events, to: run, expectedSeq: 0)
        envelopes.forEach { observer?($0) }
        return try RunState.fold(run, envelopes)
    }

    /// Loads a run's state (see ``EventStore/state(of:)``).
    public func wake(_ run: RunID) async throws -> RunState { try await store.state(of: run) }

    /// Drives a run until it finishes, fails, pauses or waits.
    /// - Parameter resumedBy: when waking a run another process left, who is resuming it; recorded
    ///   as `run_resumed`, which puts calls that were in flight in doubt.
    /// - Parameter announce: events this process records before it starts (how it isolates commands).
    /// - Parameter policyChanges: asked before every step; returns a `policy_set` when the policy changed.
    /// - Parameter provision: makes the workspace, concurrently with the first model call; awaited
    ///   before anything touches the workspace. Its events (`workspace_provisioned`) are recorded
    ///   then; if it fails, the run pauses with the reason.
    /// - Parameter lease: the run's lease, held by this process; every append is fenced with it, so
    ///   a process whose lease was taken over stops at its next append (`StoreError.leaseLost`).
    public func drive(
        _ run: RunID, resumedBy: String? = nil, announce: [Event] = [],
        provision: (@Sendable () async throws -> [Event])? = nil,
        policyChanges: (@Sendable () -> Event?)? = nil, lease: Lease? = nil
    ) async throws -> StopReason {
        // Every run has `note` and `escalate` (decided in the core); a runner's own tool of that name is left alone.
        let offered =
            tools.specs
            + [ToolSpec.note, ToolSpec.escalate].filter { core in !tools.specs.contains { $0.name == core.name } }
        let catalog = ToolCatalog(offered)
        var (committed, recent) = try await wakeWithRecent(run)
        await files?.write(WorkspaceViews.progress(committed), workspace: committed.workspace)
        if committed.isTerminal, case let .stop(reason) = committed.nextAction(tools: catalog) { return reason }
        var provisioning: Task<[Event], any Error>? = provision.map { p in Task { try await p() } }

        var scratch = committed
        var buffer: [Event] = []
        var lastSnapshotSeq = (try await store.latestSnapshot(of: run))?.seq ?? 0
        if let resumedBy {
            buffer.append(.runResumed(by: resumedBy))
            try scratch.applyUncommitted(.runResumed(by: resumedBy))
        }
        for e in announce {
            try scratch.applyUncommitted(e)
            buffer.append(e)
        }

        /// Waits for the workspace; false when it could not be made (the run is then paused).
        func workspaceReady() async throws -> Bool {
            guard let task = provisioning else { return true }
            provisioning = nil
            do {
                // Recorded before the intents waiting in the buffer, so the log reads in the order things happened.
                buffer = try await task.value + buffer
                scratch = committed
                for e in buffer { try scratch.applyUncommitted(e) }
                return true
            } catch {
                let paused = Event.runPaused(reason: "the workspace could not be made: \(error)", kind: .workspace)
                try scratch.applyUncommitted(paused)
                buffer.append(paused)
                return false
            }
        }

        /// `stopping`: the last commit before the run waits. Its snapshot is taken even if not due,
        /// so whoever wakes the run next (resume, inspection) reads only this commit's few events.
        func commit(stopping: Bool = false) async throws {
            guard !buffer.isEmpty else { return }
            var snapshot: Snapshot?
            if committed.lastSeq - lastSnapshotSeq
                >= (stopping ? min(8, configuration.snapshotEvery) : configuration.snapshotEvery)
            {
                snapshot = Snapshot(seq: committed.lastSeq, state: Array(try JSONEncoder().encode(committed)))
            }
            // The snapshot's digest goes into the chain with it: a snapshot is used only when the log vouches for it.
            let voucher =
                snapshot.map { [Event.snapshotTaken(seq: $0.seq, sha256: Payload.blobKey(Data($0.state)))] } ?? []
            let envelopes = try await store.append(
                buffer + voucher, to: run, expectedSeq: committed.lastSeq, snapshot: snapshot, fence: lease)
            if let snapshot { lastSnapshotSeq = snapshot.seq }
            for e in envelopes {
                try committed.apply(e)
                observer?(e)
            }
            recent.append(contentsOf: envelopes)
            // Trimmed close to the window: with many runs driven at once, these events are most of each run's memory.
            let w = window(committed)
            if recent.count > w + 8 { recent.removeFirst(recent.count - w) }
            // Not while the worktree is being made: a file in its folder would make `git worktree add` fail.
            if let files, provisioning == nil {
                var views = buffer.contains(where: \.changesProgress) ? WorkspaceViews.progress(committed) : []
                for case let .runReported(report) in buffer { views.append(WorkspaceViews.report(report.text)) }
                if !views.isEmpty { await files.write(views, workspace: committed.workspace) }
            }
            buffer = []
            scratch = committed
        }

        while true {
            // Hot reload: a changed policy applies from this step on, and the change is an event.
            if !scratch.isTerminal, let change = policyChanges?() {
                try scratch.applyUncommitted(change)
                buffer.append(change)
            }
            let decision = scratch.nextAction(tools: catalog)
            switch decision {
            case let .emit(events):
                for e in events { try scratch.applyUncommitted(e) }
                buffer += events

            case let .stop(reason):
                if let task = provisioning {
                    // Record a workspace that was made; a failure no longer matters to a run that stops.
                    provisioning = nil
                    if let events = try? await task.value {
                        var trial = scratch
                        if (try? events.forEach { try trial.applyUncommitted($0) }) != nil {
                            scratch = trial
                            buffer += events
                        }
                    }
                }
                try await commit(stopping: true)
                return reason

            case let .callModel(call, task, attempt, turn, role):
                // The judge reads the diff: the workspace must exist, and nothing runs in it meanwhile.
                if role == Role.judge { guard try await workspaceReady() else { continue } }
                try await commit()
                let diff = role == Role.judge ? await vcs?.diff(workspace: committed.workspace) : nil
                var request = ContextBuilder.request(
                    state: committed, recent: recent, call: call, task: task, attempt: attempt,
                    turn: turn, role: role, tools: offered, window: window(committed), diff: diff)
                // A new shift starts from scratch: it is told what the workspace already holds.
                if role == Role.worker, committed.settings.loop != nil, committed.shiftTurns == 0, provisioning == nil,
                    let summary = await vcs?.diffSummary(workspace: committed.workspace)
                {
                    request.artifacts = "Changes in the workspace since the last commit (git diff --stat):\n" + summary
                }
                // Retries are appended as they happen, so a long backoff is visible in the log.
                let recorder = RetryRecorder(store: store, state: committed, fence: lease, observer: observer)
                let events: [Event]
                do {
                    let response = try await model.respond(to: request) { retry in
                        await recorder.record(
                            .modelRetried(
                                call: call, attempt: retry.attempt, reason: retry.reason, delayMs: retry.delayMs))
                    }
                    if let why = response.usage.implausibility
                        ?? response.costPicoUSD.flatMap({
                            (0...Money.maxPicoPerCall).contains($0) ? nil : "a cost of \(Money.format($0))"
                        })
                    {
                        // Recorded as a failed call, not folded: a response the fold would refuse must
                        // not be what every resume stumbles on again.
                        let reason =
                            "the model's response reported impossible usage (\(why)); it was not recorded. Check the provider, then resume"
                        throw ModelError(reason, code: .badResponse, needsAttention: true)
                    }
                    events = [
                        .modelResponded(
                            call: call, text: Payload(response.text),
                            toolCalls: response.toolCalls.enumerated().map { n, t in
                                ToolCall(
                                    id: RunState.toolCallID(call, n + 1), name: t.name, arguments: Payload(t.arguments))
                            },
                            claimsDone: response.claimsDone, summary: response.summary, usage: response.usage,
                            model: response.model, costPicoUSD: response.costPicoUSD, handoff: response.handoff)
                    ]
                } catch is CancellationError {
                    throw CancellationError()
                } catch let error as ModelError {
                    let reason = error.needsAttention ? error.message : "the model call failed: \(error.message)"
                    events = [.modelFailed(call: call, reason: reason), .runPaused(reason: reason, kind: .model)]
                } catch {
                    let reason = "the model call failed: \(error)"
                    events = [.modelFailed(call: call, reason: reason), .runPaused(reason: reason, kind: .model)]
                }
                let (afterRetries, appended) = try await recorder.finish()
                if !appended.isEmpty {
                    committed = afterRetries
                    recent.append(contentsOf: appended)
                    scratch = committed
                }
                for e in events { try scratch.applyUncommitted(e) }
                buffer += events

            case let .runTool(call):
                guard try await workspaceReady() else { continue }
                try await commit()
                let workspace = committed.workspace, runner = tools
                let limit = tools.deadline(for: call)
                let ending: Event
                if limit == nil {
                    ending = .toolFinished(call: call.id, result: await runner.run(call, workspace: workspace))
                } else if let limit,
                    let result = await ToolDeadline.run(limit: limit, { await runner.run(call, workspace: workspace) })
                {
                    ending = .toolFinished(call: call.id, result: result)
                } else if tools.specs.first(where: { $0.name == call.name })?.idempotent == true {
                    ending = .toolFinished(
                        call: call.id,
                        result: .failure("\(call.name) did not finish within \(limit ?? .zero) and was abandoned"))
                } else {
                    // It may still have its effect: say so rather than claim it failed.
                    ending = .toolInDoubt(
                        call: call.id,
                        reason:
                            "\(call.name) did not finish within \(limit ?? .zero); the harness stopped waiting, so its outcome is unknown"
                    )
                }
                for e in await tools.takeEvents() + [ending] {
                    try scratch.applyUncommitted(e)
                    buffer.append(e)
                }

            case let .commitWork(task, message):
                guard try await workspaceReady() else { continue }
                try await commit()
                // Committing twice is harmless: after a crash the second try finds nothing to commit.
                let result: (commit: String?, detail: String) =
                    await vcs?.commit(workspace: committed.workspace, message: message)
                    ?? (commit: nil, detail: "this process has no version control configured")
                let event = Event.workCommitted(task: task, commit: result.commit, detail: result.detail)
                try scratch.applyUncommitted(event)
                buffer.append(event)

            case let .hashProtected(globs, verify):
                guard try await workspaceReady() else { continue }
                try await commit()
                guard let files else {
                    let paused = Event.runPaused(
                        reason:
                            "this process cannot read the workspace's protected files (no workspace files port); resume with nightshift",
                        kind: .workspace)
                    try scratch.applyUncommitted(paused)
                    buffer.append(paused)
                    continue
                }
                let now = await files.hashes(workspace: committed.workspace, globs: globs)
                let event: Event
                if let verify {
                    let base = committed.protectedBaseline ?? [:]
                    event = .protectedVerified(
                        task: verify.task, attempt: verify.attempt,
                        changed: base.keys.sorted().filter { now[$0] != base[$0] })
                } else {
                    event = .protectedHashed(hashes: now)
                }
                try scratch.applyUncommitted(event)
                buffer.append(event)

            case let .runInit(script):
                guard try await workspaceReady() else { continue }
                try await commit()
                let result = await checks.run(
                    Check(command: script, timeoutSeconds: 1800), workspace: committed.workspace)
                let event = Event.initRan(
                    exitCode: result.exitCode, passed: result.exitCode == 0, output: Payload(result.output),
                    durationMs: result.durationMs)
                try scratch.applyUncommitted(event)
                buffer.append(event)

            case let .runBaseline(list):
                guard try await workspaceReady() else { continue }
                try await commit()
                for check in list {
                    let result = await checks.run(check, workspace: committed.workspace)
                    let event = Event.baselineRan(
                        command: check.command, expectExit: check.expectExit, exitCode: result.exitCode,
                        passed: result.exitCode == check.expectExit, output: Payload(result.output),
                        durationMs: result.durationMs)
                    try scratch.applyUncommitted(event)
                    buffer.append(event)
                    // Each result is durable as it comes: a kill during a long list loses at most the check running.
                    try await commit()
                }

            case let .runChecks(task, attempt, from, list):
                guard try await workspaceReady() else { continue }
                try await commit()
                for index in from..<list.count {
                    let check = list[index]
                    let result = await checks.run(check, workspace: committed.workspace)
                    let event = Event.checkRan(
                        task: task.id, attempt: attempt, index: index, command: check.command,
                        expectExit: check.expectExit, exitCode: result.exitCode,
                        passed: result.exitCode == check.expectExit, output: Payload(result.output),
                        durationMs: result.durationMs)
                    try scratch.applyUncommitted(event)
                    buffer.append(event)
                    try await commit()
                }
            }
        }
    }

    /// The context the next model call of `run` would be handed, built exactly as `drive` builds it
    /// (from the folded state and a bounded window of recent events), without recording anything.
    /// Nil when the run's next step is not a model call. For inspection and `bench context`.
    public func nextContext(_ run: RunID) async throws -> ModelRequest? {
        var (state, recent) = try await wakeWithRecent(run)
        guard !state.isTerminal else { return nil }
        if state.status == .paused { try state.applyUncommitted(.runResumed(by: "inspection")) }
        let offered =
            tools.specs
            + [ToolSpec.note, ToolSpec.escalate].filter { core in !tools.specs.contains { $0.name == core.name } }
        let catalog = ToolCatalog(offered)
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
                max(head - Int64(window(state)), state.shiftStartSeq - 1, state.compactedThroughSeq, 0))
            let events = try await store.read(run, after: from, limit: .max)
            if RunState.vouches(for: snapshot, state: state, in: events) {
                var s = state
                for e in events where e.seq > snapshot.seq { try s.apply(e) }
                guard let i = s.current else { return (s, []) }
                let start = max(
                    s.tasks[i].startSeq - 1, s.lastSeq - Int64(window(s)), s.shiftStartSeq - 1, s.compactedThroughSeq, 0
                )
                return (s, events.filter { $0.seq > start })
            }
        }
        let state = try await wake(run)
        return (state, try await loadRecent(state))
    }

    private func loadRecent(_ state: RunState) async throws -> [EventEnvelope] {
        guard let i = state.current else { return [] }
        let from = max(
            state.tasks[i].startSeq - 1, state.lastSeq - Int64(window(state)), state.shiftStartSeq - 1,
            state.compactedThroughSeq, 0)
        return try await store.read(state.run, after: from, limit: window(state) + 1)
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
        guard failure == nil else { return }
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
            .planRevised,
            .handoffWritten, .judgeVerdict, .baselineRan:
            true
        default: false
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

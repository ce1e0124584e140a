import Foundation
import NightshiftCore

/// One drive of one run, from wake to stop: the state the loop carries between steps, and one
/// method per kind of step. `committed` is the fold of what the log holds; `scratch` is that plus
/// the events decided but not yet committed (`buffer`), which are committed together with the next
/// intent, so a step costs two commits. Nothing here decides anything: every rule is the core's
/// (`nextAction` and the fold); the driver records, performs the effect, and records the result.
struct RunDriver {
    let harness: Harness
    let catalog: ToolCatalog
    let lease: Lease?
    let policyChanges: (@Sendable () -> Event?)?

    /// The fold of the committed log, and the recent events the model's context draws on.
    var committed: RunState
    var recent: [EventEnvelope]
    /// `committed` plus the buffered events.
    var scratch: RunState
    var buffer: [Event] = []
    var lastSnapshotSeq: Int64
    /// The workspace being made while the first model call is in flight; nil once recorded (or
    /// when there was nothing to make). It never outlives the drive (``abandonProvisioning()``).
    var provisioning: Task<[Event], any Error>?

    var run: RunID { committed.run }

    init(
        harness: Harness, committed: RunState, recent: [EventEnvelope], catalog: ToolCatalog, lease: Lease?,
        policyChanges: (@Sendable () -> Event?)?, lastSnapshotSeq: Int64
    ) {
        self.harness = harness
        self.committed = committed
        self.recent = recent
        self.scratch = committed
        self.catalog = catalog
        self.lease = lease
        self.policyChanges = policyChanges
        self.lastSnapshotSeq = lastSnapshotSeq
    }

    // MARK: - The loop

    /// Decides and performs steps until the core says stop.
    mutating func loop() async throws -> StopReason {
        while true {
            // Hot reload: a changed policy applies from this step on, and the change is an event.
            if !scratch.isTerminal, let change = policyChanges?() { try record([change]) }
            switch scratch.nextAction(tools: catalog) {
            case let .emit(events):
                // The final report counts the run's time by the log's clock: what is buffered is
                // committed first (so its last step has a time), then the report is decided again.
                if !buffer.isEmpty, events.contains(where: { $0.eventKind == .runReported }) {
                    try await commit()
                    continue
                }
                try record(events)
            case let .stop(reason): return try await stop(reason)
            case let .callModel(call, task, attempt, turn, role):
                try await callModel(call, task: task, attempt: attempt, turn: turn, role: role)
            case let .runTool(call): try await runTool(call)
            case let .runToolThenHooks(call, hooks, paths): try await runTool(call, then: hooks, paths: paths)
            case let .runHooks(on, hooks): try await runHooks(on, hooks)
            case let .commitWork(task, message): try await commitWork(task, message: message)
            case let .hashProtected(globs, verify): try await hashProtected(globs, verify: verify)
            case let .runInit(script): try await runInit(script)
            case let .runBaseline(list): try await runBaseline(list)
            case let .runChecks(task, attempt, from, list):
                try await runChecks(task, attempt: attempt, from: from, list)
            case let .createChildren(children): try await createChildren(children)
            case let .pollChildren(call, children): try await pollChildren(call, children)
            case let .mergeWork(work): try await merge(work)
            case let .recallMemories(task, scopes, tokens):
                try await recallMemories(task, scopes: scopes, tokens: tokens)
            case let .writeMemory(write): try await writeMemory(write)
            }
        }
    }

    /// Buffers events the core decided (validated against `scratch` first).
    mutating func record(_ events: [Event]) throws {
        for e in events { try scratch.applyUncommitted(e) }
        buffer += events
    }

    // MARK: - Committing

    /// Commits the buffer. `stopping`: the last commit before the run waits; its snapshot is taken
    /// even if not due, so whoever wakes the run next (resume, inspection) reads only a few events.
    mutating func commit(stopping: Bool = false) async throws {
        guard !buffer.isEmpty else { return }
        // A drive stopped from outside (its process shuts down) records nothing more: what it
        // began stays in flight, in doubt at the next wake, exactly as after a crash. A result
        // got while stopping (a tool killed by the stop) is never taken for the tool's own.
        try Task.checkCancellation()
        let every = harness.configuration.snapshotEvery
        var snapshot: Snapshot?
        if committed.lastSeq - lastSnapshotSeq >= (stopping ? min(8, every) : every) {
            snapshot = Snapshot(seq: committed.lastSeq, state: Array(try JSONEncoder().encode(committed)))
        }
        // The snapshot's digest goes into the chain with it: a snapshot is used only when the log vouches for it.
        let voucher =
            snapshot.map { [Event.snapshotTaken(seq: $0.seq, sha256: Payload.blobKey(Data($0.state)))] } ?? []
        let envelopes = try await harness.store.append(
            buffer + voucher, to: run, expectedSeq: committed.lastSeq, snapshot: snapshot, fence: lease)
        if let snapshot { lastSnapshotSeq = snapshot.seq }
        for e in envelopes {
            try committed.apply(e)
            harness.observer?(e)
        }
        recent.append(contentsOf: envelopes)
        // Trimmed close to the window: with many runs driven at once, these events are most of each run's memory.
        let w = harness.window(committed)
        if recent.count > w + 8 { recent.removeFirst(recent.count - w) }
        // Not while the worktree is being made: a file in its folder would make `git worktree add` fail.
        if let files = harness.files, provisioning == nil {
            var views = buffer.contains(where: \.changesProgress) ? WorkspaceViews.progress(committed) : []
            for case let .runReported(report) in buffer { views.append(WorkspaceViews.report(report.text)) }
            if !views.isEmpty { await files.write(views, workspace: committed.workspace) }
        }
        buffer = []
        scratch = committed
    }

    /// Commits what is buffered, then hands back the committed state's workspace for an effect.
    /// False (with a pause buffered) when the workspace could not be made.
    mutating func beforeEffect() async throws -> Bool {
        guard try await workspaceReady() else { return false }
        try await commit()
        // Stopped while the intent was being committed: the effect is not started (it is in doubt).
        try Task.checkCancellation()
        return true
    }

    // MARK: - The workspace being made

    mutating func startProvisioning(_ provision: (@Sendable () async throws -> [Event])?) {
        provisioning = provision.map { p in Task { try await p() } }
    }

    /// Waits for the workspace; false when it could not be made (the run is then paused).
    mutating func workspaceReady() async throws -> Bool {
        guard let task = provisioning else { return true }
        provisioning = nil
        do {
            // Recorded before the intents waiting in the buffer, so the log reads in the order things happened.
            buffer = try await task.value + buffer
            scratch = committed
            for e in buffer { try scratch.applyUncommitted(e) }
            return true
        } catch {
            try record([.runPaused(reason: "the workspace could not be made: \(error)", kind: .workspace)])
            return false
        }
    }

    /// When the drive ends by an error: the workspace being made is cancelled and waited for, so
    /// nothing of this drive goes on after it returns.
    mutating func abandonProvisioning() async {
        guard let task = provisioning else { return }
        provisioning = nil
        task.cancel()
        _ = try? await task.value
    }

    // MARK: - Steps

    mutating func stop(_ reason: StopReason) async throws -> StopReason {
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
        // A sub-agent's end is durable now: its parent, woken in this process, need not read it back.
        if committed.isTerminal, committed.settings.parent != nil, let settled = harness.settled,
            let outcome = committed.childOutcome
        {
            settled.record(run, outcome)
        }
        return reason
    }

    mutating func callModel(_ call: CallID, task: PlanTask, attempt: Int, turn: Int, role: Role) async throws {
        // The judge reads the diff: the workspace must exist, and nothing runs in it meanwhile.
        if role == .judge { guard try await workspaceReady() else { return } }
        try await commit()
        let vcs = harness.vcs
        let diff = role == .judge ? await vcs?.diff(workspace: committed.workspace) : nil
        var request = ContextBuilder.request(
            state: committed, recent: recent, call: call, task: task, attempt: attempt,
            turn: turn, role: role, tools: harness.offered, window: harness.window(committed), diff: diff)
        // A new shift starts from scratch: it is told what the workspace already holds.
        if role == .worker, committed.settings.loop != nil, committed.shiftState.shiftTurns == 0, provisioning == nil,
            let summary = await vcs?.diffSummary(workspace: committed.workspace)
        {
            request.artifacts = "Changes in the workspace since the last commit (git diff --stat):\n" + summary
        }
        // Retries are appended as they happen, so a long backoff is visible in the log.
        let recorder = RetryRecorder(store: harness.store, state: committed, fence: lease, observer: harness.observer)
        let events: [Event]
        do {
            let response = try await harness.model.respond(to: request) { retry in
                await recorder.record(
                    .modelRetried(call: call, attempt: retry.attempt, reason: retry.reason, delayMs: retry.delayMs))
            }
            events = [try Self.responded(call, response)]
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
        try record(events)
    }

    /// The response as its event; a response the fold would refuse (impossible usage or cost) is
    /// a failed call instead, so it is not what every resume stumbles on again.
    static func responded(_ call: CallID, _ response: ModelResponse) throws -> Event {
        if let why = response.usage.implausibility
            ?? response.costPicoUSD.flatMap({
                (0...Money.maxPicoPerCall).contains($0) ? nil : "a cost of \(Money.format($0))"
            })
        {
            throw ModelError(
                "the model's response reported impossible usage (\(why)); it was not recorded. Check the provider, then resume",
                code: .badResponse, needsAttention: true)
        }
        return .modelResponded(
            call: call, text: Payload(response.text),
            toolCalls: response.toolCalls.enumerated().map { n, t in
                ToolCall(id: RunState.toolCallID(call, n + 1), name: t.name, arguments: Payload(t.arguments))
            },
            claimsDone: response.claimsDone, summary: response.summary, usage: response.usage,
            model: response.model, costPicoUSD: response.costPicoUSD, handoff: response.handoff)
    }

    /// Runs a tool, then (when it finished well) the `after_edit` hooks on the paths it wrote. A
    /// failing blocking hook becomes the call's result; the hooks' runs are recorded before it.
    mutating func runTool(_ call: ToolCall, then hooks: [Hook] = [], paths: [String] = []) async throws {
        guard try await beforeEffect() else { return }
        let workspace = committed.workspace, runner = harness.tools
        let limit = runner.deadline(for: call)
        let ending: Event
        if limit == nil {
            ending = .toolFinished(call: call.id, result: await runner.run(call, workspace: workspace))
        } else if let limit,
            let result = await ToolDeadline.run(limit: limit, { await runner.run(call, workspace: workspace) })
        {
            ending = .toolFinished(call: call.id, result: result)
        } else if catalog.idempotent[call.name] == true {
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
        var events = await runner.takeEvents()
        var final = ending
        if case let .toolFinished(id, result) = ending, result.ok, !hooks.isEmpty {
            for hook in hooks {
                let ran = await runHook(hook, arguments: paths)
                events.append(ran)
                if case let .hookRan(_, command, exitCode, false, true, output, _) = ran {
                    final = .toolFinished(
                        call: id,
                        result: .failure(
                            "\(call.name) wrote \(paths.joined(separator: ", ")), but the project's hook `\(command)` "
                                + "failed (exit \(exitCode)); fix what it reports:\n"
                                + String(output.text.suffix(Hook.outputShown))))
                    break
                }
            }
        }
        try record(events + [final])
    }

    /// Runs one hook in the sandbox (through the check runner) and returns its `hook_ran`.
    func runHook(_ hook: Hook, arguments: [String] = []) async -> Event {
        let result = await harness.checks.run(
            Check(command: hook.command, timeoutSeconds: hook.timeoutSeconds), arguments: arguments,
            workspace: committed.workspace)
        return .hookRan(
            on: hook.on, command: hook.command, exitCode: result.exitCode, passed: result.exitCode == 0,
            blocking: hook.blocking, output: Payload(result.output), durationMs: result.durationMs)
    }

    /// Runs the project's hooks for `on`, recorded together: a kill among them runs them all again
    /// (hooks only look at the workspace), never half of them.
    mutating func runHooks(_ on: Hook.When, _ hooks: [Hook]) async throws {
        guard try await beforeEffect() else { return }
        var ran: [Event] = []
        for hook in hooks { ran.append(await runHook(hook)) }
        try record(ran)
        try await commit()
    }

    mutating func commitWork(_ task: TaskID, message: String) async throws {
        guard try await beforeEffect() else { return }
        // Committing twice is harmless: after a crash the second try finds nothing to commit.
        let result: (commit: String?, detail: String) =
            await harness.vcs?.commit(workspace: committed.workspace, message: message)
            ?? (commit: nil, detail: "this process has no version control configured")
        try record([.workCommitted(task: task, commit: result.commit, detail: result.detail)])
    }

    mutating func hashProtected(_ globs: [String], verify: ProtectedCheck?) async throws {
        guard try await beforeEffect() else { return }
        guard let files = harness.files else {
            try record([
                .runPaused(
                    reason:
                        "this process cannot read the workspace's protected files (no workspace files port); resume with nightshift",
                    kind: .workspace)
            ])
            return
        }
        let now = await files.hashes(workspace: committed.workspace, globs: globs)
        if let verify {
            let base = committed.gate.protectedBaseline ?? [:]
            try record([
                .protectedVerified(
                    task: verify.task, attempt: verify.attempt,
                    changed: base.keys.sorted().filter { now[$0] != base[$0] })
            ])
        } else {
            try record([.protectedHashed(hashes: now)])
        }
    }

    mutating func runInit(_ script: String) async throws {
        guard try await beforeEffect() else { return }
        let result = await harness.checks.run(
            Check(command: script, timeoutSeconds: 1800), workspace: committed.workspace)
        try record([
            .initRan(
                exitCode: result.exitCode, passed: result.exitCode == 0, output: Payload(result.output),
                durationMs: result.durationMs)
        ])
    }

    mutating func runBaseline(_ list: [Check]) async throws {
        guard try await beforeEffect() else { return }
        for check in list {
            let result = await harness.checks.run(check, workspace: committed.workspace)
            try record([
                .baselineRan(
                    command: check.command, expectExit: check.expectExit, exitCode: result.exitCode,
                    passed: result.exitCode == check.expectExit, output: Payload(result.output),
                    durationMs: result.durationMs)
            ])
            // Each result is durable as it comes: a kill during a long list loses at most the check running.
            try await commit()
        }
    }

    mutating func runChecks(_ task: PlanTask, attempt: Int, from: Int, _ list: [Check]) async throws {
        guard try await beforeEffect() else { return }
        for index in from..<list.count {
            let check = list[index]
            let result = await harness.checks.run(check, workspace: committed.workspace)
            try record([
                .checkRan(
                    task: task.id, attempt: attempt, index: index, command: check.command,
                    expectExit: check.expectExit, exitCode: result.exitCode,
                    passed: result.exitCode == check.expectExit, output: Payload(result.output),
                    durationMs: result.durationMs)
            ])
            try await commit()
        }
    }
}

import Foundation
public import NightshiftCore
import NightshiftHands
import NightshiftHarness
import NightshiftModels
import NightshiftSQLite

/// What continuing a run needs: the run, and this process's models and sandbox (keys are read
/// again, never stored; the models default to the ones the run was started with).
public struct ResumeRequest: Sendable {
    public var run: RunID
    public var store = StoreConfig()
    /// This process's models: nil fields keep what the run recorded (its models, its prices).
    public var models = ModelConfig()
    /// What this process's command line adds to the sandbox the run recorded (a flag can only
    /// turn a setting on). A configuration file never changes a run that exists.
    public var sandbox = SandboxConfig()
    /// Where a changed policy or guidance file must be trusted before it applies; nil: no change applies.
    public var trust: (any TrustStore)?
    /// Who resumes, as recorded in `run_resumed` (e.g. "nightshift resume (pid 42)").
    public var by: String
    /// `.worker` when a worker resumes the run (recorded: the run then stays in the run queue
    /// while it runs, so another worker continues it if this one dies); nil for a person.
    public var driver: ResumeDriver?
    /// Continue a run whose log lost its last events, recording the loss (`rollback_accepted`).
    public var acceptRollback = false
    /// When the run waits for its sub-agents, drive them here, this many at once, until the run
    /// goes on and stops for another reason (0: leave them to other processes).
    public var fleetConcurrency = 4
    /// Who accepts a rollback (the OS user, established by the front end).
    public var decider = "unknown"
    /// Sub-agents' ends seen by this process's fleet driver, shared by the runs it drives.
    var settled: SettledRuns?

    public init(run: RunID, by: String) {
        self.run = run
        self.by = by
    }
}

/// Continuing a run from its log, for `resume`, the worker and any other front end: the same
/// models, the same workspace (reattached, or made if it never was), the same MCP servers,
/// sandbox, sealed files and policy watch as the process that started it.
public enum ResumeRun {
    /// - Throws: ``RuntimeError`` `busy` when another live process drives the run (nothing is done
    ///   then); `lost` when the log went back and `acceptRollback` is off.
    public static func resume(_ request: ResumeRequest, observer: RunObserver) async throws -> RunOutcome {
        try await resumeWithFleet(request, store: try Adapters.openExistingStore(request.store), observer: observer)
    }

    /// The drive of the run and, while it waits for its sub-agents, of its tree, on an open store.
    static func resumeWithFleet(
        _ request: ResumeRequest, store: any RunDatabase, observer: RunObserver
    ) async throws -> RunOutcome {
        let outcome = try await resume(request, store: store, observer: observer)
        guard request.fleetConcurrency > 0, !outcome.alreadyEnded else { return outcome }
        return try await DriveFleet.after(
            outcome, store: store, template: request, concurrency: request.fleetConcurrency, observer: observer)
    }

    /// One drive of one run on an open store (the fleet driver's step).
    static func resume(
        _ request: ResumeRequest, store: any RunDatabase, observer: RunObserver
    ) async throws -> RunOutcome {
        let runID = request.run
        guard try await store.summary(of: runID) != nil else {
            if let lost = try await Leasing.lostRun(runID, store: store) { throw RuntimeError(.lost, lost) }
            if let pruned = try await store.pruning(of: runID) {
                throw RuntimeError(
                    .notFound,
                    "run \(runID) was pruned from \(request.store.db) (\(AuditVerify.text(pruned))): "
                        + "nightshift import \(pruned.exportFile) brings it back")
            }
            throw RuntimeError(
                .notFound, "no run \(runID) in \(request.store.location) (nightshift status lists the runs)")
        }
        // The lease first: only then may calls left in flight be put in doubt, or a half-made worktree be remade.
        // A worker's drive cut short by its process stopping is handed over: the next worker goes on with it.
        return try await Leasing.withLease(runID, store: store, handOver: request.driver == .worker) { lease in
            // Never act on a log that went back: what its lost events did would be done again.
            if let rollback = try await Leasing.rollback(runID, store: store) {
                guard request.acceptRollback else {
                    throw RuntimeError(
                        .lost, rollback.message + "; or continue with nightshift resume \(runID) --accept-rollback")
                }
                guard let head = try await store.summary(of: runID)?.headSeq else {
                    throw RuntimeError(.lost, rollback.message)
                }
                // A log that forked (replaced by another copy, as long or longer) lost nothing after its
                // head: what it had is recorded as replaced (`lostThrough` = the head).
                let accepted = Event.rollbackAccepted(
                    lostFrom: head + 1, lostThrough: max(rollback.witnessed, head), by: request.decider)
                var check = try await store.state(of: runID)
                try check.applyUncommitted(accepted)
                try await store.append([accepted], to: runID, expectedSeq: head, snapshot: nil, fence: lease)
            }
            return try await holding(request, lease: lease, store: store, observer: observer)
        }
    }

    static func holding(
        _ request: ResumeRequest, lease: Lease, store: any RunDatabase, observer: RunObserver
    ) async throws -> RunOutcome {
        let runID = request.run
        let state = try await store.state(of: runID)
        // The log ends before the run index's head: events were removed (or a file restored). Say
        // that, rather than let the first append fail as if another writer had advanced the run.
        if let head = try await store.summary(of: runID)?.headSeq, head > state.lastSeq {
            throw RuntimeError(
                .lost,
                """
                run \(runID)'s log ends at event \(state.lastSeq) but its index says it has \(head): events after \(state.lastSeq) \
                are missing; nothing was done (nightshift audit verify \(runID) shows where)
                """)
        }
        if state.isTerminal {
            // Its end was read from a snapshot and the events after it: say so if the rest is damaged.
            let chain = try await store.verifyChain(runID)
            if let bad = chain.firstBadSeq {
                throw RuntimeError(
                    .lost,
                    "run \(runID) ended (\(state.status.rawValue)), but its log does not verify at event \(bad) "
                        + "(\(chain.problem ?? "broken chain")); nightshift audit verify \(runID) says more")
            }
            let reason: StopReason = state.status == .finished ? .finished : .failed(state.statusReason ?? "")
            return RunOutcome(run: runID, reason: reason, alreadyEnded: true)
        }
        // A sub-agent whose parent ended is not driven on: it is cancelled (finishing a subtree
        // cancellation a crash interrupted, or ending a child its coordinator left behind).
        if let parent = state.settings.parent, let parentState = try? await store.state(of: parent.run),
            parentState.isTerminal
        {
            let reason =
                RunState.cancelledPrefix + "nightshift: the run that spawned it, \(parent.run), "
                + "\(parentState.status.rawValue)"
            try await store.append(
                [.runFailed(reason: reason)], to: runID, expectedSeq: state.lastSeq, snapshot: nil, fence: lease)
            await CancelRun.cancelChildren(of: state, by: "nightshift", store: store, notice: observer.notice)
            return RunOutcome(run: runID, reason: .failed(reason), alreadyEnded: false)
        }
        // The workspace must still be there (a worktree is reattached, never recreated empty).
        // A worktree that was never recorded as made (the process died first) is made now, from the recorded repository.
        // A worktree this host does not have (another host, or another workspace home, made it) is
        // made again in this process's workspace home from the run's branch: the work committed so far.
        var provision: (@Sendable () async throws -> [Event])?
        var announce: [Event] = []
        var workspace = state.workspace
        let workspaces = Adapters.workspaces(home: request.store.worktreesRoot)
        if state.branch == nil, let repository = state.settings.worktreeOf {
            // Where it was planned when the run was recorded (its path is in the log).
            let recorded = Adapters.workspaces(
                home: URL(fileURLWithPath: state.workspace).deletingLastPathComponent().path)
            let make = Adapters.worktree(repository: repository, run: runID, in: recorded, remake: true)
            if (state.settings.toolServers ?? []).isEmpty {
                provision = make
            } else {
                announce += try await make()
            }
        } else if let branch = state.branch, let repository = state.settings.worktreeOf,
            !workspaces.isPresent(state.workspace)
        {
            // Its own home gone with it (an unmounted disk?): not made again under the mount point,
            // where it would be hidden once the disk is back.
            if workspaces.path(of: runID) == state.workspace, !workspaces.isPresent(workspaces.home) {
                throw RuntimeError(
                    .notFound,
                    "the run's worktree \(state.workspace) is missing, and so is its workspace home \(workspaces.home): "
                        + "is a disk not mounted? Mount or restore it and resume, or resume with --workspaces DIR to "
                        + "make the worktree again elsewhere from its branch")
            }
            let made = try await workspaces.materialise(
                repository: repository, branch: branch, run: runID, holding: state.tasks.compactMap(\.commit))
            workspace = made.path
            announce.append(
                .workspaceMoved(path: workspace, branch: branch, commit: made.commit, from: state.workspace))
            observer.notice(
                "the run's worktree \(state.workspace) is not on this host: made again"
                    + (workspace == state.workspace ? "" : " at \(workspace)")
                    + " from branch \(branch) (\(made.commit.prefix(10))); what it held uncommitted is not in it")
        } else {
            guard workspaces.isPresent(state.workspace) else {
                let hint =
                    state.branch.map { " Recreate it with: git worktree add \(state.workspace) \($0)" }
                    ?? " The run works in that folder itself (no worktree of its own), so it continues only where the folder is."
                throw RuntimeError(.notFound, "the run's workspace \(state.workspace) is missing.\(hint)")
            }
            if let branch = state.branch { _ = try await workspaces.reattach(path: state.workspace, branch: branch) }
        }
        let sealed =
            Adapters.sealed([state.gate.policySource, state.gate.guidanceSource], workspace: workspace)
            + Sealing.absolute(state.settings.sealed ?? [], workspace: workspace)
        let hidden = try Adapters.hiddenPaths(
            db: request.store.db, workspace: workspace, keyFile: request.models.keyFile,
            worktreesRoot: request.store.worktreesRoot)
        let gitTrust = Adapters.gitTrust(state)
        // The run's own prices and sandbox, as recorded when it started; the command line may add.
        var models = request.models
        if models.pricing == nil { models.pricing = state.settings.pricing }
        let sandbox = SandboxConfig.recorded(state.settings.sandbox, adding: request.sandbox)
        // The run's MCP servers, as recorded when it was created (variables are read from this environment).
        let wiring = try await Adapters.wire(
            store: store, models: models, recorded: state.model, sandbox: sandbox, sealed: sealed,
            hidden: hidden, policyNetwork: state.policy?.network, servers: state.settings.toolServers ?? [],
            workspace: workspace, git: gitTrust, allowedTools: state.settings.profile?.tools,
            children: try Adapters.children(
                store: store, registry: state.settings.pinnedProfiles ?? [], worktreesRoot: request.store.worktreesRoot,
                workers: state.settings.workers != nil,
                legacy: state.settings.agents != nil && state.settings.pinnedProfiles == nil
                    && state.settings.workers == nil),
            settled: request.settled, memories: store.memoryBank,
            memoryScopes: state.settings.memory?.scopes, embeddings: state.settings.memory?.embeddings,
            minSimilarity: state.settings.memory?.minSimilarity,
            observer: observer.event)
        let (harness, isolation) = (wiring.harness, wiring.isolation)
        if let first = try await store.read(runID, after: 0, limit: 1).first { observer.woke?(first.time) }
        let reason = try await Adapters.finally(
            {
                // The policy file the run was started with is watched again; a change made while no process ran applies now.
                // Not one inside the workspace: the agent could have made that change (the recorded version stays).
                // A sub-agent keeps the policy and guidance it was made with (its parent's files may lie
                // in its parent's workspace): a person's change reaches the sub-agents spawned after it.
                let watches = state.settings.parent == nil ? request.trust : nil
                var watcher: PolicyWatcher?
                if let source = state.gate.policySource, let hash = state.gate.policyHash {
                    if Adapters.isInside(source, workspace) {
                        observer.notice(Adapters.frozenNotice(source, kind: "policy"))
                    } else if let trust = watches {
                        watcher = PolicyWatcher(
                            path: source, recordedHash: hash, workspace: workspace, trust: trust,
                            notice: observer.notice)
                        if FileManager.default.fileExists(atPath: source) { watcher?.forceCheck() }
                    }
                }
                // A guidance file edited while the run waited is a new version, recorded before the
                // next step, once a person trusted it.
                if let source = state.gate.guidanceSource, Adapters.isInside(source, workspace) {
                    observer.notice(Adapters.frozenNotice(source, kind: "guidance"))
                } else if let source = state.gate.guidanceSource, let trust = watches,
                    let changed = try GuidanceFile.changed(
                        source, recordedHash: state.gate.guidanceHash, trust: trust, notice: observer.notice)
                {
                    announce.append(changed)
                }
                if !Isolation.processCapAvailable(isolation) { observer.notice(Adapters.noProcessCapNotice) }
                return try await harness.drive(
                    runID, resumedBy: request.by, driver: request.driver,
                    announce: announce + [.isolationSet(mode: isolation.label)] + wiring.started, provision: provision,
                    policyChanges: PolicyWatcher.hook(watcher), lease: lease)
            },
            cleanup: wiring.release)
        return RunOutcome(run: runID, reason: reason, alreadyEnded: false)
    }
}

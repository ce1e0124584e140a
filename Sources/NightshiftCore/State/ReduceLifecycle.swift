extension RunState {
    /// The run itself: created, paused, resumed, ended; its workspace, isolation and the audit-only events.
    mutating func reduceLifecycle(_ event: Event) throws(Invalid) {
        func fail(_ m: String) -> Invalid { Invalid(text: m) }
        switch event {
        case let .runCreated(title, workspace, model, settings):
            guard !created else { throw fail("the run was already created") }
            created = true
            self.title = title
            self.workspace = workspace
            self.model = model
            self.settings = settings

        case let .runPaused(reason, kind):
            guard status == .running else { throw fail("the run is not running") }
            status = .paused
            statusReason = reason
            pauseKind = kind ?? PauseKind(legacyReason: reason)

        case let .runResumed(_, by):
            status = .running
            statusReason = nil
            pauseKind = nil
            driver = by
            resumes += 1
            // A human looked: the init script, the planner and the judge get their tries again.
            planning.initFailure = nil
            planning.planRejections = 0
            if let i = current { tasks[i].judgeInvalid = 0 }
            for k in pending.pendingTools.indices where pending.pendingTools[k].started {
                pending.pendingTools[k].interrupted = true
            }

        case .runReported:
            guard current == nil else { throw fail("a report comes when no task is active") }

        case .runFinished:
            guard current == nil, tasks.allSatisfy({ $0.status == .done || $0.status == .blocked }) else {
                throw fail("tasks remain unfinished")
            }
            status = .finished

        case let .runFailed(reason):
            status = .failed
            statusReason = reason

        case let .isolationSet(mode):
            isolation = mode

        case let .rollbackAccepted(lostFrom, lostThrough, _):
            // For the audit: the run goes on from the log as it is.
            // lostThrough == lostFrom - 1: nothing missing, but the head was replaced (another copy of the log).
            guard lostFrom == lastSeq + 1, lostThrough >= lostFrom - 1 else {
                throw fail("events \(lostFrom)–\(lostThrough) are not what this log lost")
            }

        case let .snapshotTaken(seq, _):
            // Vouches for a snapshot of an earlier position; nothing to fold.
            guard (1...lastSeq).contains(seq) else {
                throw fail("a snapshot of event \(seq) cannot be vouched for at this point")
            }

        case .toolServerStarted:
            break  // audit only: the catalog comes from the running servers, not the fold

        case let .workspaceProvisioned(path, branch, _):
            guard path == workspace else { throw fail("the run's workspace is \(workspace), not \(path)") }
            self.branch = branch

        case let .workspaceMoved(path, branch, commit, from):
            // Only a worktree on its branch moves (a folder worked in place stays on its host), from
            // where the log says it is, on the same branch (to the same path: made again where it was).
            guard settings.worktreeOf != nil, let current = self.branch else {
                throw fail("only a run working in a worktree of its own can move; this one works in \(workspace)")
            }
            guard from == workspace, !path.isEmpty else {
                throw fail("the run's workspace is \(workspace): it cannot move from \(from) to \(path)")
            }
            guard branch == current, !commit.isEmpty else {
                throw fail("the run works on branch \(current), not \(branch)")
            }
            workspace = path

        case let .workCommitted(task, commit, _):
            guard pending.pendingCommit == task else { throw fail("task \(task) has no work waiting to be committed") }
            if let k = tasks.firstIndex(where: { $0.id == task }) { tasks[k].commit = commit }
            pending.pendingCommit = nil
            pending.pendingCommitMessage = nil
        default: throw fail("not a lifecycle event: \(event.kind)")
        }
    }
}

/// The runs a worker may have to continue, kept by the appends that make a run runnable, so a
/// worker finds its work with one indexed read instead of folding every run in the database.
///
/// An entry is a hint, never an order: whoever claims one checks the run's log before driving it
/// (``Readiness``) and settles the entry when the run turns out not to be ready yet. Each entry
/// carries a version that every wake increments; settling names the version it read, so a wake
/// that lands between the check and the settle is never lost.
public protocol RunQueue: Sendable {
    /// Entries due at `now` (their `notBefore` has come), ordered by `notBefore` then run, at
    /// most `limit`, starting after `after` (the last entry of the previous page): a reader pages
    /// through every due entry, so entries that stay due (running sub-agents, runs that could not
    /// be resumed) never hide the ones behind them.
    func due(now: Timestamp, after: QueuedRun?, limit: Int) async throws -> [QueuedRun]

    /// After a check found `entry`'s run not ready: parks the entry until `until` (a wait's
    /// deadline), or removes it when nil. Does nothing (and returns false) when the entry was woken
    /// again since it was read: the run is then checked again.
    @discardableResult
    func settle(_ entry: QueuedRun, until: Timestamp?) async throws -> Bool

    /// Every entry, due or not (for status and tests).
    func queued() async throws -> [QueuedRun]

    /// The earliest time any entry is due (a parked wait's deadline, or a past time when some
    /// entry is due now); nil when the queue is empty. A worker with nothing due sleeps until then.
    func nextDue() async throws -> Timestamp?

    /// Queues, to be checked once, every paused run and running sub-agent that is not queued, and
    /// records sub-agents' parents the store does not know: for appends made by a binary that
    /// predates the queue (it opens the same database and keeps no queue). A worker calls it when
    /// it starts. Returns how many runs it queued.
    @discardableResult
    func reconcile() async throws -> Int
}

extension RunQueue {
    /// The first page of due entries.
    public func due(now: Timestamp, limit: Int) async throws -> [QueuedRun] {
        try await due(now: now, after: nil, limit: limit)
    }
}

/// One run in the queue: why it was woken, from when it may be taken (a wake is due at once:
/// `notBefore` 0, so a clock stepped back never hides one; a parked wait carries its deadline),
/// and the version of that wake.
public struct QueuedRun: Sendable, Equatable, Codable {
    public var run: RunID
    public var reason: WakeReason
    public var notBefore: Timestamp
    public var version: Int64
    public init(run: RunID, reason: WakeReason, notBefore: Timestamp, version: Int64) {
        self.run = run
        self.reason = reason
        self.notBefore = notBefore
        self.version = version
    }
}

/// Why a run entered the queue. The raw values are stored.
public enum WakeReason: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// A person decided on a paused run (approved, denied, answered, raised a budget, reviewed a plan).
    case decision
    /// The run paused to wait for its sub-agents: checked at once, then at the wait's deadline.
    case wait
    /// One of the run's sub-agents finished or failed: its wait may end.
    case childEnded = "child_ended"
    /// A sub-agent is running: continued by a worker whenever no live process holds its lease.
    case subAgent = "sub_agent"
    /// A worker resumed the run and drives it: continued by another worker if that one dies.
    case workerDriven = "worker_driven"
    /// Queued when the database was upgraded to keep a queue, to be checked once.
    case upgraded

    public var description: String {
        switch self {
        case .decision: "after a person's decision"
        case .wait: "its wait for sub-agents may end"
        case .childEnded: "a sub-agent of it ended"
        case .subAgent: "a sub-agent no process may drive"
        case .workerDriven: "a run a worker drove, whose process may be gone"
        case .upgraded: "found when the database was upgraded"
        }
    }
}

/// What one append does to the queue: the pure rule both stores apply inside the append's
/// transaction, so the queue can never disagree with the log it was derived from.
public enum QueueChange: Sendable, Equatable {
    /// Enter the queue (or, when already in it, become due now, with this reason).
    case wake(RunID, WakeReason)
    /// Leave the queue: the run is driven by a process, waits for a person, or has ended.
    case remove(RunID)

    /// The changes an append of `events` to `run` makes.
    /// - Parameters:
    ///   - status: the run's status after the append (the index's, which the events may have moved).
    ///   - parent: the run that spawned `run`, for a sub-agent.
    public static func after(
        appending events: [Event], to run: RunID, status: RunStatus, parent: RunID?
    ) -> [QueueChange] {
        var ends = false
        var pause: PauseKind?? = .none  // .some(kind) when the events hold a pause
        var human = false
        var starts = false
        var byWorker = false
        for event in events {
            switch event {
            case .runFinished, .runFailed: ends = true
            case .runPaused(_, let kind): pause = .some(kind)
            case .runCreated: starts = true
            case .runResumed(_, let driver):
                starts = true
                byWorker = driver == .worker
            default: break
            }
            if event.actor == .human { human = true }
        }
        switch status {
        case .finished, .failed:
            var out: [QueueChange] = [.remove(run)]
            if ends, let parent { out.append(.wake(parent, .childEnded)) }
            return out
        case .paused:
            if human { return [.wake(run, .decision)] }
            if case .some(let kind) = pause { return kind == .agents ? [.wake(run, .wait)] : [.remove(run)] }
            return []
        case .running:
            // A root run a person started or resumed is continued by a person (`resume`): their
            // Ctrl-C stops it. A sub-agent, and a root a worker resumed, by any worker once the
            // lease of the process driving it is free.
            guard starts else { return [] }
            if parent != nil { return [.wake(run, .subAgent)] }
            return byWorker ? [.wake(run, .workerDriven)] : [.remove(run)]
        }
    }
}

extension QueueChange {
    /// Where the run queue stands for `run` once all of `events` (its whole log) are in: each event
    /// applied as if appended alone, in order, keeping the changes to `run` itself. A log written
    /// whole (an imported run) is queued as its appends left it, so a worker finds what it would
    /// have found there. Nil: not queued.
    public static func standing(after events: [Event], of run: RunID, parent: RunID?) -> WakeReason? {
        var status = RunStatus.running
        var wake: WakeReason?
        for event in events {
            if let s = event.statusAfter { status = s }
            for change in after(appending: [event], to: run, status: status, parent: parent) {
                switch change {
                case .wake(let id, let reason) where id == run: wake = reason
                case .remove(let id) where id == run: wake = nil
                default: break
                }
            }
        }
        return wake
    }
}

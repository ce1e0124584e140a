import Logging
import NightshiftCore
import Synchronization

/// The drives a ``Runtime`` has under way, each a child task of the pool's `run()`, so none
/// outlives the service. A run is driven by at most one drive of the pool at a time (the lease
/// keeps other processes out; this keeps one process from driving a run twice, which its own
/// lease would allow). When the pool stops it takes no new drive and cancels the ones under way:
/// each records nothing more (what its last step began is in doubt at the next wake, as after a
/// crash), gives its lease back, and its outcome is a ``RuntimeError`` with code `stopped`.
final class RunPool: Sendable {
    struct Job: Sendable {
        let run: RunID
        let work: @Sendable () async throws -> RunOutcome
        /// Told when the job is dropped unstarted (the pool was cancelled with it still queued).
        let dropped: @Sendable (RuntimeError) -> Void
    }

    private struct State {
        var driving: Set<RunID> = []
        /// Submitted and not started yet, with whom to tell when dropped.
        var queued: [RunID: @Sendable (RuntimeError) -> Void] = [:]
        /// Outcomes not yet asked for, the most recent `kept` of them.
        var finished: [RunID: Result<RunOutcome, any Error>] = [:]
        var order: [RunID] = []
        var waiters: [RunID: [CheckedContinuation<RunOutcome, any Error>]] = [:]
    }

    /// How many outcomes are kept for `outcome(of:)` after their drive ended (the log keeps them all).
    static let kept = 256

    private let state = Mutex(State())
    private let jobs: AsyncStream<Job>
    private let intake: AsyncStream<Job>.Continuation
    let stopping = Latch()
    let logger: Logger

    init(logger: Logger) {
        self.logger = logger
        (jobs, intake) = AsyncStream.makeStream(of: Job.self)
    }

    /// Runs the drives it is given until stopped (or cancelled), then waits for them to end.
    func run() async {
        await withDiscardingTaskGroup { group in
            for await job in jobs {
                group.addTask { await self.perform(job) }
            }
            // Stopped (or cancelled): the drives under way are cancelled and waited for.
            stop()
            group.cancelAll()
        }
        // Cancelled rather than stopped, the stream may have held jobs it never handed out: they
        // end as stopped, so nobody waits for them.
        let dropped = state.withLock { s in
            let queued = s.queued
            s.queued = [:]
            return queued.map { run, tell in
                let error = Self.stopped(run, before: true)
                s.driving.remove(run)
                s.finished[run] = .failure(error)
                s.order.append(run)
                return (tell, error, s.waiters.removeValue(forKey: run) ?? [])
            }
        }
        for (tell, error, waiters) in dropped {
            tell(error)
            for w in waiters { w.resume(throwing: error) }
        }
    }

    /// No new drive; the ones under way are cancelled. Returns at once.
    func stop() {
        stopping.set()
        intake.finish()
    }

    /// Starts driving `run` with `work`.
    /// - Throws: ``RuntimeError`` `busy` when this pool drives it already, `stopped` when the pool stopped.
    func submit(
        _ run: RunID, dropped: @escaping @Sendable (RuntimeError) -> Void = { _ in },
        _ work: @escaping @Sendable () async throws -> RunOutcome
    ) throws {
        try state.withLock { s in
            guard !stopping.isSet else { throw Self.stopped(run, before: true) }
            guard !s.driving.contains(run) else {
                throw RuntimeError(.busy, "run \(run) is already being driven by this process")
            }
            s.driving.insert(run)
            s.queued[run] = dropped
            s.finished[run] = nil
        }
        if case .terminated = intake.yield(Job(run: run, work: work, dropped: dropped)) {
            state.withLock { s in
                s.driving.remove(run)
                s.queued[run] = nil
            }
            throw Self.stopped(run, before: true)
        }
    }

    /// How the drive of `run` ended, waiting for it if it goes on (not cancellable: every drive
    /// ends, at the latest when the pool stops).
    /// - Throws: what the drive threw; `notFound` when this pool has not driven `run` (or forgot it).
    func outcome(of run: RunID) async throws -> RunOutcome {
        try await withCheckedThrowingContinuation { c in
            let ready = state.withLock { s -> Result<RunOutcome, any Error>? in
                if let r = s.finished[run] { return r }
                guard s.driving.contains(run) else {
                    return .failure(RuntimeError(.notFound, "this process is not driving run \(run)"))
                }
                s.waiters[run, default: []].append(c)
                return nil
            }
            if let ready { c.resume(with: ready) }
        }
    }

    /// Whether a drive of `run` is under way here.
    func isDriving(_ run: RunID) -> Bool { state.withLock { $0.driving.contains(run) } }

    private func perform(_ job: Job) async {
        let tag: Logger.Metadata = ["run": "\(job.run)"]
        state.withLock { _ = $0.queued.removeValue(forKey: job.run) }
        logger.debug("drive started", metadata: tag)
        let result: Result<RunOutcome, any Error>
        do {
            result = .success(try await job.work())
            logger.debug("drive ended", metadata: tag)
        } catch {
            // Whatever a cancelled drive threw (a store refuses work in a cancelled task), it was stopped.
            let stopped = Task.isCancelled
            result = .failure(stopped ? Self.stopped(job.run, before: false) : error)
            if stopped {
                logger.notice("drive stopped with the process; the run's lease was given back", metadata: tag)
            } else {
                logger.debug("drive ended with an error: \(error)", metadata: tag)
            }
        }
        let waiters = state.withLock { s in
            s.driving.remove(job.run)
            s.finished[job.run] = result
            s.order.removeAll { $0 == job.run }
            s.order.append(job.run)
            if s.order.count > Self.kept { s.finished[s.order.removeFirst()] = nil }
            return s.waiters.removeValue(forKey: job.run) ?? []
        }
        for w in waiters { w.resume(with: result) }
    }

    static func stopped(_ run: RunID, before: Bool) -> RuntimeError {
        RuntimeError(
            .stopped,
            before
                ? "run \(run) was not driven: this process is stopping"
                : "run \(run) was stopped because this process is stopping; what its last step began is in doubt "
                    + "and is settled when the run is continued")
    }
}

import Foundation
public import Logging
public import NightshiftCore
import NightshiftHarness

/// The worker's loop: continues the runs the queue names (see ``ReadyRuns``) until cancelled,
/// so nobody has to type `resume` after a decision, and fleets go on without their first process.
///
/// A front end gives it how to build each run's resume request (its settings are read again for
/// every run: a key file may change) and a logger for what it does; the loop owns the rules: a run
/// another live process holds is left to it and tried again once its lease is free or its log
/// moves, and a run that could not be resumed is not tried again until its log moves.
public struct WorkerLoop: Sendable {
    public var store: any EventStore & RunQueue & LogSignal
    /// The shortest time between looks at the queue: a database busy with other runs signals at
    /// every append, and a run held by another process is looked at this often (a lease runs out
    /// without an append).
    public var poll: Duration
    /// The longest time between looks when nothing is signalled (a signal can be missed where
    /// the file system reports no changes).
    public var idleLook: Duration = .seconds(5)
    /// The longest time between looks while every process's appends are signalled here (the
    /// database's notifications, or the file system's): a safety net, not a poll, so idle
    /// workers on a shared database leave it alone between decisions.
    public var heardLook: Duration = .seconds(60)
    /// The resume request for a run (the loop sets nothing else in it).
    public var request: @Sendable (RunID) throws -> ResumeRequest
    /// Drives one run to its next stop.
    public var resume: @Sendable (ResumeRequest) async throws -> RunOutcome
    /// What the worker does: a record per run it resumes and per stop, with the run as metadata.
    public var logger: Logger
    /// Called after each look with how many runs it resumed (the worker dreams when it resumed none).
    public var afterLook: (@Sendable (_ resumed: Int) async -> Void)?
    /// The time a look reads the queue at.
    public var now: @Sendable () -> Timestamp

    public init(
        store: any EventStore & RunQueue & LogSignal, poll: Duration,
        request: @escaping @Sendable (RunID) throws -> ResumeRequest,
        resume: @escaping @Sendable (ResumeRequest) async throws -> RunOutcome,
        logger: Logger,
        afterLook: (@Sendable (_ resumed: Int) async -> Void)? = nil,
        now: @escaping @Sendable () -> Timestamp = WorkerLoop.systemNow
    ) {
        self.store = store
        self.poll = poll
        self.request = request
        self.resume = resume
        self.logger = logger
        self.afterLook = afterLook
        self.now = now
    }

    /// The store a worker on the database `config` names works through (which must exist).
    public static func store(_ config: StoreConfig) throws -> any EventStore & RunQueue & LogSignal {
        try Adapters.openExistingStore(config)
    }

    public static let systemNow: @Sendable () -> Timestamp = { Adapters.clock.now() }

    /// Looks until the task is cancelled, or once when `once`. Between looks it waits for an
    /// append to any run (a person's decision, a sub-agent's end), a parked wait's deadline, or
    /// `idleLook`, whichever comes first: an idle worker reads nothing. When it starts it queues
    /// what a binary that keeps no queue may have left unqueued (``RunQueue/reconcile()``).
    public func run(once: Bool) async throws {
        do {
            let queued = try await store.reconcile()
            if queued > 0 { logger.info("queued \(queued) run(s) to check (paused, or sub-agents left running)") }
        } catch {
            logger.error("could not check the run queue against the runs: \(error)")
        }
        if !(await store.hearsOtherProcesses()) {
            logger.warning(
                "appends by other processes are not signalled here (no file-change notifications): the worker looks every \(idleLook)"
            )
        }
        var state = LoopState()
        var first = true
        while !Task.isCancelled {
            let seen = await store.generation(of: nil)
            let started = ContinuousClock.now
            let resumed = await look(&state)
            await afterLook?(resumed)
            if once { return }
            if first {
                // Said once, so a person (or a test) knows the worker is past its first look.
                logger.info("queue read: \(resumed) run(s) resumed; waiting for appends")
                first = false
            }
            let least = state.pause(poll: poll, most: idleLook)
            var limit = state.soon ? least : (await store.hearsOtherProcesses() ? heardLook : idleLook)
            let now = now().milliseconds
            if let due = try? await store.nextDue()?.milliseconds, due > now {
                limit = min(limit, .milliseconds(due - now))
            }
            _ = await store.wait(for: nil, past: seen, timeout: limit)
            let since = ContinuousClock.now - started
            if since < least { try await Task.sleep(for: least - since) }
        }
    }

    /// What the loop remembers between looks.
    struct LoopState {
        /// Runs that could not be resumed, until their log moves.
        var failedAt: [RunID: Int64] = [:]
        /// Runs another process drove when last tried: tried again as soon as their lease is free
        /// (the holder died, or went silent past the lease's time-to-live), or their log moves.
        var busyAt: [RunID: Int64] = [:]
        /// Whether to look again after `poll` rather than `idleLook`: a due run is held by another
        /// process (its lease can run out without an append), or the queue could not be read.
        var soon = false
        /// Problems already said, so a run that stays broken is said once per problem.
        var said: [RunID: String] = [:]
        /// The queue's read failing (the database down or out of reach): what it said, and how
        /// many looks in a row failed. The looks back off, and the problem is said once.
        var queueTrouble: (error: String, tries: Int)?
        /// A drive in this look ended on the store's trouble: look again soon.
        var storeTrouble = false
        /// Runs whose drive the store's trouble ended: tried again after a pause that doubles at
        /// each failure (1 s up to a minute), so a full disk is not spun on and a restarted
        /// database is not waited for by hand.
        var retry: [RunID: (tries: Int, at: ContinuousClock.Instant)] = [:]

        /// The least time before the next look: `poll`, or, while the queue cannot be read, twice
        /// as long at each failure up to `most`, so a database that is down is not hammered.
        func pause(poll: Duration, most: Duration) -> Duration {
            guard let tries = queueTrouble?.tries else { return poll }
            return min(max(poll, .milliseconds(100) * (1 << min(tries, 10))), most)
        }
    }

    /// One look: every ready run, in the queue's order. Returns how many it resumed. A problem
    /// with the queue or one run is said and the loop goes on.
    func look(_ state: inout LoopState) async -> Int {
        let look: ReadyRuns.Look
        do {
            look = try await ReadyRuns.next(store: store, now: now())
        } catch {
            let text = "\(error)"
            if state.queueTrouble?.error != text {
                logger.error("could not read the run queue: \(text) (trying again, less often while it lasts)")
            }
            state.queueTrouble = (text, (state.queueTrouble?.tries ?? 0) + 1)
            state.soon = true
            return 0
        }
        if state.queueTrouble != nil {
            logger.notice("the run queue reads again")
            state.queueTrouble = nil
        }
        // What the loop remembers is only for runs still due: nothing grows with the runs it has seen.
        state.failedAt = state.failedAt.filter { look.due.contains($0.key) }
        state.busyAt = state.busyAt.filter { look.due.contains($0.key) }
        state.said = state.said.filter { look.due.contains($0.key) }
        for (run, error) in look.problems where state.said[run] != error {
            logger.error("run \(run) could not be checked: \(error)", metadata: ["run": "\(run)"])
            state.said[run] = error
        }
        var resumed = 0
        state.retry = state.retry.filter { look.due.contains($0.key) }
        for ready in look.ready where state.failedAt[ready.run] != ready.headSeq {
            if let retry = state.retry[ready.run], ContinuousClock.now < retry.at {
                state.storeTrouble = true
                continue
            }
            if state.busyAt[ready.run] == ready.headSeq,
                !((try? await Leasing.isFree(ready.run, store: store)) ?? false)
            {
                continue
            }
            resumed += 1
            let tag: Logger.Metadata = ["run": "\(ready.run)"]
            logger.info("resuming \(ready.run) \(ready.why)", metadata: tag)
            do {
                let outcome = try await resume(try request(ready.run))
                logger.info("run \(ready.run) \(outcome.reason.text)", metadata: tag)
                state.busyAt[ready.run] = nil
                state.retry[ready.run] = nil
            } catch let stopped as RuntimeError where stopped.code == .stopped {
                // This process stops: the run was handed over (the next worker goes on with it).
                logger.notice("run \(ready.run) handed over: \(stopped.message)", metadata: tag)
                return resumed
            } catch let busy as RuntimeError where busy.code == .busy {
                // Another live process drives it: not a failure, and not ours to take.
                if state.busyAt[ready.run] != ready.headSeq {
                    logger.notice("run \(ready.run) skipped: \(busy.message)", metadata: tag)
                }
                state.busyAt[ready.run] = ready.headSeq
            } catch let trouble as StoreError where trouble.isPassing {
                // The database's trouble, not the run's (a restart, a lost link): its drive handed the
                // lease over, and it is tried again at the next look, which backs off while it lasts.
                let tries = (state.retry[ready.run]?.tries ?? 0) + 1
                let pause = min(Duration.seconds(1) * (1 << min(tries - 1, 6)), .seconds(60))
                logger.warning(
                    "run \(ready.run) stopped on the store's trouble: \(trouble.message) (tried again in \(pause))",
                    metadata: tag)
                state.retry[ready.run] = (tries, ContinuousClock.now + pause)
                state.storeTrouble = true
            } catch {
                // One run's trouble (a missing key, a vanished workspace, an untrusted edit) must not stop the others.
                // Not tried again until its log moves: from where the failed attempt left it.
                logger.error("run \(ready.run) could not be resumed: \(error)", metadata: tag)
                state.failedAt[ready.run] = (try? await store.summary(of: ready.run)?.headSeq) ?? ready.headSeq
            }
        }
        state.soon = !look.held.isEmpty || !state.busyAt.isEmpty || !look.problems.isEmpty || state.storeTrouble
        state.storeTrouble = false
        return resumed
    }
}

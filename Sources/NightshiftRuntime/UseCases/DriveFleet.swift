import Foundation
public import NightshiftCore
import NightshiftHarness
import NightshiftSQLite

/// Drives a run's sub-agents in this process when the run parks waiting for them: up to
/// `concurrency` runs of the tree at once, first come first served, each under its own lease
/// on the one shared store (so their commits share the store's group commit). A parent is woken
/// only when its wait would end (enough children ended, or its deadline passed), and then
/// records the ends itself from its children's logs, so a crash anywhere loses nothing and
/// delivers nothing twice. Runs driven by another live process are left to it.
public enum DriveFleet {
    /// Continues after `outcome` (a drive of `outcome.run`): when that run waits for sub-agents,
    /// drives the tree until the run stops for another reason; otherwise returns the outcome.
    static func after(
        _ outcome: RunOutcome, store: any RunDatabase, template: ResumeRequest, concurrency: Int,
        observer: RunObserver
    ) async throws -> RunOutcome {
        let root = outcome.run
        let settled = SettledRuns()
        let reason = try await drive(
            after: outcome.reason, root: root, store: store, concurrency: concurrency, notice: observer.notice
        ) { run in
            var request = template
            request.run = run
            request.fleetConcurrency = 0
            request.settled = settled
            var seen = observer
            if run != root {
                // A sub-agent runs with the models it recorded (its profile's), never the command line's.
                request.models.model = nil
                request.models.roleModels = []
                request.by = template.by + " for the fleet of \(root)"
                // Only the root's wake sets where the timeline counts from.
                seen = RunObserver(event: observer.event, notice: observer.notice)
            }
            return try await ResumeRun.resume(request, store: store, observer: seen).reason
        }
        return RunOutcome(run: root, reason: reason, alreadyEnded: false)
    }

    /// The scheduler itself, with how one run is driven given (the application's resume, or a
    /// benchmark's harness): after `root` stopped with `first`, drives its tree while it waits for
    /// sub-agents, and returns how the root last stopped. A drive that throws `busy` is left to the
    /// process that holds the run; the root's other errors are rethrown, its children's reported.
    public static func drive(
        after first: StopReason, root: RunID, store: any EventStore, concurrency: Int,
        notice: @escaping @Sendable (String) -> Void, driveOne: @escaping @Sendable (RunID) async throws -> StopReason
    ) async throws -> StopReason {
        guard case .paused = first, let state = try? await store.state(of: root), state.pauseKind == .agents
        else { return first }
        let scheduler = FleetScheduler(store: store, root: root, rootReason: first, notice: notice, driveOne: driveOne)
        await scheduler.expand(state)
        // The drivers, and one child that sleeps on parked waits' deadlines; when the drivers have
        // nothing left, the deadlines' sleeps are cancelled (none outlives the fleet's drive).
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await scheduler.watchDeadlines()
                return false
            }
            let drivers = max(1, concurrency)
            for _ in 0..<drivers {
                group.addTask {
                    while let run = await scheduler.take() { await scheduler.drive(run) }
                    return true
                }
            }
            var left = drivers
            while left > 0, let isDriver = await group.next() {
                if isDriver { left -= 1 }
            }
            group.cancelAll()
        }
        if let error = await scheduler.rootError { throw error }
        return await scheduler.rootReason
    }
}

/// The fleet driver's shared state: what waits to be driven, what is being driven, and the
/// parents to wake. Everything it decides from is read back from the logs.
actor FleetScheduler {
    let store: any EventStore
    let root: RunID
    let notice: @Sendable (String) -> Void
    let driveOne: @Sendable (RunID) async throws -> StopReason
    /// For waits' deadlines.
    let clock: any WallClock = Adapters.clock
    private(set) var rootReason: StopReason
    private(set) var rootError: (any Error)?

    private var queue: [RunID] = []
    private var queued: Set<RunID> = []
    private var running: Set<RunID> = []
    /// Runs to drive again when their current drive ends (a child ended meanwhile).
    private var again: Set<RunID> = []
    /// Runs known to have ended (so a parent's wake needs no look at each child's log).
    private var ended: Set<RunID> = []
    /// Parked parents as last read (their waits), so a child's end is checked against its parent
    /// without reading the parent's log again; forgotten when the parent is driven.
    private var parked: [RunID: RunState] = [:]
    /// Each sub-agent's parent, and the runs that ever waited for sub-agents of their own.
    private var parentOf: [RunID: RunID] = [:]
    private var everParked: Set<RunID> = []
    private var waiters: [CheckedContinuation<RunID?, Never>] = []
    /// Parked waits' deadlines (the run, and milliseconds from now), each slept on by a child task
    /// of ``watchDeadlines()``: cancelled with the fleet's drive (a deadline hours away must not
    /// keep the scheduler, and everything it holds, alive after the fleet is left).
    private let deadlines: AsyncStream<(RunID, Int64)>
    private let deadlineInput: AsyncStream<(RunID, Int64)>.Continuation

    init(
        store: any EventStore, root: RunID, rootReason: StopReason, notice: @escaping @Sendable (String) -> Void,
        driveOne: @escaping @Sendable (RunID) async throws -> StopReason
    ) {
        self.store = store
        self.root = root
        self.rootReason = rootReason
        self.notice = notice
        self.driveOne = driveOne
        (deadlines, deadlineInput) = AsyncStream.makeStream()
    }

    /// Wakes each parked parent at its wait's deadline; returns when cancelled.
    nonisolated func watchDeadlines() async {
        await withDiscardingTaskGroup { group in
            for await (run, delay) in deadlines {
                group.addTask {
                    guard (try? await Task.sleep(for: .milliseconds(delay + 5))) != nil else { return }
                    await self.timerFired(run)
                }
            }
        }
    }

    /// The next run to drive; waits while others are driven; nil when nothing is left to do.
    func take() async -> RunID? {
        // The process stops: no new drive starts (the ones under way end at their next append).
        if Task.isCancelled { return nil }
        if !queue.isEmpty {
            let run = queue.removeFirst()
            queued.remove(run)
            running.insert(run)
            return run
        }
        if running.isEmpty { return nil }
        return await withCheckedContinuation { waiters.append($0) }
    }

    private func enqueue(_ run: RunID) {
        if running.contains(run) {
            again.insert(run)
            return
        }
        guard !queued.contains(run) else { return }
        if let w = waiters.first {
            waiters.removeFirst()
            running.insert(run)
            w.resume(returning: run)
            return
        }
        queue.append(run)
        queued.insert(run)
    }

    /// Wakes every waiting worker with nil once nothing is queued or driven. A wait's deadline
    /// alone does not keep the process: the parked run is woken at it by the next `resume` or
    /// `worker` (its log holds the deadline).
    private func settle() {
        guard queue.isEmpty, running.isEmpty else { return }
        let w = waiters
        waiters = []
        for c in w { c.resume(returning: nil) }
    }

    /// One drive of `run` (no fleet of its own: this scheduler drives the tree), then what follows from how it stopped.
    func drive(_ run: RunID) async {
        parked[run] = nil
        do {
            let reason = try await driveOne(run)
            if run == root { rootReason = reason }
        } catch let e as RuntimeError where e.code == .busy {
            notice("\(run) is driven by another process; left to it")
        } catch {
            if run == root { rootError = error }
            notice("\(run) stopped with an error: \(error)")
        }
        running.remove(run)
        // A sub-agent that ended and never spawned is settled from the run index alone: at the end of
        // a wide fleet, hundreds end at once, and reading each one's log here slowed the fan-in.
        if let parent = parentOf[run], !everParked.contains(run),
            let s = try? await store.summary(of: run), s.status == .finished || s.status == .failed
        {
            ended.insert(run)
            if let p = parked[parent] { wakeIfReady(p) }
        } else if let state = try? await store.state(of: run) {
            await follow(state)
        }
        if again.remove(run) != nil { enqueue(run) }
        settle()
    }

    /// What a run's stop leads to: its parent woken when it ended, its children driven when it parked on them.
    private func follow(_ state: RunState) async {
        if state.isTerminal {
            ended.insert(state.run)
            if let parent = state.settings.parent?.run, let p = parked[parent] { wakeIfReady(p) }
            // A coordinator that ended leaves nothing running under it.
            if state.fleet.children.contains(where: { $0.created && $0.outcome == nil }) {
                await CancelRun.cancelChildren(of: state, by: "nightshift", store: store, notice: notice)
            }
            return
        }
        if state.status == .paused, state.pauseKind == .agents { await expand(state) }
    }

    /// A run parked on its sub-agents: drive those that can go on, wake it if its wait would already end,
    /// and wake it at its deadline.
    func expand(_ state: RunState) async {
        parked[state.run] = state
        everParked.insert(state.run)
        for child in state.fleet.children { parentOf[child.id] = state.run }
        for child in state.fleet.children where child.created && child.outcome == nil {
            if running.contains(child.id) || queued.contains(child.id) || ended.contains(child.id) { continue }
            // The run index says most of it; a paused child's log says why it paused.
            guard let summary = try? await store.summary(of: child.id) else { continue }
            switch summary.status {
            case .finished, .failed:
                ended.insert(child.id)
            case .running:
                enqueue(child.id)  // made and never driven, or its process died
            case .paused:
                // A sub-coordinator: its own children first.
                if let s = try? await store.state(of: child.id), s.pauseKind == .agents { await expand(s) }
            }
            // Paused for a person (approval, escalation): it waits for them; the parent waits too.
        }
        wakeIfReady(state)
        if let deadline = state.fleet.wait?.deadline {
            deadlineInput.yield((state.run, max(0, deadline - clock.now().milliseconds)))
        }
    }

    private func timerFired(_ run: RunID) async {
        if let s = try? await store.state(of: run), s.status == .paused, s.pauseKind == .agents {
            enqueue(run)
        }
        settle()
    }

    private func wakeIfReady(_ parent: RunState) {
        guard parent.status == .paused, parent.pauseKind == .agents else { return }
        let now = clock.now().milliseconds
        if parent.waitWouldEnd(ended: ended, now: now) { enqueue(parent.run) }
    }
}

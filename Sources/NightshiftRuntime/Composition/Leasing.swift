import Foundation
public import NightshiftCore
public import NightshiftHands
import NightshiftHarness
import NightshiftSQLite
import Synchronization

/// One process drives a run at a time (its lease), and a log that went back is never acted on
/// without a person's say (the head witness). Every use case that appends to a run goes through here.
public enum Leasing {
    /// How long a run's lease outlives its holder's last heartbeat. A holder on this host is
    /// checked by its pid at once; the time-to-live is for holders that cannot be checked so.
    public static let leaseTTL: Duration = .seconds(30)

    /// Holds `run`'s lease while `body` runs: taken first (a live holder elsewhere makes this a
    /// ``RuntimeError`` with code `busy`), renewed every ten seconds, released at the end whatever happened.
    /// Every append `body` makes with the lease is fenced: once taken over, this process stops.
    /// - Parameter handOver: when the body ends because the task was cancelled (this process is
    ///   stopping), hand the lease over (``LeaseStore/handOverLease(_:)``) rather than release it,
    ///   so a worker continues the run. For drives a worker started.
    public static func withLease<T>(
        _ run: RunID, store: any LeaseStore, handOver: Bool = false, _ body: (Lease) async throws -> T
    ) async throws -> T {
        try await withLease(.run(run), store: store, handOver: handOver, body)
    }

    /// The same for any ``LeaseKey`` (the dream lease).
    public static func withLease<T>(
        _ key: LeaseKey, store: any LeaseStore, handOver: Bool = false, _ body: (Lease) async throws -> T
    ) async throws -> T {
        try await withLease(key, store: store, handOver: handOver, beat: leaseTTL / 3, body)
    }

    /// - Parameter beat: the time between heartbeats (a third of the time-to-live; tests shorten it).
    /// - Parameter ttl: the lease's time-to-live: renewals failing for longer than `ttl - beat`
    ///   stop the body, before another process may take the run over.
    static func withLease<T>(
        _ key: LeaseKey, store: any LeaseStore, handOver: Bool, beat: Duration, ttl: Duration = leaseTTL,
        _ body: (Lease) async throws -> T
    ) async throws -> T {
        let lease: Lease
        do {
            lease = try await store.acquireLease(
                key, holder: LocalProcess.holder, ttl: ttl, isAlive: LocalProcess.isAlive)
        } catch let error as StoreError where error.code == .leaseHeld {
            throw RuntimeError(.busy, error.message)
        }
        do {
            let result = try await withoutActuallyEscaping(body) { body in
                try await whileHeld(lease, store: store, beat: beat, giveUpAfter: ttl - beat, body)
            }
            await outsideCancellation { try? await store.releaseLease(lease) }
            return result
        } catch {
            let stopping = Task.isCancelled
            let lost = (error as? StoreError)?.code == .leaseLost
            let passing = (error as? StoreError)?.isPassing == true
            await outsideCancellation {
                // A holder cut off from the store hands over (a worker goes on once the store is
                // back), and so does a worker's drive that the store's trouble ended (a restart):
                // the run is no person's to resume. A take-over left nothing to give back, and the
                // call does nothing then; a store still out of reach refuses it, and the lease
                // runs out instead.
                if (stopping && handOver) || lost || (passing && handOver) {
                    try? await store.handOverLease(lease)
                } else {
                    try? await store.releaseLease(lease)
                }
            }
            throw error
        }
    }

    /// Runs `body` beside the lease's heartbeat, both child tasks of one group, so that the
    /// heartbeat can stop the body: when the lease was taken over, or when no renewal has
    /// succeeded for `giveUpAfter` (the store is out of reach, and soon another process may take
    /// the run). The body is cancelled then, which kills its tool commands' process groups and
    /// stops its model call: a holder that lost its run does nothing more in the world, not only
    /// nothing more in the log (its appends are fenced either way).
    ///
    /// Any other failure of one renewal (a busy database, a connection lost for a moment) is
    /// tried again at the next beat: one blip must not end the drive.
    private static func whileHeld<T>(
        _ lease: Lease, store: any LeaseStore, beat: Duration, giveUpAfter: Duration,
        _ body: @escaping (Lease) async throws -> T
    ) async throws -> T {
        // The group's tasks are awaited before this returns, so the body never outlives the call.
        nonisolated(unsafe) let body = body
        let result = Outcome<T>()
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await result.set(body(lease))
                return true
            }
            let clock = ContinuousClock()
            let renewed = Renewed(clock.now)
            // The heartbeat: a renewal each beat. One that hangs (a query on a dead link) is left
            // to end on its own after a while, so the beats go on; a take-over stops the drive.
            group.addTask {
                while true {
                    // Cancelled (the drive stops): not a reason to stop the body, which ends in its own way.
                    do { try await Task.sleep(for: beat) } catch { return false }
                    let sent = clock.now
                    // The renewal records its own outcome, even one that comes after the heartbeat
                    // stopped waiting for it (a loaded machine, a slow link): a take-over is never missed.
                    _ = await ToolDeadline.run(limit: max(beat, .seconds(1))) {
                        do {
                            try await store.renewLease(lease)
                            renewed.set(sent)
                        } catch let e as StoreError where e.code == .leaseLost {
                            renewed.lost(e)
                        } catch {
                            renewed.failed("\(error)")
                        }
                    }
                    if let e = renewed.takenOver {
                        throw StoreError(.leaseLost, "\(e.message); its commands were stopped", seq: e.seq)
                    }
                }
            }
            // The watchdog: when no renewal has succeeded for `giveUpAfter` (counted from when the
            // last good one was sent), the drive stops, whatever a renewal under way is doing.
            group.addTask {
                while true {
                    let due = renewed.at + giveUpAfter
                    do { try await clock.sleep(until: due) } catch { return false }
                    guard renewed.at + giveUpAfter <= clock.now else { continue }
                    // The store's trouble, not a take-over: a worker tries the run again once it answers.
                    throw StoreError(
                        .io,
                        """
                        the lease of \(lease.key) could not be renewed for \(giveUpAfter) (\(renewed.why ?? "no answer")): \
                        this process stopped driving it and stopped its commands, before another may take it over
                        """)
                }
            }
            // The body's end, or the heartbeat's reason to stop it (which throws here, and leaving
            // the group by a throw cancels the body and waits for it).
            while let bodyEnded = try await group.next(), !bodyEnded {}
            group.cancelAll()
        }
        return try result.get()
    }

    /// When the last good renewal was sent, and why the latest failed: shared by the heartbeat and
    /// the watchdog.
    private final class Renewed: Sendable {
        private let state: Mutex<(at: ContinuousClock.Instant, why: String?, lost: StoreError?)>
        init(_ at: ContinuousClock.Instant) { state = Mutex((at, nil, nil)) }
        var at: ContinuousClock.Instant { state.withLock { $0.at } }
        var why: String? { state.withLock { $0.why } }
        var takenOver: StoreError? { state.withLock { $0.lost } }
        func set(_ at: ContinuousClock.Instant) {
            state.withLock {
                $0.at = max($0.at, at)
                $0.why = nil
            }
        }
        func failed(_ why: String) { state.withLock { $0.why = why } }
        func lost(_ e: StoreError) { state.withLock { $0.lost = e } }
    }

    /// The body's result, carried out of its child task: written once by that task, read after
    /// the group saw the task end (which orders the two).
    private final class Outcome<T>: @unchecked Sendable {
        private var value: T?
        func set(_ v: T) { value = v }
        func get() throws -> T {
            guard let value else { throw CancellationError() }
            return value
        }
    }

    /// Runs cleanup that must happen even when the task was cancelled (a lease given back while
    /// the process stops: a store refuses work in a cancelled task). A task of its own, which does
    /// not inherit the cancellation, awaited at once: it never outlives the caller.
    public static func outsideCancellation<T: Sendable>(_ work: @escaping @Sendable () async -> T) async -> T {
        await Task { await work() }.value
    }

    /// Now, by the clock `store` measures its leases with (the database's, when hosts share one).
    static func now(_ store: any LeaseStore) async throws -> Timestamp {
        try await store.leaseClock() ?? Adapters.clock.now()
    }

    /// Whether another process may take `run` over now: its lease was released, its holder is
    /// gone (a local pid that no longer runs with its start time) or silent past the time-to-live.
    public static func isFree(_ run: RunID, store: any LeaseStore) async throws -> Bool {
        guard let record = try await store.leaseRecord(of: run) else { return true }
        return record.isFree(now: try await now(store), ttl: leaseTTL, isAlive: LocalProcess.isAlive)
    }

    /// When the run's log ends before the head witnessed outside the database: how far it had
    /// reached, and a one-line account of what was lost. Nil when the log is where it was.
    public static func rollback(
        _ run: RunID, store: any EventLog & LogAudit
    ) async throws -> (witnessed: Int64, message: String)? {
        guard let witness = try await store.witnessedHead(of: run), let summary = try await store.summary(of: run)
        else { return nil }
        if witness.seq > summary.headSeq {
            return (
                witness.seq,
                """
                run \(run)'s log ends at event \(summary.headSeq) but it had reached event \(witness.seq) (its head witness beside the \
                database): events \(summary.headSeq + 1)–\(witness.seq) were lost, likely with the database's -wal file, and what \
                they did may have happened; restore the lost file and try again
                """
            )
        }
        // The event at the witnessed position must be the one witnessed: a log rewritten from a
        // forged point (longer, shorter or as long) forks there. An event that cannot be read is the
        // chain's problem, which verification reports in its own words.
        if witness.seq > 0,
            let head = (try? await store.read(run, after: max(witness.seq - 1, 0), limit: 1))?.last,
            head.seq == witness.seq, head.hash.hex != witness.hash
        {
            return (
                witness.seq,
                "run \(run)'s event \(witness.seq) is not the one its head witness recorded: the log was replaced or rewritten"
            )
        }
        return nil
    }

    /// For a run the database does not have: what its witness says, when it has one.
    public static func lostRun(_ run: RunID, store: any LogAudit & LogRetention) async throws -> String? {
        guard let witness = try await store.witnessedHead(of: run) else { return nil }
        // Pruned on purpose (a prune stopped before it removed the witness): accounted for, not lost.
        if let pruned = try await store.pruning(of: run), pruned.headSeq >= witness.seq { return nil }
        return """
            the database has no run \(run), but its head witness says it had reached event \(witness.seq): its log was lost \
            (a deleted -wal file, or an older copy of the database); its effects may remain in its workspace
            """
    }
}

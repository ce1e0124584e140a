import Foundation
public import NightshiftCore

/// Which runs a worker should continue now, and why: a paused run a person has acted on, a run
/// waiting for sub-agents whose wait would end, and a sub-agent left running with no process
/// (made and never driven, or its process died).
///
/// Found from the run queue the appends keep (see ``RunQueue``), not by folding every run: a
/// worker over a thousand finished runs reads one empty index. Each queued run is checked against
/// its own log (``Readiness``) before it is named; one that is not ready is settled (parked until
/// its wait's deadline, or taken out until something wakes it again). Every due entry is read,
/// page by page, so entries that stay due never hide the ones behind them.
public enum ReadyRuns {
    public struct Ready: Sendable, Equatable {
        public var run: RunID
        public var why: String
        public var headSeq: Int64
    }

    /// What one look at the queue found.
    public struct Look: Sendable {
        public var ready: [Ready] = []
        /// Due runs another live process holds: looked at again soon (a lease can run out
        /// without an append to signal it).
        public var held: [RunID] = []
        /// Entries that could not be checked or settled, with why (tried again at the next look).
        public var problems: [(run: RunID, error: String)] = []
        /// Every run with a due entry.
        public var due: Set<RunID> = []
    }

    /// The queued runs due at `now`, each checked, read `page` entries at a time.
    public static func next(
        store: any EventStore & RunQueue, now: Timestamp, page: Int = 256
    ) async throws -> Look {
        var look = Look()
        var after: QueuedRun?
        while true {
            let entries = try await store.due(now: now, after: after, limit: page)
            for entry in entries {
                look.due.insert(entry.run)
                do {
                    try await check(entry, store: store, now: now, into: &look)
                } catch {
                    look.problems.append((entry.run, "\(error)"))
                }
            }
            guard entries.count == page, let last = entries.last else { return look }
            after = last
        }
    }

    private static func check(
        _ entry: QueuedRun, store: any EventStore & RunQueue, now: Timestamp, into look: inout Look
    ) async throws {
        guard let summary = try await store.summary(of: entry.run) else {
            try await store.settle(entry, until: nil)
            return
        }
        // A running sub-agent a live process drives: nothing to fold or try until its lease is free.
        if summary.status == .running, !(try await Leasing.isFree(summary.id, store: store)) {
            look.held.append(summary.id)
            return
        }
        let found: Readiness
        do {
            found = try await readiness(of: summary, store: store, now: now.milliseconds)
        } catch {
            // A log that cannot be read is named, not skipped: the resume reports what is wrong
            // (and the worker does not try it again until the log moves); the other runs go on.
            found = .ready(why: "(its log could not be checked: \(error))")
        }
        switch found {
        case .ready(let why):
            look.ready.append(Ready(run: summary.id, why: why, headSeq: summary.headSeq))
        case .notBefore(let deadline):
            try await store.settle(entry, until: Timestamp(milliseconds: deadline))
        case .idle:
            try await store.settle(entry, until: nil)
        }
    }

    /// One run's readiness from its log and, for a wait, its sub-agents' index entries.
    static func readiness(of summary: RunSummary, store: any EventStore, now: Int64) async throws -> Readiness {
        switch summary.status {
        case .finished, .failed:
            return .idle
        case .running, .paused:
            let last = try await store.read(summary.id, after: summary.headSeq - 1, limit: 1).first?.event
            // (A paused run's last event may be the snapshot voucher that follows the pause: the fold says why.)
            let state = try await store.state(of: summary.id)
            var ended = Set<RunID>()
            for id in state.fleet.wait?.agents ?? [] {
                if let s = try await store.summary(of: id), s.status == .finished || s.status == .failed {
                    ended.insert(id)
                }
            }
            // (The lease is free here: a running run a live process holds was skipped before.)
            // A lease handed over by a process that stopped is a drive to continue, like a holder that died.
            let stopped =
                summary.status == .running ? try await store.leaseRecord(of: summary.id)?.releasedByItsDrive : nil
            return Readiness.of(state, last: last, ended: ended, now: now, holderGone: stopped != true)
        }
    }
}

import Foundation
public import NightshiftCore
import NightshiftHands
import NightshiftSQLite

/// What `status` shows: the runs in a database, or one run as its log stands, checked. A front
/// end prints it; nothing here reads a terminal or writes to one.
public enum Inspect {
    /// Every run in the database, newest first.
    public static func runs(_ config: StoreConfig) async throws -> [RunSummary] {
        try await Adapters.openExistingStore(config).runs()
    }

    /// One run, folded, with what a person must know before acting on it.
    public struct RunView: Sendable {
        public var state: RunState
        /// The live process driving it, when one holds its lease.
        public var drivenBy: Lease?
        /// Why the stored snapshot was not used, when it was not.
        public var snapshotIgnored: String?
        /// The whole chain checked by its hashes (not only the tail after the snapshot).
        public var chain: VerifyReport
        /// When the log ends before the head witnessed beside the database: what was lost.
        public var rollback: String?
        /// The run's sub-agents, when it has any.
        public var fleet: FleetTree?

        /// A log that does not verify, or went back: not a status to report as healthy.
        public var damaged: Bool { !chain.ok || rollback != nil }
    }

    static func run(_ run: RunID, store: any EventStore) async throws -> RunView {
        let state = try await store.state(of: run)
        var drivenBy: Lease?
        if let record = try await store.leaseRecord(of: run), !record.released,
            !record.isFree(now: try await Leasing.now(store), ttl: Leasing.leaseTTL, isAlive: LocalProcess.isAlive)
        {
            drivenBy = record.lease
        }
        return RunView(
            state: state, drivenBy: drivenBy, snapshotIgnored: try await store.snapshotIgnored(run),
            chain: try await store.verifyChain(run), rollback: try await Leasing.rollback(run, store: store)?.message,
            fleet: state.fleet.children.isEmpty ? nil : try await FleetTree.load(run, store: store))
    }

    /// A run's events after `after` (live with `follow`), and the time of its first event (a
    /// timeline counts from it). - Throws: ``RuntimeError`` `.notFound` for an unknown run.
    static func events(
        of run: RunID, after: Int64, follow: Bool, throughPauses: Bool = false, store: any EventStore & LogSignal,
        db: String
    ) async throws -> (start: Timestamp?, events: RunEvents) {
        guard let summary = try await store.summary(of: run) else {
            throw RuntimeError(.notFound, "no run \(run) in this database (nightshift status lists the runs)")
        }
        let start = try await store.read(run, after: 0, limit: 1).first?.time
        // A position past the head (a reader that claims more than there is) reads from the head.
        let after = min(max(after, 0), summary.headSeq)
        return (start, RunEvents(of: run, after: after, follow: follow, throughPauses: throughPauses, store: store))
    }

    /// What a paused run waits for: why it paused and, for an approval, the call. Nil when it
    /// does not wait for a person.
    public static func waitsFor(_ run: RunID, _ config: StoreConfig) async throws -> (kind: PauseKind?, call: CallID?)?
    {
        try await Adapters.openExistingStore(config).state(of: run).waitsFor
    }

    /// The final report (REPORT.md's text, as recorded in `run_reported`) of a run that finished.
    public static func finalReport(of run: RunID, _ config: StoreConfig) async throws -> String? {
        let store = try Adapters.openExistingStore(config)
        guard let head = try await store.summary(of: run)?.headSeq else { return nil }
        let tail = try await store.read(run, after: max(head - 4, 0), limit: 4)
        for case let .runReported(report) in tail.map(\.event).reversed() { return report.text }
        return nil
    }

    /// Which runs were started from which agent profile, and its version: for `agents`.
    public static func profileUse(_ config: StoreConfig) async throws -> [String: [(run: RunID, version: String)]] {
        guard FileManager.default.fileExists(atPath: config.db) else { return [:] }
        return try await profileUse(try Adapters.openExistingStore(config))
    }

    /// Which runs were started from which profile version, by profile name (from the logs).
    static func profileUse(_ store: any EventStore) async throws -> [String: [(run: RunID, version: String)]] {
        var used: [String: [(run: RunID, version: String)]] = [:]
        for summary in try await store.runs() {
            guard let profile = try await store.state(of: summary.id).settings.profile else { continue }
            used[profile.name, default: []].append((summary.id, profile.version))
        }
        return used
    }
}

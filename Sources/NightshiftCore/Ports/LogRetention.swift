/// Removing ended runs from a store once they are kept elsewhere (a signed export), with a record
/// of each removal kept in the store itself: the retention log says what went, when, by whom, and
/// which file holds it, so a run that is gone is accounted for rather than lost.
public protocol LogRetention: Sendable {
    /// Deletes the runs `pruned` names (their events, the blobs no other run refers to, snapshot,
    /// lease, queue entry and index entry) and appends each record to the retention log, in one
    /// transaction: after a crash every run is either whole or pruned and logged. Refused, with
    /// nothing deleted, unless every run is here with the head its record names and has ended
    /// (finished or failed), and no run that has not ended needs one of them (a parent outside the
    /// set, or a sub-agent left out of it).
    /// - Throws: ``StoreError`` `.runNotFound`, `.sequenceConflict` (a run moved since its
    ///   export), `.stillNeeded`.
    func prune(_ pruned: [PrunedRun]) async throws

    /// The retention log, oldest first.
    func prunings() async throws -> [PrunedRun]

    /// The newest record of `run`'s pruning, or nil when it was never pruned.
    func pruning(of run: RunID) async throws -> PrunedRun?
}

/// One run removed from a store, as the retention log keeps it.
public struct PrunedRun: Sendable, Equatable, Codable {
    public var run: RunID
    /// The run whose export holds it (itself, or the root of its tree).
    public var root: RunID
    /// The log's head when it was removed: its last seq and that event's hash (hex).
    public var headSeq: Int64
    public var headHash: String
    /// The export's file name (as given: a path) and the SHA-256 of its bytes (hex).
    public var exportFile: String
    public var exportSHA256: String
    public var time: Timestamp
    /// Who pruned it (the OS user).
    public var by: String

    public init(
        run: RunID, root: RunID, headSeq: Int64, headHash: String, exportFile: String, exportSHA256: String,
        time: Timestamp, by: String
    ) {
        self.run = run
        self.root = root
        self.headSeq = headSeq
        self.headHash = headHash
        self.exportFile = exportFile
        self.exportSHA256 = exportSHA256
        self.time = time
        self.by = by
    }
}

extension PrunedRun {
    /// Why a store must not prune this run as it stands in its transaction (nil: it may): one
    /// rule for every store. - Parameters: the run's head and status as stored; `parentStatus`,
    /// the parent's status when the parent is not pruned with it; `leftOut`, its sub-agents that
    /// are not.
    public func refusal(
        headSeq: Int64, headHash: [UInt8], status: String, parent: String?, parentStatus: String?,
        leftOut: [String]
    ) -> StoreError? {
        guard headSeq == self.headSeq, headHash.hex == self.headHash else {
            return StoreError(
                .sequenceConflict,
                "run \(run) moved since it was exported (now at event \(headSeq)); nothing was pruned", seq: headSeq)
        }
        guard status == RunStatus.finished.rawValue || status == RunStatus.failed.rawValue else {
            return StoreError(.stillNeeded, "run \(run) is \(status), not ended; nothing was pruned")
        }
        if let parent, let s = parentStatus, s == RunStatus.running.rawValue || s == RunStatus.paused.rawValue {
            return StoreError(.stillNeeded, "run \(run)'s parent \(parent) is \(s); nothing was pruned")
        }
        if let kid = leftOut.first {
            return StoreError(
                .stillNeeded, "run \(run)'s sub-agent \(kid) is not among the runs pruned; nothing was pruned")
        }
        return nil
    }
}

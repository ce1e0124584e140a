/// The memory bank: long-term memories with provenance, changed only by appending to a
/// hash-chained memory log (in the same database as the runs), and searched by rank. Every
/// change is checked by ``MemoryRules`` inside the append, so two writers revising the same
/// memory cannot both win: the later one gets ``MemoryError/Code/conflict``.
public protocol MemoryStore: Sendable {
    /// Appends `change` at `time` (ms) and returns the memory as it now stands.
    /// - Throws: ``MemoryError`` when the rules refuse it (nothing is written), or the store's own error.
    func apply(_ change: MemoryChange, at time: Int64) async throws -> Memory
    /// Appends every change of `changes`, in order, as one commit: all of them, or (when the rules
    /// refuse one) none. An import of thousands of memories is one durable commit, not thousands.
    func apply(_ changes: [MemoryChange], at time: Int64) async throws -> [Memory]
    func memory(_ id: MemoryID) async throws -> Memory?
    /// Memories in `scopes` (nil: every scope), newest first; `includeGone`: expired (by a person or
    /// past their expiry time) and deleted too.
    func list(scopes: [MemoryScope]?, includeGone: Bool) async throws -> [Memory]
    /// The live memories in `scopes` that match `query`'s words, best first, at most `limit`.
    func search(_ query: String, scopes: [MemoryScope]?, limit: Int, now: Int64) async throws -> [Memory]
    /// Live memories in `scopes` (nil: all) with no vector from `model` for their current version, at most `limit`.
    func unembedded(model: String, scopes: [MemoryScope]?, limit: Int) async throws -> [Memory]
    /// Keeps each memory's vector from `model`, for the version it was made from (a vector of an
    /// older version than the memory's is dropped, not kept).
    func setVectors(_ vectors: [MemoryVector], model: String) async throws
    /// The live memories in `scopes` whose vectors from `model` are nearest `vector` (cosine, at
    /// least `atLeast`), best first: their ids (a fused ranking reads only the memories it keeps).
    func nearest(
        _ vector: [Float], model: String, scopes: [MemoryScope]?, limit: Int, atLeast: Float, now: Int64
    ) async throws
        -> [MemoryID]
    /// Every record about `id`, oldest first.
    func history(_ id: MemoryID) async throws -> [MemoryRecord]
    /// Walks the whole memory log: how many records, and the first that does not chain (nil: all do).
    func verifyLog() async throws -> (records: Int64, firstBad: Int64?)
}

/// Dreams and their proposals, records of the same memory log: what a dream started, what it
/// proposed, and each proposal's one decision. Apart from ``MemoryStore`` so that a run, which
/// reads and proposes memories, needs nothing of dreams.
public protocol DreamLog: Sendable {
    /// Appends a dream's start, before it asks its model (its time is the record's).
    func start(_ dream: DreamStart) async throws
    /// Appends that a started dream's model call failed (it proposed nothing).
    func fail(dream: String, reason: String, at time: Int64) async throws
    /// Dreams started and never recorded that no recorded dream names as interrupted yet, oldest first.
    func unfinishedDreams() async throws -> [DreamStart]
    /// Appends a dream (one record, with all its proposals); they wait from then on.
    func record(_ dream: Dream, at time: Int64) async throws
    /// Every dream, oldest first.
    func dreams() async throws -> [Dream]
    /// The dreams' proposals as they stand, oldest first.
    func proposals() async throws -> [ProposalState]
    /// Decides a dream proposal: each of `changes` (what accepting it does; none when declined)
    /// and the decision are appended at once, or nothing is. A proposal is decided once.
    /// - Throws: ``MemoryError`` when it was decided already or a change is refused.
    func decide(
        _ proposal: MemoryID, accepted: Bool, by: String, note: String, changes: [MemoryChange], at time: Int64
    ) async throws -> [Memory]
}

/// A memory bank with its dreams: what the memory and dream use cases and the stores' adapters offer.
public typealias MemoryBankStore = MemoryStore & DreamLog

/// A memory's vector, and the version of the memory it was made from.
public struct MemoryVector: Sendable, Equatable {
    public var id: MemoryID
    public var version: Int
    public var vector: [Float]
    public init(id: MemoryID, version: Int, vector: [Float]) {
        self.id = id
        self.version = version
        self.vector = vector
    }
}

import Foundation
public import NightshiftCore
import Synchronization

/// The memory bank with hybrid search: full-text (BM25) and vector (cosine) rankings fused by
/// reciprocal rank. Memories are embedded as searches need them (those without a vector of the
/// embedder's model, a batch at a time), so a bank written before embeddings were configured
/// catches up by itself. When the embedder fails, search goes on with full-text alone; the
/// first reason is kept (`degradation`) for the run to record once, and the endpoint is not
/// tried again for a minute. Every other call goes to the store as it is.
public final class HybridMemoryStore: MemoryStore, Sendable {
    public let base: any MemoryStore
    public let embedder: any Embedder
    /// Memories a search embeds before it ranks; a larger backlog is embedded over the next searches.
    public static let indexPerSearch = 256
    /// Candidates taken from each ranking before fusing: full-text hits are read whole, vector hits
    /// are ids until they are kept, so the vector ranking offers more for the same cost.
    public static let textCandidates = 10
    public static let vectorCandidates = 20
    /// The least cosine a vector hit needs, unless configured: below it, a memory is about
    /// something else and would only fill the shift's context. On the labelled set with
    /// all-MiniLM-L6-v2 it keeps 97.7 % of the relevant pairs and drops 88 % of all pairs. A model
    /// under which unrelated texts score higher needs a higher floor (`embeddings.min_similarity`).
    public static let defaultMinSimilarity: Float = 0.2
    /// The floor this store applies.
    public let minSimilarity: Float
    /// How long searches stay full-text only after the embedder failed.
    public static let pause: Duration = .seconds(60)

    private struct Health {
        var degradation: String?
        var retryAt: ContinuousClock.Instant?
    }
    private let health = Mutex(Health())

    public init(base: any MemoryStore, embedder: any Embedder, minSimilarity: Double? = nil) {
        self.base = base
        self.embedder = embedder
        self.minSimilarity = minSimilarity.map { Float($0) } ?? Self.defaultMinSimilarity
    }

    /// Why vector search failed, from the first failure on (nil: it never did in this process).
    public var degradation: String? { health.withLock { $0.degradation } }

    public func search(_ query: String, scopes: [MemoryScope]?, limit: Int, now: Int64) async throws -> [Memory] {
        guard limit > 0 else { return [] }
        // Both rankings at once: the full-text search does not wait for the query's vector.
        async let textHits = base.search(query, scopes: scopes, limit: max(limit, Self.textCandidates), now: now)
        let paused = health.withLock { h in h.retryAt.map { ContinuousClock.now < $0 } ?? false }
        let near = paused ? nil : try await vectorRanking(query, scopes: scopes, limit: limit, now: now)
        let text = try await textHits
        guard let near else { return Array(text.prefix(limit)) }
        var byID: [MemoryID: Memory] = [:]
        for m in text { byID[m.id] = m }
        var fused: [Memory] = []
        for id in RankFusion.fuse([text.map(\.id), near], limit: limit) {
            // Found by meaning alone: read now (the ranking needed only its id).
            if let m = byID[id] {
                fused.append(m)
            } else if let m = try await base.memory(id) {
                fused.append(m)
            }
        }
        return fused
    }

    /// The ids of the memories nearest the query's vector, after embedding what the scopes lack;
    /// nil when the embedder or the store failed (the reason kept, the endpoint rested).
    func vectorRanking(_ query: String, scopes: [MemoryScope]?, limit: Int, now: Int64) async throws -> [MemoryID]? {
        do {
            try await index(scopes)
            guard let vector = try await embedder.embed([query]).first else { return nil }
            return try await base.nearest(
                vector, model: embedder.model, scopes: scopes, limit: max(limit, Self.vectorCandidates),
                atLeast: minSimilarity, now: now)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            health.withLock { h in
                if h.degradation == nil { h.degradation = "\(error)" }
                h.retryAt = ContinuousClock.now + Self.pause
            }
            return nil
        }
    }

    /// Embeds up to ``indexPerSearch`` memories of `scopes` that have no vector yet.
    func index(_ scopes: [MemoryScope]?) async throws {
        let missing = try await base.unembedded(model: embedder.model, scopes: scopes, limit: Self.indexPerSearch)
        guard !missing.isEmpty else { return }
        let vectors = try await embedder.embed(missing.map(Self.document))
        try await base.setVectors(
            zip(missing, vectors).map { MemoryVector(id: $0.id, version: $0.version, vector: $1) },
            model: embedder.model)
    }

    /// What is embedded of a memory: its text and tags, as full-text search indexes them.
    static func document(_ m: Memory) -> String {
        m.tags.isEmpty ? m.text : m.text + " " + m.tags.joined(separator: " ")
    }

    // Everything else is the store's.
    public func apply(_ change: MemoryChange, at time: Int64) async throws -> Memory {
        try await base.apply(change, at: time)
    }
    public func apply(_ changes: [MemoryChange], at time: Int64) async throws -> [Memory] {
        try await base.apply(changes, at: time)
    }
    public func memory(_ id: MemoryID) async throws -> Memory? { try await base.memory(id) }
    public func list(scopes: [MemoryScope]?, includeGone: Bool) async throws -> [Memory] {
        try await base.list(scopes: scopes, includeGone: includeGone)
    }
    public func history(_ id: MemoryID) async throws -> [MemoryRecord] { try await base.history(id) }
    public func verifyLog() async throws -> (records: Int64, firstBad: Int64?) { try await base.verifyLog() }
    public func unembedded(model: String, scopes: [MemoryScope]?, limit: Int) async throws -> [Memory] {
        try await base.unembedded(model: model, scopes: scopes, limit: limit)
    }
    public func setVectors(_ vectors: [MemoryVector], model: String) async throws {
        try await base.setVectors(vectors, model: model)
    }
    public func nearest(
        _ vector: [Float], model: String, scopes: [MemoryScope]?, limit: Int, atLeast: Float, now: Int64
    )
        async throws -> [MemoryID]
    {
        try await base.nearest(vector, model: model, scopes: scopes, limit: limit, atLeast: atLeast, now: now)
    }
}

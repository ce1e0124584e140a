import Foundation
public import NightshiftCore
import Synchronization

/// The memory store's twin: the same log and rules, and the same kind of rank (BM25 over the
/// words of text and tags, without stemming). Its contract is the conformance suite's.
public final class InMemoryMemoryStore: MemoryStore, DreamLog, Sendable {
    private struct State {
        var records: [(record: MemoryRecord, body: Data)] = []
        var memories: [MemoryID: Memory] = [:]
        var dreams: [Dream] = []
        var starts: [DreamStart] = []
        var failed: Set<String> = []
        var proposals: [ProposalState] = []
        /// Vectors by model, for the version they were made from.
        var vectors: [String: [MemoryID: (version: Int, vector: [Float])]] = [:]

        /// Appends a record (the caller has checked it).
        mutating func append(_ change: MemoryChange, at time: Int64) throws -> String {
            let seq = Int64(records.count + 1)
            let body = try MemoryRules.body(seq: seq, time: time, change: change)
            let hash = MemoryRules.chain(previous: records.last?.record.hash ?? "", body: body)
            records.append((MemoryRecord(seq: seq, time: time, change: change, hash: hash), body))
            return hash
        }

        mutating func apply(_ change: MemoryChange, at time: Int64) throws -> Memory {
            guard change.changesMemory else {
                throw MemoryError(.invalid, "a \(change.kindName) record changes no memory")
            }
            let seq = Int64(records.count + 1)
            let hash = MemoryRules.chain(
                previous: records.last?.record.hash ?? "",
                body: try MemoryRules.body(seq: seq, time: time, change: change))
            let m = try MemoryRules.apply(change, to: memories[change.memory], at: time, hash: hash)
            _ = try append(change, at: time)
            memories[m.id] = m
            return m
        }
    }
    private let state = Mutex(State())

    public init() {}

    public func apply(_ change: MemoryChange, at time: Int64) async throws -> Memory {
        try state.withLock { s in try s.apply(change, at: time) }
    }

    public func apply(_ changes: [MemoryChange], at time: Int64) async throws -> [Memory] {
        try state.withLock { s in
            var next = s  // applied to a copy: a refusal leaves the bank as it was
            let out = try changes.map { try next.apply($0, at: time) }
            s = next
            return out
        }
    }

    public func record(_ dream: Dream, at time: Int64) async throws {
        try state.withLock { s in
            _ = try s.append(.dreamt(dream), at: time)
            s.dreams.append(dream)
            s.proposals += dream.proposals.map { ProposalState(dream: dream.id, proposal: $0, status: .waiting) }
        }
    }

    public func start(_ dream: DreamStart) async throws {
        try state.withLock { s in
            _ = try s.append(.dreamStarted(dream), at: dream.time)
            s.starts.append(dream)
        }
    }

    public func fail(dream: String, reason: String, at time: Int64) async throws {
        try state.withLock { s in
            _ = try s.append(.dreamFailed(id: dream, reason: reason), at: time)
            s.failed.insert(dream)
        }
    }

    public func unfinishedDreams() async throws -> [DreamStart] {
        state.withLock { s in DreamStart.unfinished(s.starts, failed: s.failed, recorded: s.dreams) }
    }

    public func dreams() async throws -> [Dream] { state.withLock { $0.dreams } }
    public func proposals() async throws -> [ProposalState] { state.withLock { $0.proposals } }

    public func decide(
        _ proposal: MemoryID, accepted: Bool, by: String, note: String, changes: [MemoryChange], at time: Int64
    ) async throws -> [Memory] {
        try state.withLock { s in
            // All or nothing, as the database's transaction: work on a copy, keep it if all went in.
            var t = s
            let i = t.proposals.firstIndex { $0.proposal.id == proposal }
            let decided = try MemoryRules.decide(
                i.map { t.proposals[$0] }, id: proposal, accepted: accepted, by: by, note: note)
            let memories = try changes.map { try t.apply($0, at: time) }
            _ = try t.append(
                .decided(proposal: proposal, dream: decided.dream, accepted: accepted, by: by, note: note), at: time)
            t.proposals[i!] = decided
            s = t
            return memories
        }
    }

    public func memory(_ id: MemoryID) async throws -> Memory? { state.withLock { $0.memories[id] } }

    public func list(scopes: [MemoryScope]?, includeGone: Bool) async throws -> [Memory] {
        state.withLock { s in
            s.memories.values.filter { m in
                (scopes.map { $0.contains(m.scope) } ?? true)
                    && (includeGone || m.isLive(at: Int64(Date().timeIntervalSince1970 * 1000)))
            }.sorted { ($0.updated, $0.id) > ($1.updated, $1.id) }
        }
    }

    public func search(_ query: String, scopes: [MemoryScope]?, limit: Int, now: Int64) async throws -> [Memory] {
        let words = Set(MemoryRules.words(query))
        guard !words.isEmpty else { return [] }
        return state.withLock { s in
            // BM25 over every live memory (k1 1.2, b 0.75), then filtered by scope, as FTS5 ranks.
            let docs = s.memories.values.filter { !$0.expired && !$0.deleted }.map {
                ($0, MemoryRules.words($0.text + " " + $0.tags.joined(separator: " ")))
            }
            let n = Double(max(docs.count, 1))
            let average = Double(docs.reduce(0) { $0 + $1.1.count }) / n
            var df: [String: Double] = [:]
            for (_, w) in docs { for word in Set(w) where words.contains(word) { df[word, default: 0] += 1 } }
            return docs.compactMap { (m, w) -> (Memory, Double)? in
                guard m.isLive(at: now), scopes.map({ $0.contains(m.scope) }) ?? true else { return nil }
                var score = 0.0
                for word in words {
                    let tf = Double(w.filter { $0 == word }.count)
                    guard tf > 0, let d = df[word] else { continue }
                    let idf = log((n - d + 0.5) / (d + 0.5) + 1)
                    score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * Double(w.count) / max(average, 1)))
                }
                return score > 0 ? (m, score) : nil
            }.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0.id < $1.0.id }.prefix(limit).map(\.0)
        }
    }

    public func unembedded(model: String, scopes: [MemoryScope]?, limit: Int) async throws -> [Memory] {
        state.withLock { s in
            s.memories.values.filter { m in
                !m.expired && !m.deleted && (scopes.map { $0.contains(m.scope) } ?? true)
                    && s.vectors[model]?[m.id]?.version != m.version
            }.sorted { $0.id < $1.id }.prefix(limit).map { $0 }
        }
    }

    public func setVectors(_ vectors: [MemoryVector], model: String) async throws {
        state.withLock { s in
            for v in vectors {
                guard let m = s.memories[v.id], m.version == v.version, !m.expired, !m.deleted else { continue }
                s.vectors[model, default: [:]][v.id] = (v.version, v.vector)
            }
        }
    }

    public func nearest(
        _ vector: [Float], model: String, scopes: [MemoryScope]?, limit: Int, atLeast: Float, now: Int64
    )
        async throws -> [MemoryID]
    {
        state.withLock { s in
            (s.vectors[model] ?? [:]).compactMap { id, v -> (Memory, Float)? in
                guard let m = s.memories[id], m.version == v.version, m.isLive(at: now),
                    scopes.map({ $0.contains(m.scope) }) ?? true
                else { return nil }
                let score = RankFusion.cosine(vector, v.vector)
                return score >= atLeast ? (m, score) : nil
            }.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0.id < $1.0.id }.prefix(limit).map(\.0.id)
        }
    }

    public func history(_ id: MemoryID) async throws -> [MemoryRecord] {
        state.withLock { $0.records.map(\.record).filter { $0.change.memory == id } }
    }

    public func verifyLog() async throws -> (records: Int64, firstBad: Int64?) {
        state.withLock { s in
            var previous = ""
            for (record, body) in s.records {
                guard MemoryRules.verify(seq: record.seq, body: body, hash: record.hash, previous: previous) != nil
                else { return (Int64(s.records.count), record.seq) }
                previous = record.hash
            }
            return (Int64(s.records.count), nil)
        }
    }
}

import Foundation
public import NightshiftCore
import Synchronization

/// The memory store's twin: the same log and rules, and the same kind of rank (BM25 over the
/// words of text and tags, without stemming). Its contract is the conformance suite's.
public final class InMemoryMemoryStore: MemoryStore, Sendable {
    private struct State {
        var records: [(record: MemoryRecord, body: Data)] = []
        var memories: [MemoryID: Memory] = [:]
    }
    private let state = Mutex(State())

    public init() {}

    public func apply(_ change: MemoryChange, at time: Int64) async throws -> Memory {
        try state.withLock { s in
            let seq = Int64(s.records.count + 1)
            let body = try MemoryRules.body(seq: seq, time: time, change: change)
            let hash = MemoryRules.chain(previous: s.records.last?.record.hash ?? "", body: body)
            let m = try MemoryRules.apply(change, to: s.memories[change.memory], at: time, hash: hash)
            s.records.append((MemoryRecord(seq: seq, time: time, change: change, hash: hash), body))
            s.memories[m.id] = m
            return m
        }
    }

    public func memory(_ id: MemoryID) async throws -> Memory? { state.withLock { $0.memories[id] } }

    public func list(scopes: [MemoryScope]?, includeGone: Bool) async throws -> [Memory] {
        state.withLock { s in
            s.memories.values.filter { m in
                (scopes.map { $0.contains(m.scope) } ?? true) && (includeGone || (!m.expired && !m.deleted))
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

import Foundation
import NightshiftCore
import NightshiftHarness
import NightshiftSQLite
import NightshiftTesting
import Testing

/// Retrieval quality on a labelled set committed beside this file: 208 memories of a coding
/// agent's life in one project (build commands, flaky tests, conventions, past mistakes) and 73
/// queries phrased as an agent would ask, each with the memories that answer it. Recall@5 is the
/// share of a query's relevant memories among the first five hits, averaged over the queries.
@Suite struct RetrievalQualityTests {
    struct Labelled: Decodable {
        var query: String
        var relevant: [String]
    }

    static var folder: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Retrieval").path
    }

    /// Loads the memories into `store` and returns recall@5 over the queries (searching `searcher`,
    /// by default the store itself).
    static func recallAt5(_ store: any MemoryStore, searcher: (any MemoryStore)? = nil) async throws -> Double {
        let bank = try String(contentsOfFile: folder + "/memories.jsonl", encoding: .utf8)
        struct Line: Decodable {
            var id: MemoryID
            var kind: MemoryKind
            var scope: MemoryScope
            var text: String
        }
        for line in bank.split(separator: "\n") {
            let m = try JSONDecoder().decode(Line.self, from: Data(line.utf8))
            _ = try await store.apply(
                .created(
                    id: m.id, kind: m.kind, scope: m.scope, text: m.text, tags: [], source: MemorySource(human: "set"),
                    expires: nil), at: 1)
        }
        let queries = try String(contentsOfFile: folder + "/queries.jsonl", encoding: .utf8).split(separator: "\n")
            .map { try JSONDecoder().decode(Labelled.self, from: Data($0.utf8)) }
        var total = 0.0
        for q in queries {
            let hits = Set(
                try await (searcher ?? store).search(q.query, scopes: nil, limit: 5, now: 2).map(\.id.rawValue))
            total += Double(q.relevant.filter(hits.contains).count) / Double(q.relevant.count)
        }
        return total / Double(queries.count)
    }

    @Test func theSetIsAsLargeAsItClaims() throws {
        let memories = try String(contentsOfFile: Self.folder + "/memories.jsonl", encoding: .utf8)
        let queries = try String(contentsOfFile: Self.folder + "/queries.jsonl", encoding: .utf8)
        #expect(memories.split(separator: "\n").count >= 200)
        #expect(queries.split(separator: "\n").count >= 50)
    }

    /// Text search alone (FTS5, BM25, porter stemming): the floor is below what it measured when the
    /// set was written (0.884), so a change that makes search worse fails here.
    @Test func textSearchRecallAt5HasAFloor() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ns-recall-\(UUID().uuidString)").path
        let recall = try await Self.recallAt5(SQLiteMemoryStore(sharing: try SQLiteEventStore(path: dir + "/ns.db")))
        print("retrieval: text search recall@5 = \(String(format: "%.3f", recall))")
        #expect(recall >= 0.80, "recall@5 \(recall)")
    }

    /// all-MiniLM-L6-v2's vectors for every text of the set, recorded once with the real model
    /// (Tests/EmbeddingServer/record_vectors.py), so this test needs no model.
    static func recorded() throws -> RecordedEmbedder {
        try RecordedEmbedder(file: folder + "/vectors-all-minilm-l6-v2.jsonl", model: "all-MiniLM-L6-v2")
    }

    /// Text and vectors fused (reciprocal rank), with the real model's recorded vectors: the floor
    /// is below what it measured (see the README's memory section), and above text alone's floor.
    @Test func hybridSearchRecallAt5HasAFloor() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ns-recall-\(UUID().uuidString)").path
        let store = SQLiteMemoryStore(sharing: try SQLiteEventStore(path: dir + "/ns.db"))
        let hybrid = HybridMemoryStore(base: store, embedder: try Self.recorded())
        let recall = try await Self.recallAt5(store, searcher: hybrid)
        print("retrieval: hybrid search recall@5 = \(String(format: "%.3f", recall))")
        #expect(hybrid.degradation == nil, "\(hybrid.degradation ?? "")")
        #expect(try await store.unembedded(model: "all-MiniLM-L6-v2", scopes: nil, limit: 1).isEmpty)
        #expect(recall >= 0.85, "recall@5 \(recall)")
    }
}

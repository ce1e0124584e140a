import Foundation
import NightshiftCore
import NightshiftHarness
import NightshiftTesting
import Synchronization
import Testing

/// Hybrid search on the store's twin with embedder doubles: the fusion, the catching up of a
/// bank written before embeddings, and an embedder that fails (full-text goes on; the reason is
/// kept once; the endpoint rests).
@Suite struct HybridSearchTests {
    /// Vectors by keyword (a test double): a text about databases points one way, about commits another.
    final class KeywordEmbedder: Embedder, Sendable {
        let model = "keywords"
        let calls = Mutex(0)
        let failing: Bool
        init(failing: Bool = false) { self.failing = failing }
        func embed(_ texts: [String]) async throws -> [[Float]] {
            calls.withLock { $0 += 1 }
            if failing {
                throw ModelError("cannot reach 127.0.0.1 for embeddings: connection refused", code: .unavailable)
            }
            return texts.map { t in
                let s = t.lowercased()
                return [
                    s.contains("postgres") || s.contains("database") ? 1 : 0,
                    s.contains("commit") ? 1 : 0,
                    0.05,
                ]
            }
        }
    }

    static let project = MemoryScope(.project, "/srv/app")

    func bank() async throws -> InMemoryMemoryStore {
        let store = InMemoryMemoryStore()
        for (id, text) in [
            ("mem-pg", "PostgreSQL 15 must be up for the integration suite"),
            ("mem-commits", "Prefer small commits"),
            ("mem-flaky", "test_upload is flaky: re-run it"),
        ] {
            _ = try await store.apply(
                .created(
                    id: MemoryID(id), kind: .lesson, scope: Self.project, text: text, tags: [],
                    source: MemorySource(human: "a"), expires: nil), at: 1)
        }
        return store
    }

    @Test func meaningFindsWhatWordsMissAndBothRankingsAreFused() async throws {
        let store = try await bank()
        #expect(try await store.search("database down", scopes: nil, limit: 5, now: 2).isEmpty)
        let hybrid = HybridMemoryStore(base: store, embedder: KeywordEmbedder())
        // Embedded on the first search (the bank was written before embeddings).
        #expect(
            try await hybrid.search("database down", scopes: nil, limit: 5, now: 2).map(\.id) == [MemoryID("mem-pg")])
        #expect(try await store.unembedded(model: "keywords", scopes: nil, limit: 10).isEmpty)
        // A word match and a meaning match of one memory rank it over a word match alone.
        let fused = try await hybrid.search("flaky database test", scopes: nil, limit: 5, now: 2).map(\.id)
        #expect(fused.first == MemoryID("mem-pg") || fused.first == MemoryID("mem-flaky"))
        #expect(Set(fused) == [MemoryID("mem-pg"), MemoryID("mem-flaky")])
        #expect(hybrid.degradation == nil)
        #expect(
            RankFusion.fuse([[MemoryID("a"), MemoryID("b")], [MemoryID("b"), MemoryID("c")]], limit: 3) == [
                MemoryID("b"), MemoryID("a"), MemoryID("c"),
            ])
    }

    /// A query half about each memory scores a cosine of 0.71 with both: in above the default
    /// floor, out below a configured one of 0.8 (what a model with high baseline similarity needs).
    @Test func aConfiguredFloorKeepsWeakerMeaningMatchesOut() async throws {
        let store = try await bank()
        let query = "postgres commit"  // neither word is in a memory's text (the twin does not stem)
        #expect(try await store.search(query, scopes: nil, limit: 5, now: 2).isEmpty)
        let loose = HybridMemoryStore(base: store, embedder: KeywordEmbedder())
        #expect(loose.minSimilarity == HybridMemoryStore.defaultMinSimilarity)
        #expect(
            Set(try await loose.search(query, scopes: nil, limit: 5, now: 2).map(\.id)) == [
                MemoryID("mem-pg"), MemoryID("mem-commits"),
            ])
        let strict = HybridMemoryStore(base: store, embedder: KeywordEmbedder(), minSimilarity: 0.8)
        #expect(try await strict.search(query, scopes: nil, limit: 5, now: 2).isEmpty)
        #expect(try await strict.search("database", scopes: nil, limit: 5, now: 2).map(\.id) == [MemoryID("mem-pg")])
    }

    @Test func aFailingEmbedderLeavesFullTextAndIsNotCalledAgainForAWhile() async throws {
        let embedder = KeywordEmbedder(failing: true)
        let hybrid = HybridMemoryStore(base: try await bank(), embedder: embedder)
        for _ in 0..<5 {
            let hits = try await hybrid.search("flaky upload", scopes: nil, limit: 5, now: 2)
            #expect(hits.map(\.id) == [MemoryID("mem-flaky")])
        }
        #expect(embedder.calls.withLock { $0 } == 1, "tried again within the pause")
        #expect(hybrid.degradation?.contains("connection refused") == true)
    }
}

import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftModels
import NightshiftTesting
import Testing

/// The embedder port's contract, over the adapter (against the real model's loopback server) and
/// the recorded twin: one vector per text, in order; a batch is the texts one by one; one model's
/// vectors share a dimension; nothing asked, nothing returned. A test that uses the twin relies on
/// exactly this.
@Suite(.serialized, .enabled(if: EmbeddingModel.installed || ProcessInfo.processInfo.environment["CI"] != nil))
struct EmbedderConformanceTests {
    enum Kind: String, CaseIterable, Sendable { case recorded, live }

    static let texts = [
        "Run `make check`, not `make test`, before pushing: make test skips the linters and CI runs both.",
        "The integration tests need PostgreSQL 15 running locally; start it with `pg_ctlcluster 15 main start`.",
        "test_sync_upload is flaky under load: it races the upload worker. Re-run it once before debugging.",
    ]

    @Test(arguments: Kind.allCases) func theContractHolds(_ kind: Kind) async throws {
        let root = tempDir("ns-embedder")
        var stop: (() async throws -> Void)?
        let embedder: any Embedder
        switch kind {
        case .recorded:
            embedder = try RecordedEmbedder(
                file: EmbeddingModel.packageRoot
                    + "/Tests/NightshiftStoreTests/Retrieval/vectors-all-minilm-l6-v2.jsonl",
                model: "all-MiniLM-L6-v2")
        case .live:
            let (port, server) = try await EmbeddingModel.serve(in: root)
            let http = ModelHTTPClient()
            embedder = OpenAIEmbedder(
                model: "all-MiniLM-L6-v2", baseURL: "http://127.0.0.1:\(port)/v1", key: nil, http: http)
            stop = {
                try await http.shutdown()
                server.kill()
            }
        }
        let batch = try await embedder.embed(Self.texts)
        var singles: [[Float]] = []
        for text in Self.texts { singles += try await embedder.embed([text]) }
        let reversed = try await embedder.embed(Self.texts.reversed())
        let none = try await embedder.embed([])
        try await stop?()
        #expect(batch.count == Self.texts.count)
        #expect(Set(batch.map(\.count)).count == 1 && batch[0].count > 0)
        for (a, b) in zip(batch, singles) { #expect(RankFusion.cosine(a, b) > 0.999) }
        for (a, b) in zip(batch, reversed.reversed()) { #expect(RankFusion.cosine(a, b) > 0.999) }
        // Different texts are different vectors (the order above is not an accident of equal ones).
        #expect(RankFusion.cosine(batch[0], batch[1]) < 0.99)
        #expect(none.isEmpty)
    }
}

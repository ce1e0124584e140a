import ArgumentParser
import Foundation
import NightshiftCLI
import NightshiftCore
import NightshiftHarness
import NightshiftModels
import NightshiftSQLite
import NightshiftTesting

extension Bench {
    struct MemoryBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "memory",
            abstract: "The memory bank at scale: search latency, a shift's recall, bytes per memory.",
            discussion: """
                Fills a bank with N memories across S project scopes (synthetic texts: sentences of a coding \
                project's life with a random module, command and error each, so every memory is different), \
                written through the store like any memory (the log, the index; synchronous=NORMAL while filling, \
                which only changes how long filling takes). Then times text search (FTS5, BM25, the scope filter \
                in the query) for short queries in one project and the user's scope, a shift's recall (a query made \
                of a task's description and checks, with the token budget applied), and rendering a worker's \
                context that carries 8 memories against one that carries none. Then every memory is given a \
                384-dimension vector (all-MiniLM-L6-v2's size) by a hashing embedder, a test double that costs \
                microseconds where a real model costs milliseconds: hybrid search (BM25 and cosine, fused by reciprocal \
                rank) is timed without the model's own latency, which a real endpoint adds to each search once (the \
                query's vector).
                """)

        @OptionGroup var options: Bench.Options
        @Option(help: "Memories in the bank.") var memories = 100_000
        @Option(help: "Project scopes they are spread over.") var scopes = 100
        @Option(help: "Searches to time.") var searches = 2000

        /// Times `searches` short queries through `store`, each in one project and one user scope.
        func timeSearches(_ store: any MemoryStore) async throws -> ((median: Double, p99: Double), Int) {
            var samples: [Double] = []
            var hits = 0
            for i in 0..<searches {
                let scope = [MemoryScope(.project, "/p\(i % scopes)"), MemoryScope(.user, "u\(i % 7)")]
                let t = ContinuousClock.now
                hits += try await store.search(Self.queries[i % Self.queries.count], scopes: scope, limit: 10, now: 2)
                    .count
                samples.append(ms(ContinuousClock.now - t))
            }
            return (percentiles(samples), hits)
        }

        /// The database's bytes on disk (with its WAL).
        static func bytes(_ db: String) -> Int {
            ["", "-wal"].reduce(0) {
                $0 + ((try? FileManager.default.attributesOfItem(atPath: db + $1)[.size] as? Int) ?? 0)
            }
        }

        static let subjects = [
            "the integration tests", "the build", "the docs", "the release", "the migration", "the e2e suite",
            "the cache", "the worker", "the scheduler", "the importer", "the exporter", "the sandbox",
            "the linter", "the formatter", "the API client", "the websocket server", "the search index",
            "the payment webhook", "the image resizer", "the mail queue",
        ]
        static let verbs = [
            "needs", "breaks without", "is flaky when", "must run after", "fails on", "times out with",
            "is fixed by", "depends on", "was slowed by", "recovers after",
        ]
        static let objects = [
            "postgres 15 running", "a clean build folder", "the feature flag on", "node 20", "python 3.11",
            "a fresh venv", "the redis test database", "the proto files regenerated", "the locale files checked",
            "a retry of the upload", "the lockfile updated", "the snapshot references re-recorded",
            "the port freed", "the vault token", "tzdata installed", "git lfs pull", "swift format run",
            "make check", "the migrations applied", "the rate limit raised",
        ]
        static let queries = [
            "postgres tests fail", "how do I regenerate the proto files", "flaky upload retry", "build needs clean",
            "release checklist", "redis test database", "snapshot references linux", "port already in use",
            "rate limit load test", "lockfile conflict", "migrations before server starts", "format before commit",
        ]

        mutating func run() async throws {
            try await reportErrors {
                guard memories >= 1, scopes >= 1, searches >= 10 else {
                    throw ValidationError("--memories, --scopes and --searches must be positive (searches ≥ 10)")
                }
                let dir = try options.folder()
                let db = dir + "/memory.db"
                for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + s) }
                let bank = SQLiteMemoryStore(
                    sharing: try SQLiteEventStore(path: db, configuration: .init(durability: .normal)))
                var rng = SplitMix(seed: 7)
                func pick<T>(_ list: [T]) -> T { list[Int(rng.next() % UInt64(list.count))] }
                let t0 = ContinuousClock.now
                for k in 0..<memories {
                    let text =
                        "\(pick(Self.subjects)) \(pick(Self.verbs)) \(pick(Self.objects)) in module m\(rng.next() % 5000); "
                        + "seen with error E\(rng.next() % 100_000) after `make t\(rng.next() % 900)`"
                    _ = try await bank.apply(
                        .created(
                            id: MemoryID(String(format: "mem-%016llx", UInt64(k))), kind: pick(MemoryKind.allCases),
                            scope: k % 10 == 0
                                ? MemoryScope(.user, "u\(k % 7)") : MemoryScope(.project, "/p\(k % scopes)"),
                            text: text, tags: [], source: MemorySource(human: "bench"), expires: nil), at: 1)
                }
                let fillS = ms(ContinuousClock.now - t0) / 1000
                let bytes = Self.bytes(db)
                // Short queries, in one project and a user's scope.
                let (search, hits) = try await timeSearches(bank)
                // A shift's recall: a long query (the task and its checks), with the budget applied.
                let task = PlanTask(
                    id: TaskID("fix"),
                    description:
                        "The integration tests fail when postgres is not running; make the test setup start it and document the flaky upload retry",
                    checks: [Check(command: "make check"), Check(command: "pytest tests/integration -q")])
                var recall: [Double] = []
                var shownTotal = 0
                for i in 0..<max(searches / 10, 10) {
                    let scope = [MemoryScope(.project, "/p\(i % scopes)"), MemoryScope(.user, "u\(i % 7)")]
                    let t = ContinuousClock.now
                    let query = ([task.description] + task.checks.map(\.command)).joined(separator: " ")
                    var used = 0
                    var shown: [ShownMemory] = []
                    for m in try await bank.search(query, scopes: scope, limit: 10, now: 2) {
                        let cost = (m.text.utf8.count + 16) / 4
                        if used + cost <= 800 {
                            used += cost
                            shown.append(ShownMemory(m))
                        }
                    }
                    recall.append(ms(ContinuousClock.now - t))
                    shownTotal += shown.count
                }
                let shift = percentiles(recall)
                // Rendering a worker's context with 8 memories, against none.
                let eight = try await bank.search("postgres tests", scopes: nil, limit: 8, now: 2).map(ShownMemory.init)
                var base = ModelRequest(
                    run: RunID("r"), call: CallID("m1"), role: .worker, task: task, attempt: 1, turn: 0, notices: [],
                    progressNote: nil, feedback: nil, transcript: [], tools: [])
                func renderMs(_ r: ModelRequest) -> Double {
                    var s: [Double] = []
                    for _ in 0..<2000 {
                        let t = ContinuousClock.now
                        _ = PromptRenderer.render(r)
                        s.append(ms(ContinuousClock.now - t))
                    }
                    return percentiles(s).median
                }
                let without = renderMs(base)
                base.memories = eight
                let with = renderMs(base)
                // Hybrid: every memory embedded first (timed apart), then the same searches.
                let embedder = HashingEmbedder()
                let hybrid = HybridMemoryStore(base: bank, embedder: embedder)
                let tIndex = ContinuousClock.now
                while true {
                    let missing = try await bank.unembedded(model: embedder.model, scopes: nil, limit: 2000)
                    if missing.isEmpty { break }
                    let vectors = try await embedder.embed(missing.map(\.text))
                    try await bank.setVectors(
                        zip(missing, vectors).map { MemoryVector(id: $0.id, version: $0.version, vector: $1) },
                        model: embedder.model)
                }
                let indexS = ms(ContinuousClock.now - tIndex) / 1000
                let hybridBytes = Self.bytes(db)
                let (hybridSearch, hybridHits) = try await timeSearches(hybrid)
                // Its parts: the check that every memory of the scopes has a vector, and the vector ranking.
                var checkSamples: [Double] = []
                var nearestSamples: [Double] = []
                let queryVectors = try await embedder.embed(Self.queries)
                for i in 0..<searches {
                    let scope = [MemoryScope(.project, "/p\(i % scopes)"), MemoryScope(.user, "u\(i % 7)")]
                    var t = ContinuousClock.now
                    _ = try await bank.unembedded(model: embedder.model, scopes: scope, limit: 256)
                    checkSamples.append(ms(ContinuousClock.now - t))
                    t = ContinuousClock.now
                    _ = try await bank.nearest(
                        queryVectors[i % Self.queries.count], model: embedder.model, scopes: scope, limit: 20,
                        atLeast: HybridMemoryStore.defaultMinSimilarity, now: 2)
                    nearestSamples.append(ms(ContinuousClock.now - t))
                }
                let (check, nearest) = (percentiles(checkSamples), percentiles(nearestSamples))
                if let reason = hybrid.degradation { throw CLIError("hybrid search fell back to text: \(reason)") }
                let out = BenchOutput(json: options.json)
                out.emit(
                    [
                        "workload": "memory-hybrid", "memories": memories, "dimensions": HashingEmbedder.dimensions,
                        "index_s": round1(indexS), "bytes_per_memory_with_vector": hybridBytes / memories,
                        "hybrid_median_ms": round3(hybridSearch.median), "hybrid_p99_ms": round3(hybridSearch.p99),
                        "embedded_check_median_ms": round3(check.median), "nearest_median_ms": round3(nearest.median),
                        "hits_per_search": round1(Double(hybridHits) / Double(searches)),
                    ],
                    table: String(
                        format:
                            "memory: hybrid search (hashing embedder, %d dimensions; every vector stored in %.1f s, %d B a memory with it) median %.3f ms, p99 %.3f ms (%.1f hits); of which the embedded check %.3f ms and the vector ranking %.3f ms at the median",
                        HashingEmbedder.dimensions, indexS, hybridBytes / memories, hybridSearch.median,
                        hybridSearch.p99, Double(hybridHits) / Double(searches), check.median, nearest.median))
                out.emit(
                    [
                        "workload": "memory", "memories": memories, "scopes": scopes, "fill_s": round1(fillS),
                        "bytes_per_memory": bytes / memories, "search_median_ms": round3(search.median),
                        "search_p99_ms": round3(search.p99), "hits_per_search": round1(Double(hits) / Double(searches)),
                        "recall_median_ms": round3(shift.median), "recall_p99_ms": round3(shift.p99),
                        "shown_per_shift": round1(Double(shownTotal) / Double(recall.count)),
                        "render_ms_without": round3(without), "render_ms_with_8": round3(with),
                    ],
                    table: String(
                        format:
                            "memory: %d memories in %d scopes (filled in %.1f s, %d B each); text search median %.3f ms, p99 %.3f ms (%.1f hits); a shift's recall median %.3f ms, p99 %.3f ms (%.1f shown); rendering a worker context %.3f ms without memories, %.3f ms with 8",
                        memories, scopes, fillS, bytes / memories, search.median, search.p99,
                        Double(hits) / Double(searches), shift.median, shift.p99,
                        Double(shownTotal) / Double(recall.count),
                        without, with))
            }
        }
    }
}

/// Vectors from hashed words (a test double for an embeddings endpoint, for the benchmark): each
/// word adds ±1 to one of 384 dimensions, so texts that share words point alike.
struct HashingEmbedder: Embedder {
    static let dimensions = 384
    let model = "bench-hashing-384"
    func embed(_ texts: [String]) async throws -> [[Float]] {
        texts.map { text in
            var v = [Float](repeating: 0, count: Self.dimensions)
            for word in MemoryRules.words(text) {
                var h: UInt64 = 0xcbf2_9ce4_8422_2325
                for b in word.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
                v[Int(h % UInt64(Self.dimensions))] += (h >> 40) & 1 == 0 ? 1 : -1
            }
            return v
        }
    }
}

/// Median and 99th percentile of `samples`.
func percentiles(_ samples: [Double]) -> (median: Double, p99: Double) {
    let s = samples.sorted()
    guard !s.isEmpty else { return (.nan, .nan) }
    return (s[s.count / 2], s[min(s.count - 1, Int(Double(s.count) * 0.99))])
}

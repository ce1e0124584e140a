import ArgumentParser
import Foundation
import NightshiftCLI
import NightshiftCore
import NightshiftHarness
import NightshiftModels
import NightshiftSQLite

extension Bench {
    struct ContextBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "context",
            abstract:
                "Time to build the next model context of a long run, and its size against the naive full history.",
            discussion: """
                W1 runs (the scripted echo model, a test double) are stopped mid-task after enough steps to hold the \
                given numbers of events. They run under the planner / worker / judge loop's defaults (no baseline: W1 \
                has no checks), so the worker's older turns are compacted into summaries as a real run's are. For each, \
                the context the next worker call would get — stopped just before a compaction is due, so its \
                transcript is the longest a worker context holds — is built from the database (wake from the snapshot, read \
                the recent window, assemble, render) many times; the median and p99 are printed with its size in \
                tokens (4 bytes a token, the scripted model's estimate) against the naive context that replays every \
                event's text. With --memories N, the run keeps memories and its bank holds N that match its task: \
                every shift is shown those that fit its budget, and each context carries them.
                """)

        @OptionGroup var options: Bench.Options
        @Option(help: "Comma-separated event counts.") var events: String = "1000,20000"
        @Option(help: "Context builds to time per run.") var builds: Int = 200
        @Option(help: "Memories in the run's scope that match its task (0: the run keeps no memories).")
        var memories: Int = 0

        mutating func run() async throws {
            try await reportErrors {
                let dir = try options.folder()
                let out = BenchOutput(json: options.json)
                for n in events.split(separator: ",").compactMap({ Int($0) }) {
                    let db = dir + "/context-\(n).db"
                    try? FileManager.default.removeItem(atPath: db)
                    let store = try options.store(db)
                    // A W1 step records five events; every 16 steps a compaction adds three, every 80 a new shift three more.
                    // Stopped just before a compaction is due: the longest transcript a worker context holds (the worst case).
                    let approx = max(n * 80 / 418, 16)
                    let steps = approx - approx % 16 + 15
                    let run = RunID("ctx-\(n)")
                    let project = MemoryScope(.project, "/tmp")
                    var bank: SQLiteMemoryStore?
                    if memories > 0 {
                        let b = SQLiteMemoryStore(sharing: store)
                        for k in 0..<memories {
                            _ = try await b.apply(
                                .created(
                                    id: MemoryID(String(format: "mem-%016llx", UInt64(k))), kind: .lesson,
                                    scope: project,
                                    text: "steps lesson \(k): the echo tool answers each step with its input \(k)",
                                    tags: [], source: MemorySource(human: "bench"), expires: nil), at: 1)
                        }
                        bank = b
                    }
                    let driver = Harness(
                        store: store, model: StopAfter(inner: W1Model(steps: steps * 2), turns: steps),
                        tools: W1Tools(effectsFile: nil), checks: NoChecks(), configuration: .init(), memories: bank)
                    var settings = w1Settings(steps * 2)
                    settings.loop = LoopSettings(baseline: false)
                    if memories > 0 { settings.memory = MemorySettings(scopes: [project]) }
                    try await driver.create(
                        run, title: "context", plan: w1Plan(steps * 2), workspace: "/tmp", settings: settings)
                    _ = try await driver.drive(run)
                    let harness = Harness(
                        store: store, model: W1Model(steps: steps * 2), tools: W1Tools(effectsFile: nil),
                        checks: NoChecks(),
                        configuration: .init(), memories: bank)
                    var samples: [Double] = []
                    var request: ModelRequest?
                    for _ in 0..<builds {
                        let t0 = ContinuousClock.now
                        request = try await harness.nextContext(run)
                        let rendered = request.map(PromptRenderer.render)
                        samples.append(ms(ContinuousClock.now - t0))
                        _ = rendered
                    }
                    guard let request else { throw CLIError("the run has no next model call") }
                    let rendered = PromptRenderer.render(request)
                    var contextBytes = rendered.system.utf8.count + rendered.taskBlock.utf8.count
                    for t in rendered.turns {
                        switch t {
                        case let .assistant(text, calls):
                            contextBytes +=
                                text.utf8.count
                                + calls.reduce(0) { $0 + $1.arguments.text.utf8.count + $1.name.utf8.count }
                        case let .toolResult(_, name, _, output): contextBytes += name.utf8.count + output.utf8.count
                        case let .user(text): contextBytes += text.utf8.count
                        }
                    }
                    var naiveBytes = rendered.system.utf8.count
                    let all = try await store.readAll(run)
                    for e in all {
                        switch e.event {
                        case let .modelResponded(_, text, calls, _, _, _, _, _, _):
                            naiveBytes +=
                                text.text.utf8.count
                                + calls.reduce(0) { $0 + $1.arguments.text.utf8.count + $1.name.utf8.count }
                        case let .toolFinished(_, result): naiveBytes += result.output.text.utf8.count
                        default: break
                        }
                    }
                    samples.sort()
                    let median = samples[samples.count / 2],
                        p99 = samples[min(samples.count - 1, samples.count * 99 / 100)]
                    out.emit(
                        [
                            "workload": "context", "events": all.count, "memories_in_context": request.memories.count,
                            "build_median_ms": round3(median),
                            "build_p99_ms": round3(p99),
                            "context_tokens": contextBytes / 4, "naive_tokens": naiveBytes / 4,
                            "durability": options.label,
                        ],
                        table: String(
                            format:
                                "context of a run with %6d events (%d memories in it): built in %.3f ms median, %.3f ms p99; %d tokens against %d for the full history (%.1f%%)",
                            all.count, request.memories.count, median, p99, contextBytes / 4, naiveBytes / 4,
                            100 * Double(contextBytes) / Double(max(naiveBytes, 1))))
                }
            }
        }
    }
}

/// A model that pauses the run after `turns` turns (a test double for `bench context`).
struct StopAfter: ModelProvider {
    let inner: W1Model
    let turns: Int
    var label: String { inner.label }
    func respond(to request: ModelRequest) async throws -> ModelResponse {
        guard request.role != .worker || request.turn < turns else {
            throw ModelError("bench: stopping here", needsAttention: true)
        }
        return try await inner.respond(to: request)
    }
}

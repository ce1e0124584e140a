import ArgumentParser
import Foundation
import NightshiftCLI
import NightshiftCore
import NightshiftHands
import NightshiftHarness
import NightshiftSQLite
import NightshiftTesting

#if canImport(Glibc)
import Glibc
#endif

/// `nightshift-bench`: Nightshift measured on fixed workloads. Its own executable, so the shipped
/// `nightshift` binary carries no benchmark code and no test doubles.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nightshift-bench",
        abstract: "Measure Nightshift on fixed workloads (docs/benchmarks.md in the repository).",
        discussion: "Build with -c release for figures worth comparing. Every figure states its durability setting.",
        subcommands: [
            Steps.self, Crash.self, Provider.self, Tools.self, PolicyBench.self, ContextBench.self, FleetBench.self,
            MemoryBench.self, IdleWorker.self, Serve.self, PostgresBench.self,
            BenchChild.self,
        ])

    struct Options: ParsableArguments {
        @Option(
            help: ArgumentHelp(
                "Folder for the benchmark databases. Defaults to a new temporary folder.", valueName: "DIR"))
        var dir: String?
        @Option(help: "SQLite durability: full (synchronous=FULL, the default) or normal.") var durability: String =
            "full"
        @Flag(help: "Print one JSON object per line instead of a table.") var json = false

        func folder() throws -> String {
            let path =
                dir
                ?? FileManager.default.temporaryDirectory.appendingPathComponent("nightshift-bench-\(getpid())").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            return path
        }
        func store(_ path: String) throws -> SQLiteEventStore {
            guard let d = SQLiteEventStore.Durability(rawValue: durability) else {
                throw ValidationError("--durability must be full or normal")
            }
            return try SQLiteEventStore(path: path, configuration: .init(durability: d))
        }
        var label: String { SQLiteEventStore.Durability(rawValue: durability)?.label ?? durability }
    }

    struct Steps: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Workload W1: durable agent steps per second, per-step cost over history, resume latency, concurrency, bytes per step."
        )

        @OptionGroup var options: Options
        @Option(help: "Comma-separated step counts for single-agent runs.") var steps: String = "200,2000,20000"
        @Option(help: "Comma-separated agent counts for the concurrency figure (20 steps each).") var agents: String =
            "300,1000"

        mutating func run() async throws {
            try await reportErrors {
                let dir = try options.folder()
                let out = BenchOutput(json: options.json)
                let commitMs = try rawCommitMs(dir: dir)
                let limit = 1000 / (2 * commitMs)
                out.emit(
                    [
                        "workload": "disk", "durability": options.label, "commit_ms": round3(commitMs),
                        "fsync_limit_steps_per_s": round1(limit),
                    ],
                    table: String(
                        format: "raw durable commit %.3f ms  →  fsync limit %.0f steps/s (two commits a step)",
                        commitMs, limit))
                for k in steps.split(separator: ",").compactMap({ Int($0) }) {
                    let db = "\(dir)/w1-\(k).db"
                    let r = try await runW1(steps: k, db: db)
                    let wake = try await measureWake(db: db, run: r.run)
                    let chain = try await measureChainCheck(db: db, run: r.run)
                    let bytes = try bytesOnDisk(db: db) / Double(k)
                    out.emit(
                        [
                            "workload": "W1", "steps": k, "agents": 1, "durability": options.label,
                            "steps_per_s": round1(r.stepsPerS), "first100_ms": round3(r.first100),
                            "last100_ms": round3(r.last100),
                            "wake_ms": round3(wake.loadMs), "wake_open_ms": round3(wake.openMs),
                            "wake_process_ms": round3(wake.processMs),
                            "bytes_per_step": Int(bytes), "events": chain.events, "verify_chain_ms": round3(chain.ms),
                            "wall_s": round3(r.wall), "fsync_limit_steps_per_s": round1(limit),
                        ],
                        table: String(
                            format:
                                "W1 K=%-6d %6.0f steps/s  first100 %.3f ms  last100 %.3f ms  wake %.2f ms (of which opening the db %.2f; from process start %.1f ms)  %5.0f B/step  chain check of %d events %.1f ms  [%@]",
                            k, r.stepsPerS, r.first100, r.last100, wake.loadMs, wake.openMs, wake.processMs, bytes,
                            Int(chain.events), chain.ms, options.label))
                }
                for n in agents.split(separator: ",").compactMap({ Int($0) }) {
                    let result = try await childJSON([
                        "bench-child", "concurrent", "--db", "\(dir)/w1-agents-\(n).db", "--agents", "\(n)",
                        "--steps", "20", "--durability", options.durability,
                    ])
                    let wall = result["wall_s"] as? Double ?? .nan
                    let rss = result["peak_rss_mb"] as? Double ?? .nan
                    out.emit(
                        [
                            "workload": "W1", "steps": 20, "agents": n, "durability": options.label,
                            "wall_s": round3(wall),
                            "peak_rss_mb": round1(rss), "steps_per_s": round1(Double(n * 20) / wall),
                        ],
                        table: String(
                            format: "W1 %d agents × 20 steps: %.2f s wall, peak RSS %.0f MB, %.0f steps/s  [%@]",
                            n, wall, rss, Double(n * 20) / wall, options.label))
                }
            }
        }

        struct W1Result {
            var run: RunID
            var stepsPerS: Double
            var first100: Double
            var last100: Double
            var wall: Double
        }

        func runW1(steps k: Int, db: String) async throws -> W1Result {
            try? FileManager.default.removeItem(atPath: db)
            let store = try options.store(db)
            let clock = StepClock()
            let harness = Harness(
                store: store, model: W1Model(steps: k), tools: W1Tools(effectsFile: nil), checks: NoChecks(),
                configuration: .init(), observer: clock.record)
            let run = RunID("w1-\(k)")
            let start = ContinuousClock.now
            try await harness.create(
                run, title: "W1", plan: w1Plan(k), workspace: FileManager.default.temporaryDirectory.path,
                settings: w1Settings(k))
            let reason = try await harness.drive(run)
            let wall = ms(ContinuousClock.now - start) / 1000
            guard reason == .finished else { throw CLIError("the W1 run did not finish: \(reason.text)") }
            let window = min(100, k / 2)
            return W1Result(
                run: run, stepsPerS: Double(k) / wall, first100: clock.meanStepMs(1, 1 + window),
                last100: clock.meanStepMs(k - window, k), wall: wall)
        }

        /// Median of three hash-only checks of the whole chain (what every human decision pays first).
        func measureChainCheck(db: String, run: RunID) async throws -> (events: Int64, ms: Double) {
            let store = try SQLiteEventStore(path: db)
            var samples: [Double] = []
            var events: Int64 = 0
            for _ in 0..<3 {
                let start = ContinuousClock.now
                let report = try await store.verifyChain(run)
                let d = ContinuousClock.now - start
                guard report.ok else {
                    throw CLIError("the benchmark's own log does not verify: \(report.problem ?? "")")
                }
                events = report.events
                samples.append(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
            }
            return (events, samples.sorted()[1])
        }

        /// Median of three fresh-process wakes.
        func measureWake(db: String, run: RunID) async throws -> (loadMs: Double, openMs: Double, processMs: Double) {
            var samples: [(Double, Double, Double)] = []
            for _ in 0..<3 {
                let r = try await childJSON(["bench-child", "wake", "--db", db, "--run", run.rawValue])
                samples.append(
                    (
                        r["wake_ms"] as? Double ?? .nan, r["open_ms"] as? Double ?? .nan,
                        r["wake_process_ms"] as? Double ?? .nan
                    ))
            }
            return samples.sorted { $0.0 < $1.0 }[1]
        }

        func bytesOnDisk(db: String) throws -> Double {
            let store = try options.store(db)
            try store.checkpoint()
            let size = { (p: String) in
                ((try? FileManager.default.attributesOfItem(atPath: p)[.size] as? NSNumber)?.doubleValue) ?? 0
            }
            return size(db) + size(db + "-wal")
        }
    }

    struct Crash: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Workload W3: kill a K=500 W1 run with SIGKILL at random points, resume each time, count duplicate effects."
        )

        @OptionGroup var options: Options
        @Option(help: "Kills.") var kills: Int = 50
        @Option(help: "Steps in the run.") var steps: Int = 500
        @Option(help: "Random seed (the kill points are reproducible).") var seed: UInt64 = 42

        mutating func run() async throws {
            try await reportErrors {
                let dir = try options.folder()
                let db = "\(dir)/w3.db", effects = "\(dir)/w3-effects.log"
                try? FileManager.default.removeItem(atPath: db)
                try? FileManager.default.removeItem(atPath: effects)
                var rng = SplitMix(seed: seed)
                var wakes: [Double] = []
                var killed = 0
                var finished = false
                // A W1 step is 5 events, and each resume adds 1–2. Spread the kills over what remains:
                // even kills freeze the child right after a chosen event (exact boundary), odd kills
                // land at a random instant (often mid-step).
                let expected = Int64(steps * 5 + 10 + 2 * kills)
                let probe = try options.store(db)
                for i in 0..<kills {
                    let head = try await probe.summary(of: RunID("w3"))?.headSeq ?? 0
                    let span = UInt64(max(2, (expected - head) / Int64(kills - i)))
                    let exact = i % 2 == 0
                    let outcome = try await killChild(
                        [
                            "bench-child", "w3", "--db", db, "--run", "w3", "--steps", "\(steps)",
                            "--effects", effects, "--durability", options.durability,
                        ],
                        stopAfterSeq: exact ? head + 1 + Int64(rng.next() % span) : nil,
                        delayMs: exact ? nil : 15 + Int(rng.next() % 30))
                    if let w = outcome.wakeMs { wakes.append(w) }
                    if outcome.killed { killed += 1 }
                    if outcome.finished {
                        finished = true
                        break
                    }
                }
                if !finished {
                    let last = try await childJSON([
                        "bench-child", "w3", "--db", db, "--run", "w3", "--steps", "\(steps)",
                        "--effects", effects, "--durability", options.durability,
                    ])
                    if let w = last["wake_ms"] as? Double { wakes.append(w) }
                    finished = (last["finished"] as? Bool) == true
                }
                let lines = ((try? String(contentsOfFile: effects, encoding: .utf8)) ?? "").split(separator: "\n")
                let steps = lines.compactMap { $0.split(separator: " ").dropFirst().first }
                let duplicates = steps.count - Set(steps).count
                let verify = try await options.store(db).verify(RunID("w3"))
                wakes.sort()
                let median = wakes.isEmpty ? .nan : wakes[wakes.count / 2]
                BenchOutput(json: options.json).emit(
                    [
                        "workload": "W3", "steps": self.steps, "kills": killed, "completed": finished ? 1 : 0,
                        "duplicate_effects": duplicates,
                        "wake_median_ms": round3(median), "chain_ok": verify.ok, "effects": steps.count,
                        "durability": options.label,
                    ],
                    table: String(
                        format:
                            "W3 K=%d: %d kills, completed %@, duplicate effects %d, %d effects for %d steps, median wake %.2f ms, chain %@  [%@]",
                        self.steps, killed, finished ? "yes" : "NO", duplicates, steps.count, self.steps, median,
                        verify.ok ? "verifies" : "BROKEN", options.label))
            }
        }
    }
}

/// Prints benchmark rows as a table or JSON lines.
struct BenchOutput {
    let json: Bool
    func emit(_ object: [String: Any], table: String) {
        if json, let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
            say(String(decoding: data, as: UTF8.self))
        } else {
            say(table)
        }
        fflush(nil)
    }
}

func round1(_ x: Double) -> Double { (x * 10).rounded() / 10 }
func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }

/// Mean time of one single-row durable commit on this disk (WAL, the same synchronous setting).
func rawCommitMs(dir: String) throws -> Double {
    let path = "\(dir)/commit-probe.db"
    try? FileManager.default.removeItem(atPath: path)
    let store = try SQLiteEventStore(path: path)
    return try store.measureRawCommits(count: 300)
}

/// The path of the running executable, to start benchmark children.
func selfExecutable() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}

/// Runs a child `nightshift` and parses the last JSON line it prints.
func childJSON(_ args: [String]) async throws -> [String: Any] {
    let outcome = try await killChild(args, stopAfterSeq: nil, delayMs: nil)
    guard let json = outcome.json else {
        throw CLIError("benchmark child \(args.prefix(2).joined(separator: " ")) failed: \(outcome.output.suffix(500))")
    }
    return json
}

struct ChildOutcome {
    var killed: Bool
    var finished: Bool
    var wakeMs: Double?
    var json: [String: Any]?
    var output: String
}

/// Starts a child; optionally SIGKILLs it once it freezes after event `stopAfterSeq`, or after `delayMs`.
func killChild(_ args: [String], stopAfterSeq: Int64?, delayMs: Int?) async throws -> ChildOutcome {
    var env = ProcessInfo.processInfo.environment
    env["NIGHTSHIFT_TEST_STOP_AFTER_SEQ"] = stopAfterSeq.map { "\($0)" }
    let outPath = FileManager.default.temporaryDirectory.appendingPathComponent(
        "nightshift-bench-child-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
    ).path
    defer { try? FileManager.default.removeItem(atPath: outPath) }
    let child = try ChildProcess.spawn([selfExecutable()] + args, environment: env, outputPath: outPath)
    let start = ContinuousClock.now
    var killed = false
    while true {
        let state = child.poll()
        if state == .stopped {
            child.kill()
            killed = true
            break
        }  // frozen at the chosen event
        if state != .running { break }
        if let delayMs, ContinuousClock.now - start >= .milliseconds(delayMs) {
            child.kill()
            killed = true
            break
        }
        if ContinuousClock.now - start > .seconds(600) {
            child.kill()
            throw CLIError("benchmark child timed out")
        }
        try await Task.sleep(for: .milliseconds(1))
    }
    let text = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    var json: [String: Any]?
    var wake: Double?
    for line in text.split(separator: "\n") where line.hasPrefix("{") {
        if let obj = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] {
            if obj["wake_ms"] != nil { wake = obj["wake_ms"] as? Double }
            json = obj
        }
    }
    let finished = (json?["finished"] as? Bool) == true
    return ChildOutcome(killed: killed, finished: finished, wakeMs: wake, json: json, output: text)
}

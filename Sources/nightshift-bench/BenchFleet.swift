import ArgumentParser
import Foundation
import NightshiftCLI
import NightshiftCore
import NightshiftHarness
import NightshiftRuntime
import NightshiftSQLite

/// Workload W4: a coordinator spawns N sub-agents, each does K W1 steps, the coordinator waits
/// for all. Driven by the application's fleet scheduler (`DriveFleet`) on one SQLite store, with
/// scripted models (test doubles) and the echo tool.
struct FleetBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract:
            "Workload W4: a coordinator, N sub-agents × K W1 steps; wall time, steps/s, RSS, bytes per step, fan-out and fan-in."
    )

    @OptionGroup var options: Bench.Options
    @Option(help: "Comma-separated N×K sizes (sub-agents × steps each).") var sizes: String = "300x20,1000x20"
    @Option(help: "Runs driven at once (default: every sub-agent).") var concurrency: Int?

    mutating func run() async throws {
        let dir = try options.folder()
        let out = BenchOutput(json: options.json)
        for size in sizes.split(separator: ",") {
            let parts = size.split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2, parts[0] >= 1, parts[1] >= 1 else {
                throw ValidationError("--sizes takes N×K pairs like 300x20, not '\(size)'")
            }
            let (n, k) = (parts[0], parts[1])
            var args = [
                "bench-child", "fleet", "--db", "\(dir)/w4-\(n)x\(k).db", "--children", "\(n)", "--steps", "\(k)",
                "--durability", options.durability,
            ]
            if let concurrency { args += ["--concurrency", "\(concurrency)"] }
            var r = try await childJSON(args)
            r["workload"] = "W4"
            r["durability"] = options.label
            func d(_ key: String) -> Double { r[key] as? Double ?? .nan }
            out.emit(
                r,
                table: String(
                    format:
                        "W4 %d sub-agents × %d steps: %.2f s wall, %.0f steps/s, peak RSS %.0f MB, %.0f B/step, "
                        + "step %.3f ms (first 100) / %.3f ms (last 100), fan-out %.0f ms, fan-in %.1f ms  [%@]",
                    n, k, d("wall_s"), d("steps_per_s"), d("peak_rss_mb"), d("bytes_per_step"), d("first100_ms"),
                    d("last100_ms"), d("fan_out_ms"), d("fan_in_ms"), options.label))
        }
    }
}

/// The coordinator's script (a test double): spawn N W1 sub-agents, wait for all, claim done.
struct CoordinatorModel: ModelProvider {
    let children: Int
    let steps: Int
    var label: String { "scripted:w4-coordinator (test double)" }
    func respond(to request: ModelRequest) async throws -> ModelResponse {
        let usage = TokenUsage(input: 200, output: 20)
        switch request.turn {
        case 0:
            let task = #"{"id":"w1","description":"steps=\#(steps)","checks":["true"]}"#
            let one = #"{"profile":"w1","task":\#(task),"budget":{"steps":\#(steps + 1)}}"#
            let all = Array(repeating: one, count: children).joined(separator: ",")
            return ModelResponse(
                text: "", toolCalls: [ProposedToolCall(name: "spawn_agents", arguments: #"{"agents":[\#(all)]}"#)],
                usage: usage, model: "scripted-w4")
        case 1:
            return ModelResponse(
                text: "", toolCalls: [ProposedToolCall(name: "wait_agents", arguments: "{}")], usage: usage,
                model: "scripted-w4")
        default:
            return ModelResponse(
                text: "Every sub-agent reported.", claimsDone: true, summary: "fleet done", usage: usage,
                model: "scripted-w4")
        }
    }
}

/// Makes W4's sub-agents: a log with the parent link and the spawned task, in the one store.
struct BenchChildren: ChildRunMaker {
    let store: any EventStore
    let steps: Int
    var profiles: [SpawnableProfile] {
        [SpawnableProfile(name: "w1", description: "W1 echo steps (test double)", version: "w4", budget: nil)]
    }
    func make(_ child: ChildToMake) async throws -> String {
        if try await store.summary(of: child.child.id) != nil { return "/tmp" }
        var settings = w1Settings(steps)
        settings.parent = child.link
        try await store.append(
            [
                .runCreated(title: "W4 sub-agent", workspace: "/tmp", model: "scripted:w1", settings: settings),
                .planSet(plan: Plan(title: "W4 sub-agent", tasks: [child.task])),
                .budgetSet(scope: .run, budget: child.child.budget, by: "reservation from \(child.parent.run)"),
            ], to: child.child.id, expectedSeq: 0)
        return "/tmp"
    }
}

/// The checks W4's tasks carry (`true`) pass: a double, as W1 runs no processes.
struct PassingChecks: CheckRunner {
    func run(_ check: Check, workspace: String) async -> CheckResult {
        CheckResult(exitCode: 0, output: "", durationMs: 0)
    }
}

/// What W4 times, from every committed event of the fleet.
final class FleetClock: @unchecked Sendable {
    private let lock = NSLock()
    private var firstStep: [RunID: ContinuousClock.Instant] = [:]
    private var stepTimes: [RunID: [ContinuousClock.Instant]] = [:]
    private var spawned: ContinuousClock.Instant?
    private var lastChildEnd: ContinuousClock.Instant?
    private var coordinatorAfterWait: ContinuousClock.Instant?
    let root: RunID
    let keep: Int
    init(root: RunID, keep: Int) {
        self.root = root
        self.keep = keep
    }

    func record(_ e: EventEnvelope) {
        let now = ContinuousClock.now
        lock.lock()
        defer { lock.unlock() }
        if e.run == root {
            if case let .toolFinished(call, _) = e.event, call.rawValue == "m1.1" { spawned = now }
            if case let .modelRequested(call, _, _, _) = e.event, call.rawValue == "m3" { coordinatorAfterWait = now }
            return
        }
        switch e.event {
        case .toolFinished:
            if firstStep[e.run] == nil { firstStep[e.run] = now }
            stepTimes[e.run, default: []].append(now)
        case .runFinished, .runFailed:
            if lastChildEnd.map({ now > $0 }) ?? true { lastChildEnd = now }
        default: break
        }
    }

    /// Mean ms per step over the first and the last `keep` steps of each sub-agent.
    func perStep() -> (first: Double, last: Double) {
        lock.lock()
        defer { lock.unlock() }
        var first: [Double] = [], last: [Double] = []
        for times in stepTimes.values where times.count > 2 {
            let k = min(keep, times.count - 1)
            first.append(ms(times[k] - times[0]) / Double(k))
            last.append(ms(times[times.count - 1] - times[times.count - 1 - k]) / Double(k))
        }
        func mean(_ v: [Double]) -> Double { v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count) }
        return (mean(first), mean(last))
    }

    func fanOutMs(children: Int) -> Double {
        lock.lock()
        defer { lock.unlock() }
        guard let spawned, firstStep.count == children, let last = firstStep.values.max() else { return .nan }
        return ms(last - spawned)
    }

    func fanInMs() -> Double {
        lock.lock()
        defer { lock.unlock() }
        guard let lastChildEnd, let coordinatorAfterWait else { return .nan }
        return ms(coordinatorAfterWait - lastChildEnd)
    }
}

extension BenchChild {
    struct Fleet: AsyncParsableCommand {
        @Option var db: String
        @Option var children: Int
        @Option var steps: Int
        @Option var concurrency: Int?
        @Option var durability: String = "full"
        mutating func run() async throws {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) }
            let store = try SQLiteEventStore(
                path: db, configuration: .init(durability: .init(rawValue: durability) ?? .full))
            let root = RunID("w4")
            let clock = FleetClock(root: root, keep: 100)
            let (n, k) = (children, steps)
            let maker = BenchChildren(store: store, steps: k)
            let settled = SettledRuns()
            @Sendable func harness(_ run: RunID) -> Harness {
                Harness(
                    store: store, model: run == root ? CoordinatorModel(children: n, steps: k) : W1Model(steps: k),
                    tools: W1Tools(effectsFile: nil), checks: PassingChecks(), configuration: .init(),
                    observer: clock.record, children: run == root ? maker : nil, settled: settled)
            }
            let start = ContinuousClock.now
            let coordinator = harness(root)
            try await coordinator.create(
                root, title: "W4 coordinator", plan: w1Plan(0), workspace: "/tmp", settings: w1Settings(4))
            let first = try await coordinator.drive(root)
            let reason = try await DriveFleet.drive(
                after: first, root: root, store: store, concurrency: concurrency ?? n,
                notice: { FileHandle.standardError.write(Data(("notice: " + $0 + "\n").utf8)) }
            ) { run in
                let state = try await store.state(of: run)
                return try await harness(run).drive(run, resumedBy: state.status == .paused ? "bench w4" : nil)
            }
            let wall = ms(ContinuousClock.now - start) / 1000
            guard reason == .finished else { throw CLIError("the W4 coordinator did not finish: \(reason.text)") }
            let state = try await store.state(of: root)
            let done = state.fleet.children.filter { $0.outcome?.status == .finished }.count
            guard done == n else { throw CLIError("\(n - done) of \(n) W4 sub-agents did not finish") }
            var bytes = 0
            for suffix in ["", "-wal"] {
                bytes += (try? FileManager.default.attributesOfItem(atPath: db + suffix)[.size] as? Int) ?? 0
            }
            let (first100, last100) = clock.perStep()
            let total = n * k
            say(
                #"{"children":\#(n),"steps":\#(k),"wall_s":\#(round3(wall)),"steps_per_s":\#(round1(Double(total) / wall)),"peak_rss_mb":\#(round1(peakRSSMB())),"bytes_per_step":\#(Int(Double(bytes) / Double(total))),"first100_ms":\#(round3(first100)),"last100_ms":\#(round3(last100)),"fan_out_ms":\#(round1(clock.fanOutMs(children: n))),"fan_in_ms":\#(round3(clock.fanInMs()))}"#
            )
        }
    }
}

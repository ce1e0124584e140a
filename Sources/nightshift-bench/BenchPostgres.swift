import ArgumentParser
import Foundation
import Logging
import NightshiftCLI
import NightshiftCore
import NightshiftHands
import NightshiftHarness
import NightshiftPostgres

#if canImport(Glibc)
import Glibc
#endif

/// Workload W5 (docs/benchmarks.md): Nightshift on PostgreSQL. W1's durable steps and bytes per
/// step; 300 agents × 20 steps over 1, 2 and 4 processes; the wake-up of one host by another's
/// append (LISTEN/NOTIFY); and the rows idle `nightshift worker` processes touch.
struct PostgresBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "postgres",
        abstract:
            "Workload W5: W1 on PostgreSQL, agents over 1–4 processes, wake-ups by NOTIFY, rows idle workers touch.",
        discussion: """
            --store names a PostgreSQL database this benchmark may fill (runs named w5-…); use one of its own \
            (the idle figure counts every row touched in it). The password comes from PGPASSWORD or ~/.pgpass.
            """)

    @Option(help: ArgumentHelp("The database (default: NIGHTSHIFT_STORE).", valueName: "postgres://…"))
    var store: String?
    @Option(help: "W1's steps in one run.") var steps: Int = 2000
    @Option(help: "Agents (20 steps each) for the processes figure.") var agents: Int = 300
    @Option(help: "Comma-separated counts of processes sharing the agents.") var processes: String = "1,2,4"
    @Option(help: "Wake-ups measured.") var wakes: Int = 200
    @Option(help: "Idle workers started for the rows figure (0: skip it).") var workers: Int = 4
    @Option(help: "How long the idle workers are watched.") var idleSeconds: Int = 60
    @Option(help: ArgumentHelp("The nightshift binary the idle workers run.", valueName: "PATH")) var nightshift:
        String?
    @Flag(help: "Print one JSON object per line instead of a table.") var json = false

    mutating func run() async throws {
        try await reportErrors {
            guard let address = store ?? ProcessInfo.processInfo.environment["NIGHTSHIFT_STORE"] else {
                throw ValidationError("name the database: --store postgres://USER@HOST:PORT/DATABASE")
            }
            let out = BenchOutput(json: json)
            let db = try PostgresDatabase(address: address, logger: Self.quiet)
            let stamp = String(Int(Date().timeIntervalSince1970 * 1000) % 100_000_000)
            let sync = try await Self.prepared(db).scalar("current_setting('synchronous_commit')") ?? "?"
            let label = "postgres synchronous_commit=\(sync)"

            // W1: one run of K steps.
            let before = try await Self.bytes(db)
            let clock = StepClock()
            let harness = Harness(
                store: db, model: W1Model(steps: steps), tools: W1Tools(effectsFile: nil), checks: NoChecks(),
                configuration: .init(), observer: clock.record)
            let run = RunID("w5-\(stamp)-\(steps)")
            let start = ContinuousClock.now
            try await harness.create(
                run, title: "W5", plan: w1Plan(steps), workspace: FileManager.default.temporaryDirectory.path,
                settings: w1Settings(steps))
            let reason = try await harness.drive(run)
            let wall = ms(ContinuousClock.now - start) / 1000
            guard reason == .finished else { throw CLIError("the W5 run did not finish: \(reason.text)") }
            let bytes = Double(try await Self.bytes(db) - before) / Double(steps)
            let window = min(100, steps / 2)
            out.emit(
                [
                    "workload": "W5", "steps": steps, "agents": 1, "durability": label,
                    "steps_per_s": round1(Double(steps) / wall), "first100_ms": round3(clock.meanStepMs(1, 1 + window)),
                    "last100_ms": round3(clock.meanStepMs(steps - window, steps)), "bytes_per_step": Int(bytes),
                    "wall_s": round3(wall),
                ],
                table: String(
                    format: "W5 K=%-6d %6.0f steps/s  first100 %.3f ms  last100 %.3f ms  %5.0f B/step  [%@]", steps,
                    Double(steps) / wall, clock.meanStepMs(1, 1 + window), clock.meanStepMs(steps - window, steps),
                    bytes, label))

            // Agents shared by processes, all starting at one instant.
            for p in processes.split(separator: ",").compactMap({ Int($0) }) where p > 0 {
                let go = Int64(Date().timeIntervalSince1970 * 1000) + 3000
                var children: [(ChildProcess, String)] = []
                for i in 0..<p {
                    let log = FileManager.default.temporaryDirectory.appendingPathComponent(
                        "nightshift-bench-w5-\(getpid())-\(p)-\(i).log"
                    ).path
                    let share = agents / p + (i < agents % p ? 1 : 0)
                    children.append(
                        (
                            try ChildProcess.spawn(
                                [
                                    selfExecutable(), "bench-child", "pg-concurrent", "--store", address, "--agents",
                                    "\(share)", "--steps", "20", "--prefix", "w5-\(stamp)-\(p)-\(i)", "--go", "\(go)",
                                ], environment: ProcessInfo.processInfo.environment, outputPath: log), log
                        ))
                }
                var last = 0.0
                var rss = 0.0
                for (child, log) in children {
                    let state = await child.wait(timeout: .seconds(1800))
                    let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                    try? FileManager.default.removeItem(atPath: log)
                    guard state == .exited(0),
                        let line = text.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
                        let obj = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                        let end = obj["end_ms"] as? Double
                    else { throw CLIError("a W5 process failed (\(state)): \(text.suffix(400))") }
                    last = max(last, end)
                    rss += obj["peak_rss_mb"] as? Double ?? 0
                }
                let wall = (last - Double(go)) / 1000
                out.emit(
                    [
                        "workload": "W5", "steps": 20, "agents": agents, "processes": p, "durability": label,
                        "wall_s": round3(wall), "steps_per_s": round1(Double(agents * 20) / wall),
                        "peak_rss_mb_sum": round1(rss),
                    ],
                    table: String(
                        format:
                            "W5 %d agents × 20 steps over %d process(es): %.2f s wall, %.0f steps/s, RSS %.0f MB  [%@]",
                        agents, p, wall, Double(agents * 20) / wall, rss, label))
            }

            // Wake-ups: another host's append wakes this one's waiter (commit → wake).
            let other = try PostgresDatabase(address: address, logger: Self.quiet)
            _ = try await Self.prepared(other)
            let watched = RunID("w5-\(stamp)-wake")
            try await other.append(
                [.runCreated(title: "W5 wake", workspace: "/tmp", model: "none", settings: RunSettings())], to: watched,
                expectedSeq: 0)
            for _ in 0..<100 where !(await db.hearsOtherProcesses()) { try await Task.sleep(for: .milliseconds(50)) }
            var fromCommit: [Double] = []
            var fromCall: [Double] = []
            var seq: Int64 = 1
            for _ in 0..<wakes {
                let seen = await db.generation(of: watched)
                async let woke = db.wait(for: watched, past: seen, timeout: .seconds(10))
                let t0 = ContinuousClock.now
                try await other.append([.noteAdded(task: nil, text: "decided")], to: watched, expectedSeq: seq)
                let t1 = ContinuousClock.now
                guard await woke else { throw CLIError("a wake-up did not come within 10 s") }
                let t2 = ContinuousClock.now
                seq += 1
                fromCommit.append(ms(t2 - t1))
                fromCall.append(ms(t2 - t0))
            }
            fromCommit.sort()
            fromCall.sort()
            func pct(_ a: [Double], _ p: Double) -> Double {
                a.isEmpty ? .nan : a[min(a.count - 1, Int(Double(a.count) * p))]
            }
            out.emit(
                [
                    "workload": "W5-wake", "wakes": wakes, "commit_to_wake_p50_ms": round3(pct(fromCommit, 0.5)),
                    "commit_to_wake_p99_ms": round3(pct(fromCommit, 0.99)),
                    "append_to_wake_p50_ms": round3(pct(fromCall, 0.5)),
                    "append_to_wake_p99_ms": round3(pct(fromCall, 0.99)),
                ],
                table: String(
                    format:
                        "W5 wake-up of another host's waiter by NOTIFY, %d times: from the commit p50 %.2f ms p99 %.2f ms; from the append's call p50 %.2f ms p99 %.2f ms",
                    wakes, pct(fromCommit, 0.5), pct(fromCommit, 0.99), pct(fromCall, 0.5), pct(fromCall, 0.99)))

            if workers > 0 { try await idle(address: address, db: db, out: out) }
        }
    }

    /// Starts idle `nightshift worker`s on the database and counts what they touch in it.
    func idle(address: String, db: PostgresDatabase, out: BenchOutput) async throws {
        let binary =
            nightshift
            ?? URL(fileURLWithPath: selfExecutable()).deletingLastPathComponent().appendingPathComponent("nightshift")
            .path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw ValidationError("no nightshift binary at \(binary): build it, or pass --nightshift PATH")
        }
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("nightshift-bench-w5-\(getpid())")
            .path
        try FileManager.default.createDirectory(atPath: home + "/config", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        var env = ProcessInfo.processInfo.environment
        env["XDG_CONFIG_HOME"] = home + "/config"
        var started: [ChildProcess] = []
        defer {
            for w in started { w.kill() }
        }
        for i in 0..<workers {
            started.append(
                try ChildProcess.spawn(
                    [binary, "worker", "--store", address], environment: env, outputPath: home + "/worker-\(i).log"))
        }
        // Past their first look, and the statistics of that look flushed (a backend reports every 10 s at most when idle).
        try await Task.sleep(for: .seconds(12))
        let first = try await Self.touched(db)
        try await Task.sleep(for: .seconds(idleSeconds))
        try await Task.sleep(for: .seconds(11))
        let second = try await Self.touched(db)
        for w in started where w.poll() != .running {
            throw CLIError(
                "an idle worker exited: \((try? String(contentsOfFile: home + "/worker-0.log", encoding: .utf8)) ?? "")"
            )
        }
        let rows = second.rows - first.rows
        let scans = second.scans - first.scans
        let commits = second.commits - first.commits - 2  // this benchmark's own two reads
        out.emit(
            [
                "workload": "W5-idle", "workers": workers, "seconds": idleSeconds, "rows_touched": rows,
                "table_scans": scans, "transactions": commits,
            ],
            table: String(
                format:
                    "W5 %d idle workers for %d s: %lld rows touched, %lld table scans, %lld transactions in the database",
                workers, idleSeconds, rows, scans, commits))
    }

    static let quiet = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }

    /// The database, its schema made (the first read does it).
    static func prepared(_ db: PostgresDatabase) async throws -> PostgresDatabase {
        _ = try await db.runs(status: nil, limit: 1, offset: 0)
        return db
    }

    /// Bytes the log's tables take on disk, indexes and TOAST included.
    static func bytes(_ db: PostgresDatabase) async throws -> Int64 {
        let sql = ["event", "blob", "snapshot", "run", "run_queue", "lease"].map { "pg_total_relation_size('\($0)')" }
            .joined(separator: " + ")
        return Int64(try await db.scalar(sql) ?? "") ?? 0
    }

    /// Rows read or written and scans made in the database's tables, and its committed transactions.
    static func touched(_ db: PostgresDatabase) async throws -> (rows: Int64, scans: Int64, commits: Int64) {
        let rows = try await db.scalar(
            """
            SELECT coalesce(sum(seq_tup_read + coalesce(idx_tup_fetch, 0) + n_tup_ins + n_tup_upd + n_tup_del), 0)
            FROM pg_stat_user_tables
            """)
        let scans = try await db.scalar(
            "SELECT coalesce(sum(seq_scan + coalesce(idx_scan, 0)), 0) FROM pg_stat_user_tables")
        let commits = try await db.scalar(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        return (Int64(rows ?? "") ?? -1, Int64(scans ?? "") ?? -1, Int64(commits ?? "") ?? -1)
    }
}

/// A share of W5's agents in one process, started at an agreed instant (bench-child pg-concurrent).
struct PostgresConcurrent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pg-concurrent")
    @Option var store: String
    @Option var agents: Int
    @Option var steps: Int
    @Option var prefix: String
    @Option var go: Int64
    mutating func run() async throws {
        let db = try PostgresDatabase(address: store, logger: PostgresBench.quiet)
        _ = try await PostgresBench.prepared(db)
        let harness = Harness(
            store: db, model: W1Model(steps: steps), tools: W1Tools(effectsFile: nil), checks: NoChecks(),
            configuration: .init())
        let wait = go - Int64(Date().timeIntervalSince1970 * 1000)
        if wait > 0 { try await Task.sleep(for: .milliseconds(wait)) }
        let (agents, steps, prefix) = (self.agents, self.steps, self.prefix)
        try await withThrowingTaskGroup(of: StopReason.self) { group in
            for a in 0..<agents {
                group.addTask {
                    let run = RunID("\(prefix)-\(a)")
                    try await harness.create(
                        run, title: "W5 agent \(a)", plan: w1Plan(steps), workspace: "/tmp", settings: w1Settings(steps)
                    )
                    return try await harness.drive(run)
                }
            }
            for try await r in group where r != .finished { throw CLIError("an agent did not finish: \(r.text)") }
        }
        say(#"{"end_ms":\#(Date().timeIntervalSince1970 * 1000),"peak_rss_mb":\#(round1(peakRSSMB()))}"#)
    }
}

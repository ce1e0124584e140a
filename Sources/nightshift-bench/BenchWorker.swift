import ArgumentParser
import Foundation
import NightshiftCLI
import NightshiftCore
import NightshiftSQLite

#if canImport(Glibc)
import Glibc
#endif

extension Bench {
    struct IdleWorker: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "idle-worker",
            abstract: "What an idle `nightshift worker` costs: CPU seconds per minute over a database of ended runs.",
            discussion: """
                Writes --finished finished runs and --paused runs paused for a person who has not decided (neither \
                is anything for a worker to do), starts `nightshift worker` on them with --poll-ms, lets it settle \
                for two seconds, then reads the CPU time the kernel charged it (user + system, /proc/PID/stat) over \
                --seconds. --nightshift names the binary to measure (defaults to the one beside this benchmark), so \
                two builds can be compared on the same database.
                """)

        @OptionGroup var options: Bench.Options
        @Option(help: "Finished runs in the database.") var finished: Int = 1000
        @Option(help: "Runs paused for a person's decision that has not come.") var paused: Int = 0
        @Option(help: "Seconds to measure.") var seconds: Int = 20
        @Option(help: "The worker's --poll-ms.") var pollMs: Int = 500
        @Option(help: ArgumentHelp("The nightshift binary to measure.", valueName: "PATH")) var nightshift: String?

        func validate() throws {
            guard finished >= 0, paused >= 0, finished + paused <= 1_000_000 else {
                throw ValidationError("--finished and --paused must be 0 or more (at most 1,000,000 together)")
            }
            guard (1...3600).contains(seconds) else { throw ValidationError("--seconds must be 1 … 3600") }
            guard pollMs >= 10 else { throw ValidationError("--poll-ms must be at least 10") }
        }

        mutating func run() async throws {
            try await reportErrors {
                let dir = try options.folder()
                let db = dir + "/idle-\(finished)-\(paused).db"
                try? FileManager.default.removeItem(atPath: db)
                try? FileManager.default.removeItem(atPath: db + "-heads")
                try await Self.fill(db: db, finished: finished, paused: paused, store: options.store)
                let binary =
                    nightshift
                    ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
                    .appendingPathComponent(
                        "nightshift"
                    ).path
                guard FileManager.default.isExecutableFile(atPath: binary) else {
                    throw ValidationError("no nightshift binary at \(binary): build it, or pass --nightshift PATH")
                }
                let worker = Process()
                worker.executableURL = URL(fileURLWithPath: binary)
                worker.arguments = ["worker", "--db", db, "--poll-ms", String(pollMs)]
                var env = ProcessInfo.processInfo.environment
                env["XDG_CONFIG_HOME"] = dir + "/config"
                worker.environment = env
                worker.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
                try worker.run()
                defer {
                    worker.terminate()
                    worker.waitUntilExit()
                }
                try await Task.sleep(for: .seconds(2))
                guard let before = Self.cpuSeconds(worker.processIdentifier) else {
                    throw ValidationError("the worker exited at once: run it by hand to see why")
                }
                try await Task.sleep(for: .seconds(seconds))
                guard let after = Self.cpuSeconds(worker.processIdentifier) else {
                    throw ValidationError("the worker exited while measured: run it by hand to see why")
                }
                let perMinute = (after - before) / Double(seconds) * 60
                BenchOutput(json: options.json).emit(
                    [
                        "workload": "idle-worker", "finished_runs": finished, "paused_runs": paused, "poll_ms": pollMs,
                        "seconds": seconds, "cpu_s_per_min": round3(perMinute),
                        "core_share": round3(perMinute / 60), "binary": binary,
                    ],
                    table: String(
                        format:
                            "idle worker over %d finished + %d paused runs, poll %d ms: %.3f CPU s per minute (%.2f%% of a core)",
                        finished, paused, pollMs, perMinute, perMinute / 60 * 100))
            }
        }

        /// Ended and undecided runs, written as the harness writes them (one append per change).
        static func fill(
            db: String, finished: Int, paused: Int, store make: (String) throws -> SQLiteEventStore
        ) async throws {
            let store = try make(db)
            let plan = Plan(title: "idle", tasks: [PlanTask(id: TaskID("t"), description: "d", checks: [])])
            for n in 0..<(finished + paused) {
                let run = RunID(String(format: "idle-%07d", n))
                try await store.append(
                    [
                        .runCreated(
                            title: "idle", workspace: "/nowhere", model: "scripted:none", settings: RunSettings()),
                        .planSet(plan: plan),
                    ], to: run, expectedSeq: 0)
                let end: Event =
                    n < finished
                    ? .runFinished(summary: "done")
                    : .runPaused(reason: "awaiting approval of m1.1", kind: .approval)
                try await store.append([end], to: run, expectedSeq: 2)
            }
        }

        /// User plus system CPU time the kernel charged the process, or nil when it is gone.
        static func cpuSeconds(_ pid: Int32) -> Double? {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            // Fields after the command name: state is field 3, utime 14 and stime 15.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 13, fields[0] != "Z", let user = Double(fields[11]), let system = Double(fields[12])
            else { return nil }
            return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
        }
    }
}

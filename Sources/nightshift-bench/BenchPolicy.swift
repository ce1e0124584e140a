import ArgumentParser
import Foundation
import NightshiftCLI
import NightshiftCore
import NightshiftHands
import NightshiftHarness
import NightshiftSQLite

extension Bench {
    struct PolicyBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "policy",
            abstract:
                "The gateway's cost: decisions per second with a 200-rule policy; and workload W2 (1,000 runs paused for approval).",
            discussion: """
                Decisions: calls that match the last rules or none (the worst case: every rule is tried), against one \
                durable store append. W2: a child process drives N runs (W1's echo, one step) to an approval wait \
                and exits; while they wait no Nightshift process exists; a second child approves every call (as \
                `nightshift approve` does) and resumes all N runs to the end.
                """)

        @OptionGroup var options: Bench.Options
        @Option(help: "Rules in the policy.") var rules: Int = 200
        @Option(help: "Decisions to time.") var decisions: Int = 200_000
        @Option(help: "Runs paused for approval (W2); 0 skips W2.") var runs: Int = 1000

        mutating func run() async throws {
            try await reportErrors {
                let dir = try options.folder()
                let out = BenchOutput(json: options.json)
                let policy = Self.policy(rules: rules)
                let calls: [(String, String)] = [
                    ("shell", #"{"command":"make test && ./tools/check-format --all"}"#),
                    ("write_file", #"{"path":"src/module/deep/file.swift","content":"x"}"#),
                    ("mcp__docs__search", #"{"query":"how"}"#),
                    ("read_file", #"{"path":"README.md"}"#),
                ]
                let traits = ToolCatalog(ToolBox.standard(isolation: .none(reason: "bench")).specs).traits
                var sink = 0
                let t0 = ContinuousClock.now
                for i in 0..<decisions {
                    let (tool, args) = calls[i % calls.count]
                    sink &+= policy.decide(tool: tool, arguments: args, traits: traits[tool] ?? []).rule.utf8.count
                }
                let perDecisionUs = ms(ContinuousClock.now - t0) * 1000 / Double(decisions)
                let commitMs = try rawCommitMs(dir: dir)
                out.emit(
                    [
                        "workload": "policy", "rules": rules, "decisions_per_s": round1(1e6 / perDecisionUs),
                        "decision_us": round3(perDecisionUs),
                        "store_commit_ms": round3(commitMs),
                        "share_of_commit": round3(perDecisionUs / (commitMs * 1000)), "checksum": sink % 7,
                    ],
                    table: String(
                        format:
                            "policy of %d rules: %.0f decisions/s (%.2f µs each) — %.2f%% of one durable commit (%.3f ms)",
                        rules, 1e6 / perDecisionUs, perDecisionUs, 100 * perDecisionUs / (commitMs * 1000), commitMs))
                guard runs > 0 else { return }
                let db = dir + "/w2.db"
                try? FileManager.default.removeItem(atPath: db)
                let paused = try await childJSON([
                    "bench-child", "w2-pause", "--db", db, "--runs", "\(runs)", "--durability", options.durability,
                ])
                // Nothing runs now: the child exited. What waiting costs is the database.
                let bytes =
                    (try? FileManager.default.attributesOfItem(atPath: db)[.size] as? NSNumber)?.doubleValue ?? 0
                let wal =
                    (try? FileManager.default.attributesOfItem(atPath: db + "-wal")[.size] as? NSNumber)?.doubleValue
                    ?? 0
                let done = try await childJSON([
                    "bench-child", "w2-approve", "--db", db, "--runs", "\(runs)", "--durability", options.durability,
                ])
                let approveAll = done["approve_s"] as? Double ?? .nan,
                    toDone = done["approve_all_to_done_s"] as? Double ?? .nan
                out.emit(
                    [
                        "workload": "W2", "paused_runs": runs, "durability": options.label,
                        "pause_wall_s": paused["wall_s"] ?? 0,
                        "rss_while_paused_mb": 0, "processes_while_paused": 0,
                        "db_mb_while_paused": round1((bytes + wal) / 1e6),
                        "approve_s": approveAll, "approve_all_to_done_s": toDone,
                        "peak_rss_mb": done["peak_rss_mb"] ?? 0,
                    ],
                    table: String(
                        format:
                            "W2 %d runs paused for approval (driven there in %.2f s): while waiting 0 processes, 0 MB RSS, %.1f MB of database; approving all %.2f s; approve-all to all finished %.2f s (peak RSS %.0f MB)  [%@]",
                        runs, paused["wall_s"] as? Double ?? .nan, (bytes + wal) / 1e6, approveAll, toDone,
                        done["peak_rss_mb"] as? Double ?? .nan, options.label))
            }
        }

        /// `rules` rules that do not match the benchmark's calls until the last one: every decision tries them all.
        static func policy(rules: Int) -> Policy {
            var list: [PolicyRule] = []
            for i in 0..<max(rules - 1, 0) {
                switch i % 4 {
                case 0:
                    list.append(
                        PolicyRule(effect: .deny, tool: "shell", command: "*forbidden-\(i)*", origin: "bench:\(i)"))
                case 1:
                    list.append(PolicyRule(effect: .ask, tool: "write_file", path: "area\(i)/**", origin: "bench:\(i)"))
                case 2: list.append(PolicyRule(effect: .deny, tool: "mcp__tool\(i)__*", origin: "bench:\(i)"))
                default:
                    list.append(
                        PolicyRule(effect: .allow, tool: "read_file", path: "docs\(i)/*.md", origin: "bench:\(i)"))
                }
            }
            list.append(PolicyRule(effect: .allow, tool: "*", origin: "bench:last"))
            return Policy(rules: list, defaultEffect: .deny, protectedPaths: ["tests/**", "policy.yaml"])
        }
    }
}

extension BenchChild {
    /// The W2 policy: every `echo` call asks a human.
    static let w2Policy = Event.policySet(
        policy: Policy(rules: [PolicyRule(effect: .ask, tool: "echo", origin: "w2:1")]),
        source: "bench-w2", hash: "w2", text: "rules: [{ask: echo}]")

    /// W2's store and harness: W1's one-step echo model and tool.
    static func w2Harness(db: String, durability: String) throws -> (SQLiteEventStore, Harness) {
        let store = try SQLiteEventStore(
            path: db, configuration: .init(durability: .init(rawValue: durability) ?? .full))
        return (
            store,
            Harness(
                store: store, model: W1Model(steps: 1), tools: W1Tools(effectsFile: nil), checks: NoChecks(),
                configuration: .init())
        )
    }

    struct W2Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "w2-pause")
        @Option var db: String
        @Option var runs: Int
        @Option var durability: String = "full"
        mutating func run() async throws {
            let (_, harness) = try BenchChild.w2Harness(db: db, durability: durability)
            let start = ContinuousClock.now
            let runs = self.runs
            try await withThrowingTaskGroup(of: StopReason.self) { group in
                for a in 0..<runs {
                    group.addTask {
                        let run = RunID("w2-\(a)")
                        try await harness.create(
                            run, title: "W2 \(a)", plan: w1Plan(1), workspace: "/tmp", settings: w1Settings(1))
                        return try await harness.drive(run, announce: [BenchChild.w2Policy])
                    }
                }
                for try await r in group {
                    guard case let .paused(why) = r, why.hasPrefix("awaiting approval") else {
                        throw CLIError("a W2 run did not wait: \(r.text)")
                    }
                }
            }
            say(#"{"wall_s":\#(round3(ms(ContinuousClock.now - start) / 1000)),"peak_rss_mb":\#(round1(peakRSSMB()))}"#)
        }
    }

    struct W2Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "w2-approve")
        @Option var db: String
        @Option var runs: Int
        @Option var durability: String = "full"
        mutating func run() async throws {
            let (store, harness) = try BenchChild.w2Harness(db: db, durability: durability)
            let runs = self.runs
            let start = ContinuousClock.now
            // Approve every waiting call, as `nightshift approve` does: wake, check, append one event.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for a in 0..<runs {
                    group.addTask {
                        let run = RunID("w2-\(a)")
                        let state = try await harness.wake(run)
                        guard let waiting = state.awaitingApproval else { throw CLIError("\(run) is not waiting") }
                        try await store.append(
                            [
                                .approvalDecided(
                                    call: waiting.call.id, approved: true, by: "bench", note: "",
                                    argumentsHash: waiting.call.arguments.sha256Hex)
                            ],
                            to: run, expectedSeq: state.lastSeq)
                    }
                }
                try await group.waitForAll()
            }
            let approved = ContinuousClock.now
            try await withThrowingTaskGroup(of: StopReason.self) { group in
                for a in 0..<runs {
                    group.addTask { try await harness.drive(RunID("w2-\(a)"), resumedBy: "bench w2") }
                }
                for try await r in group where r != .finished { throw CLIError("a W2 run did not finish: \(r.text)") }
            }
            let end = ContinuousClock.now
            say(
                #"{"approve_s":\#(round3(ms(approved - start) / 1000)),"approve_all_to_done_s":\#(round3(ms(end - start) / 1000)),"peak_rss_mb":\#(round1(peakRSSMB()))}"#
            )
        }
    }
}

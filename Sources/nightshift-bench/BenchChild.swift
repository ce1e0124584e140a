import ArgumentParser
import Foundation
import NightshiftCLI
import NightshiftCore
import NightshiftHarness
import NightshiftSQLite

#if canImport(Glibc)
import Glibc
#endif

/// Child processes of `nightshift-bench` (hidden): each measures one thing in a fresh process.
struct BenchChild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-child", abstract: "Internal: one benchmark measurement in a fresh process.",
        shouldDisplay: false,
        subcommands: [
            Wake.self, Concurrent.self, W3.self, W2Pause.self, W2Approve.self, Fleet.self, PostgresConcurrent.self,
        ])

    struct Wake: AsyncParsableCommand {
        @Option var db: String
        @Option var run: String
        mutating func run() async throws {
            let processStart = processStartMs()
            let t0 = ContinuousClock.now
            let store = try SQLiteEventStore(path: db)
            let opened = ContinuousClock.now
            let harness = Harness(
                store: store, model: W1Model(steps: 0), tools: W1Tools(effectsFile: nil), checks: NoChecks(),
                configuration: .init())
            let state = try await harness.wake(RunID(run))
            _ = state.nextAction(tools: ToolCatalog(harness.tools.specs))
            let loadMs = ms(ContinuousClock.now - t0)
            let nowMs = Date().timeIntervalSince1970 * 1000
            say(
                #"{"wake_ms":\#(round3(loadMs)),"open_ms":\#(round3(ms(opened - t0))),"wake_process_ms":\#(round3(nowMs - processStart)),"events":\#(state.lastSeq)}"#
            )
        }
    }

    struct Concurrent: AsyncParsableCommand {
        @Option var db: String
        @Option var agents: Int
        @Option var steps: Int
        @Option var durability: String = "full"
        mutating func run() async throws {
            try? FileManager.default.removeItem(atPath: db)
            let store = try SQLiteEventStore(
                path: db, configuration: .init(durability: .init(rawValue: durability) ?? .full))
            let harness = Harness(
                store: store, model: W1Model(steps: steps), tools: W1Tools(effectsFile: nil), checks: NoChecks(),
                configuration: .init())
            let start = ContinuousClock.now
            let (agents, steps) = (self.agents, self.steps)
            try await withThrowingTaskGroup(of: StopReason.self) { group in
                for a in 0..<agents {
                    group.addTask {
                        let run = RunID("agent-\(a)")
                        try await harness.create(
                            run, title: "W1 agent \(a)", plan: w1Plan(steps), workspace: "/tmp",
                            settings: w1Settings(steps))
                        return try await harness.drive(run)
                    }
                }
                for try await r in group where r != .finished { throw CLIError("an agent did not finish: \(r.text)") }
            }
            let wall = ms(ContinuousClock.now - start) / 1000
            say(#"{"wall_s":\#(round3(wall)),"peak_rss_mb":\#(round1(peakRSSMB()))}"#)
        }
    }

    struct W3: AsyncParsableCommand {
        @Option var db: String
        @Option var run: String
        @Option var steps: Int
        @Option var effects: String
        @Option var durability: String = "full"
        mutating func run() async throws {
            let store = try SQLiteEventStore(
                path: db, configuration: .init(durability: .init(rawValue: durability) ?? .full))
            let stopAt = ProcessInfo.processInfo.environment["NIGHTSHIFT_TEST_STOP_AFTER_SEQ"].flatMap(Int64.init)
            let harness = Harness(
                store: store, model: W1Model(steps: steps), tools: W1Tools(effectsFile: effects), checks: NoChecks(),
                configuration: .init(),
                observer: { e in if let stopAt, e.seq == stopAt { raise(SIGSTOP) } })
            let id = RunID(run)
            let t0 = ContinuousClock.now
            let reason: StopReason
            if try await store.summary(of: id) == nil {
                try await harness.create(
                    id, title: "W3", plan: w1Plan(steps), workspace: "/tmp", settings: w1Settings(steps))
                reason = try await harness.drive(id)
            } else {
                let state = try await harness.wake(id)
                let wakeMs = ms(ContinuousClock.now - t0)
                say(#"{"wake_ms":\#(round3(wakeMs))}"#)
                fflush(nil)
                reason =
                    state.isTerminal ? .finished : try await harness.drive(id, resumedBy: "bench w3 (pid \(getpid()))")
            }
            say(#"{"finished":\#(reason == .finished)}"#)
        }
    }
}

/// When this process started (ms since the epoch), from /proc.
func processStartMs() -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
        let uptime = try? String(contentsOfFile: "/proc/uptime", encoding: .utf8)
    else { return Date().timeIntervalSince1970 * 1000 }
    let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
    guard fields.count > 20, let ticks = Double(fields[19]), let up = Double(uptime.split(separator: " ")[0]) else {
        return Date().timeIntervalSince1970 * 1000
    }
    let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
    let bootMs = Date().timeIntervalSince1970 * 1000 - up * 1000
    return bootMs + ticks / hz * 1000
}

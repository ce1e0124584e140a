import ArgumentParser
import Foundation
import NightshiftCore
import NightshiftHarness
import NightshiftSQLite

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List runs, or show one run's tasks, attempts and token usage.")

    @OptionGroup var store: StoreOptions
    @Argument(help: "A run id; without it, every run is listed.") var run: String?

    mutating func run() async throws {
        try await reportErrors {
            let store = try Composition.openExistingStore(store)
            guard let run else {
                let runs = try await store.runs()
                if runs.isEmpty { say("no runs in \(self.store.db)"); return }
                say(pad("RUN", 22) + pad("STATUS", 10) + pad("EVENTS", 8) + pad("UPDATED", 21) + "TITLE")
                for r in runs {
                    say(pad(r.id.rawValue, 22) + pad(r.status.rawValue, 10) + pad("\(r.headSeq)", 8) + pad(date(r.updated), 21) + r.title)
                }
                return
            }
            let harness = Composition.harness(store: store, model: NoModel(), printer: nil)
            let state = try await harness.wake(RunID(run))
            say("run       \(state.run)  \(state.title)")
            say("status    \(state.status.rawValue)\(state.statusReason.map { " — \($0)" } ?? "")")
            say("model     \(state.model)\(state.model.hasPrefix("scripted:") ? "  (scripted test double)" : "")")
            say("workspace \(state.workspace)")
            say("events    \(state.lastSeq)   model calls \(state.modelCalls)   tool calls \(state.toolCalls)   resumes \(state.resumes)")
            say("tokens    \(state.usage.input) in, \(state.usage.output) out\(state.usage.cachedInput > 0 ? ", \(state.usage.cachedInput) cached" : "")")
            say("cost      \(costText(state.costPicoUSD, unpriced: state.ledger.reduce(0) { $0 + $1.unpricedCalls }))")
            if !state.ledger.isEmpty {
                say("")
                say(pad("ROLE", 10) + pad("CALLS", 7) + pad("RETRIES", 9) + pad("TOKENS IN", 11) + pad("CACHED", 9) + pad("OUT", 9) + "COST")
                for l in state.ledger {
                    say(pad(l.role, 10) + pad("\(l.calls)", 7) + pad("\(l.retries)", 9) + pad("\(l.usage.input)", 11)
                        + pad("\(l.usage.cachedInput)", 9) + pad("\(l.usage.output)", 9) + costText(l.costPicoUSD, unpriced: l.unpricedCalls))
                }
            }
            say("")
            say(pad("TASK", 24) + pad("STATUS", 10) + pad("ATTEMPTS", 10) + pad("TURNS", 8) + "TOKENS (in/out)")
            for t in state.tasks {
                say(pad(t.id.rawValue, 24) + pad(t.status.rawValue + (state.current.map { state.tasks[$0].id == t.id } == true ? "*" : ""), 10)
                      + pad("\(t.attempts)/\(state.settings.maxAttempts)", 10) + pad("\(t.turns)", 8) + "\(t.usage.input)/\(t.usage.output)")
            }
            if !state.unreportedInDoubt.isEmpty {
                say("\nin doubt: " + state.unreportedInDoubt.map { "\($0.call) (\($0.name))" }.joined(separator: ", "))
            }
        }
    }
}

/// "$0.012345", and how many calls had no price (their cost is unknown, not zero).
func costText(_ pico: Int64, unpriced: Int) -> String {
    Money.format(pico) + (unpriced > 0 ? " (+ \(unpriced) unpriced call\(unpriced == 1 ? "" : "s"))" : "")
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }

func date(_ t: Timestamp) -> String {
    let f = DateFormatter()
    f.dateFormat = "yyyy-MM-dd HH:mm:ss"
    f.timeZone = TimeZone(identifier: "UTC")
    return f.string(from: Date(timeIntervalSince1970: Double(t.milliseconds) / 1000))
}

struct Log: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a run's events as a timeline (or JSON lines), optionally following new ones live.")

    @OptionGroup var store: StoreOptions
    @Argument(help: "The run id.") var run: String
    @Flag(help: "One JSON object per event (run, seq, time, actor, kind, hash, event).") var json = false
    @Flag(name: .shortAndLong, help: "Keep printing new events until the run finishes, fails or pauses (Ctrl-C to stop).")
    var follow = false
    @Option(help: "Start after this sequence number.") var after: Int64 = 0

    mutating func run() async throws {
        try await reportErrors {
            let store = try Composition.openExistingStore(store)
            let id = RunID(run)
            guard try await store.summary(of: id) != nil else { throw CLIError("no run \(run) in \(self.store.db) (nightshift status lists the runs)") }
            let printer = TimelinePrinter(json: json)
            if let first = try await store.read(id, after: 0, limit: 1).first { printer.setStart(first.time) }
            var position = after
            while true {
                let page = try await store.read(id, after: position, limit: 500)
                page.forEach(printer.print)
                position = page.last?.seq ?? position
                if page.count == 500 { continue }
                guard follow else { return }
                if let s = try await store.summary(of: id), s.status != .running, s.headSeq == position { return }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }
}

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the tamper-evident record.", subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute a run's hash chain and report the first bad event, if any.",
            discussion: "Each event's hash is SHA-256(previous hash ‖ canonical bytes). Exit status 0 when every chain verifies, 2 when one does not.")

        @OptionGroup var store: StoreOptions
        @Argument(help: "The run id.") var run: String?
        @Flag(help: "Verify every run in the database.") var all = false

        func validate() throws {
            guard (run == nil) != !all else { throw ValidationError("give a run id or --all") }
        }

        mutating func run() async throws {
            let ok = try await reportErrors { () async throws -> Bool in
                let store = try Composition.openExistingStore(store)
                let ids = all ? try await store.runs().map(\.id) : [RunID(run!)]
                var ok = true
                for id in ids {
                    let report = try await store.verify(id)
                    if report.ok {
                        say("\(id): ok — \(report.events) events, head \(report.headHash.hex.prefix(16))…")
                    } else {
                        ok = false
                        say("\(id): BROKEN at event \(report.firstBadSeq!) — \(report.problem ?? "")")
                    }
                }
                return ok
            }
            if !ok { throw ExitCode(2) }
        }
    }
}

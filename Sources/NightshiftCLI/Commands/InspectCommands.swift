import ArgumentParser
import Foundation
import NightshiftCore
import NightshiftRuntime

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List runs, or show one run's tasks, attempts and token usage.")

    @OptionGroup var store: StoreOptions
    @Argument(help: "A run id; without it, every run is listed.", completion: RunIDCompletion.kind) var run: String?

    mutating func run() async throws {
        let damaged = try await reportErrors { () async throws -> Bool in
            let runtime = try store.runtime()
            guard let run else {
                let runs = try await runtime.runs()
                if runs.isEmpty {
                    say("no runs in \(self.store.dbPath)")
                    return false
                }
                say(pad("RUN", 22) + pad("STATUS", 10) + pad("EVENTS", 8) + pad("UPDATED", 21) + "TITLE")
                for r in runs {
                    say(
                        pad(r.id.rawValue, 22) + pad(r.status.rawValue, 10) + pad("\(r.headSeq)", 8)
                            + pad(date(r.updated), 21) + r.title)
                }
                return false
            }
            let view = try await runtime.status(of: RunID(run))
            let state = view.state
            say("run       \(state.run)  \(state.title)")
            say("status    \(state.status.rawValue)\(state.statusReason.map { " — \($0)" } ?? "")")
            if let need = state.waitsFor, let decide = PauseAdvice.decide(need.kind, run: state.run, call: need.call) {
                say("decide    \(decide)")
            }
            say("model     \(state.model)\(state.model.hasPrefix("scripted:") ? "  (scripted test double)" : "")")
            say("workspace \(state.workspace)")
            say(
                "events    \(state.lastSeq)   model calls \(state.spend.modelCalls)   tool calls \(state.toolCalls)   resumes \(state.resumes)"
            )
            if let lease = view.drivenBy {
                let since = Date(timeIntervalSince1970: Double(lease.since.milliseconds) / 1000).formatted(.iso8601)
                say("driven by \(lease.holder) since \(since) (lease \(lease.epoch))")
            }
            if let ignored = view.snapshotIgnored { say("snapshot  \(ignored)") }
            // The whole chain, by its hashes (not only the tail after the snapshot the state came from),
            // and the head witnessed beside the database: damage or a loss anywhere is said, exit 2.
            let chain = view.chain
            if let bad = chain.firstBadSeq {
                say(
                    "DAMAGED   the log does not verify at event \(bad) (\(chain.problem ?? "broken chain")); "
                        + "nightshift audit verify \(run) says more")
            } else {
                say("checked   every event (1–\(state.lastSeq)) against the chain by its hashes")
            }
            if let rollback = view.rollback { say("ROLLED BACK  \(rollback)") }
            say(
                "tokens    \(state.usage.input) in, \(state.usage.output) out\(state.usage.cachedInput > 0 ? ", \(state.usage.cachedInput) cached" : "")"
            )
            say(
                "cost      \(costText(state.costPicoUSD, unpriced: state.spend.ledger.reduce(0) { $0 + $1.unpricedCalls }))"
            )
            if let parent = state.settings.parent {
                say("parent    \(parent.run) (spawned by its call \(parent.call), depth \(parent.depth))")
            }
            if let t = state.settings.trigger {
                let what =
                    switch t.kind {
                    case .api: "the API (token \(t.name))"
                    case .webhook: "webhook \(t.name)"
                    case .schedule: "schedule \(t.name)"
                    }
                say("started   by \(what), as \(t.by)" + (t.detail.map { ", \($0)" } ?? ""))
            }
            if let sandbox = state.settings.sandbox {
                say(
                    "sandbox   "
                        + (sandbox.unsandboxed
                            ? "UNSANDBOXED (by \(sandbox.unsandboxedBy ?? "the run's settings"))"
                            : "commands sandboxed")
                        + (sandbox.allowNetwork ? ", network allowed" : "")
                        + (sandbox.readOnly.isEmpty ? "" : ", read-only: \(sandbox.readOnly.joined(separator: ", "))"))
            }
            // Every setting in force when the run started, and where it came from.
            if let sources = state.settings.sources, !sources.isEmpty {
                say("settings  as recorded when the run started (value, then where it came from):")
                for s in sources where s.source != "default" { say("          \(s.key) = \(s.value)    # \(s.source)") }
            }
            if let tree = view.fleet {
                say("")
                say(
                    pad("SUB-AGENTS", 34) + pad("PROFILE", 12) + pad("STATUS", 13) + pad("STEPS", 7) + pad("TOKENS", 10)
                        + "COST")
                func show(_ node: FleetTree, _ indent: String) {
                    for c in node.children {
                        let steps = "\(c.total.steps)" + (c.reservation?.steps.map { "/\($0)" } ?? "")
                        say(
                            pad(indent + c.run.rawValue, 34) + pad(c.profile ?? "-", 12) + pad(c.status, 13)
                                + pad(steps, 7) + pad("\(c.total.tokens)", 10) + Money.format(c.total.costPicoUSD))
                        show(c, indent + "  ")
                    }
                }
                show(tree, "")
                let t = tree.total
                say(
                    "fleet     \(t.steps) steps, \(t.tokens) tokens, \(t.toolCalls) tool calls, \(Money.format(t.costPicoUSD)) "
                        + "in total (this run and every sub-agent under it)")
            }
            if !state.spend.ledger.isEmpty {
                say("")
                say(
                    pad("ROLE", 10) + pad("CALLS", 7) + pad("RETRIES", 9) + pad("TOKENS IN", 11) + pad("CACHED", 9)
                        + pad("OUT", 9) + "COST")
                for l in state.spend.ledger {
                    say(
                        pad(l.role.rawValue, 10) + pad("\(l.calls)", 7) + pad("\(l.retries)", 9)
                            + pad("\(l.usage.input)", 11)
                            + pad("\(l.usage.cachedInput)", 9) + pad("\(l.usage.output)", 9)
                            + costText(l.costPicoUSD, unpriced: l.unpricedCalls))
                }
            }
            say("")
            if state.settings.loop != nil {
                var parts: [String] = []
                if state.goal != nil {
                    parts.append(
                        "plan version \(state.planning.planVersion)"
                            + (state.planning.planApproved ? " (approved)" : ""))
                }
                if !state.planning.baselineExit.isEmpty {
                    parts.append(
                        "baseline \(state.baselineChecks().filter(state.passedAtBaseline).count)/\(state.planning.baselineExit.count) passing"
                    )
                }
                parts.append(
                    "shift \(state.shiftState.shifts), \(state.shiftState.compactions) compactions, context ~\(state.contextEstimate()) tokens"
                )
                say("loop      " + parts.joined(separator: "; "))
            }
            say(
                pad("TASK", 24) + pad("STATUS", 10) + pad("ATTEMPTS", 10) + pad("TURNS", 8) + pad("JUDGE", 16)
                    + "TOKENS (in/out)")
            for t in state.tasks {
                say(
                    pad(t.id.rawValue, 24)
                        + pad(
                            t.status.rawValue + (state.current.map { state.tasks[$0].id == t.id } == true ? "*" : ""),
                            10)
                        + pad("\(t.attempts)/\(state.settings.maxAttempts)", 10) + pad("\(t.turns)", 8)
                        + pad(t.verdicts.isEmpty ? "-" : t.verdicts.map(\.rawValue).joined(separator: ","), 16)
                        + "\(t.usage.input)/\(t.usage.output)")
            }
            if !state.pending.unreportedInDoubt.isEmpty {
                say(
                    "\nin doubt: "
                        + state.pending.unreportedInDoubt.map { "\($0.call) (\($0.name))" }.joined(separator: ", "))
            }
            return view.damaged
        }
        // As `audit verify`: a log that does not verify, or went back, is not a status to exit 0 on.
        if damaged { throw ExitCode(2) }
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
    @Argument(help: "The run id.", completion: RunIDCompletion.kind) var run: String
    @Flag(help: "One JSON object per event (run, seq, time, actor, kind, hash, event).") var json = false
    @Flag(
        name: .shortAndLong, help: "Keep printing new events until the run finishes, fails or pauses (Ctrl-C to stop).")
    var follow = false
    @Option(help: "Start after this sequence number.") var after: Int64 = 0

    mutating func run() async throws {
        try await reportErrors {
            let (start, events) = try await store.runtime().events(of: RunID(run), after: after, follow: follow)
            let printer = TimelinePrinter(json: json)
            if let start { printer.setStart(start) }
            for try await event in events {
                printer.print(event)
            }
        }
    }
}

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check and export the tamper-evident record.", subcommands: [Verify.self, Export.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute a run's hash chain and report the first bad event, if any.",
            discussion: """
                Each event's hash is SHA-256(previous hash ‖ canonical bytes). With --checkpoint (a file `audit export` \
                wrote), also proves the log was not truncated or rolled back since: the checkpoint's signature must verify \
                with the local audit key, and the log must still hold its event with its hash. Exit status 0 when \
                everything verifies, 2 when something does not.
                """)

        @OptionGroup var store: StoreOptions
        @Argument(help: "The run id.", completion: RunIDCompletion.kind) var run: String?
        @Flag(help: "Verify every run in the database.") var all = false
        @Option(
            help: ArgumentHelp(
                "A signed checkpoint (an export, or a checkpoint file) to check the log against.", valueName: "FILE"))
        var checkpoint: String?
        @Option(
            help: ArgumentHelp(
                "The audit key whose public half is trusted (default: ~/.config/nightshift/audit-ed25519.key).",
                valueName: "FILE"))
        var key: String?
        @Option(
            help: ArgumentHelp("Trust this Ed25519 public key (hex) instead of the local key file.", valueName: "HEX"))
        var publicKey: String?

        func validate() throws {
            guard (run == nil) != !all else { throw ValidationError("give a run id or --all") }
            if checkpoint != nil, all {
                throw ValidationError("--checkpoint checks one run: give its id instead of --all")
            }
        }

        mutating func run() async throws {
            let ok = try await reportErrors { () async throws -> Bool in
                let request = AuditVerify.Request(
                    runs: all ? nil : [RunID(run!)], checkpoint: checkpoint, publicKey: publicKey, keyFile: key)
                let findings = try await store.runtime().verify(request)
                for finding in findings { say(finding.line) }
                return findings.allSatisfy(\.ok)
            }
            if !ok { throw ExitCode(2) }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a run's full record as JSON lines, ending with a signed checkpoint of its head.",
            discussion: """
                One line per event (decisions, approvals, costs and all: `nightshift log --json` lines), a summary line, \
                then {"checkpoint": …}: the run, head seq and hash, signed with Ed25519. The key is made on first use \
                at ~/.config/nightshift/audit-ed25519.key (mode 0600), outside the database. Keep the export (or just \
                its last line) somewhere else; `nightshift audit verify RUN --checkpoint FILE` later proves the log was \
                not truncated or rolled back.
                """)

        @OptionGroup var store: StoreOptions
        @Argument(help: "The run id.", completion: RunIDCompletion.kind) var run: String
        @Option(help: "The format; only jsonl.") var format: String = "jsonl"
        @Option(help: ArgumentHelp("Write here instead of stdout.", valueName: "FILE")) var out: String?
        @Option(help: ArgumentHelp("The audit key (made if missing).", valueName: "FILE")) var key: String?

        func validate() throws {
            guard format == "jsonl" else { throw ValidationError("--format: only jsonl is supported") }
        }

        mutating func run() async throws {
            try await reportErrors {
                let export = try await store.runtime().export(RunID(run), keyFile: key)
                let text = export.text
                if let out {
                    do { try Data(text.utf8).write(to: URL(fileURLWithPath: out), options: .atomic) } catch {
                        throw CLIError("cannot write \(out): \(error.localizedDescription)")
                    }
                    writeErr(
                        "exported \(export.events) events of \(run) to \(out), signed at event \(export.signedSeq)\n")
                } else {
                    writeOut(text)
                }
            }
        }
    }
}

import ArgumentParser
import Crypto
import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftHarness
import NightshiftRuntime
import NightshiftSQLite

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List runs, or show one run's tasks, attempts and token usage.")

    @OptionGroup var store: StoreOptions
    @Argument(help: "A run id; without it, every run is listed.", completion: RunIDCompletion.kind) var run: String?

    mutating func run() async throws {
        let damaged = try await reportErrors { () async throws -> Bool in
            let store = try Adapters.openExistingStore(try store.resolved())
            guard let run else {
                let runs = try await store.runs()
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
            var damaged = false
            let state = try await store.state(of: RunID(run))
            say("run       \(state.run)  \(state.title)")
            say("status    \(state.status.rawValue)\(state.statusReason.map { " — \($0)" } ?? "")")
            say("model     \(state.model)\(state.model.hasPrefix("scripted:") ? "  (scripted test double)" : "")")
            say("workspace \(state.workspace)")
            say(
                "events    \(state.lastSeq)   model calls \(state.spend.modelCalls)   tool calls \(state.toolCalls)   resumes \(state.resumes)"
            )
            if let record = try await store.leaseRecord(of: RunID(run)), !record.released,
                !record.isFree(
                    now: SQLiteEventStore.systemNow(), ttl: Leasing.leaseTTL, isAlive: LocalProcess.isAlive)
            {
                let since = Date(timeIntervalSince1970: Double(record.lease.since.milliseconds) / 1000).formatted(
                    .iso8601)
                say("driven by \(record.lease.holder) since \(since) (lease \(record.lease.epoch))")
            }
            let ignored = try await store.snapshotIgnored(RunID(run))
            if let ignored { say("snapshot  \(ignored)") }
            // The whole chain, by its hashes (not only the tail after the snapshot the state came from),
            // and the head witnessed beside the database: damage or a loss anywhere is said, exit 2.
            let chain = try await store.verifyChain(RunID(run))
            if let bad = chain.firstBadSeq {
                damaged = true
                say(
                    "DAMAGED   the log does not verify at event \(bad) (\(chain.problem ?? "broken chain")); "
                        + "nightshift audit verify \(run) says more")
            } else {
                say("checked   every event (1–\(state.lastSeq)) against the chain by its hashes")
            }
            if let rollback = try await Leasing.rollback(RunID(run), store: store) {
                damaged = true
                say("ROLLED BACK  \(rollback.message)")
            }
            say(
                "tokens    \(state.usage.input) in, \(state.usage.output) out\(state.usage.cachedInput > 0 ? ", \(state.usage.cachedInput) cached" : "")"
            )
            say(
                "cost      \(costText(state.costPicoUSD, unpriced: state.spend.ledger.reduce(0) { $0 + $1.unpricedCalls }))"
            )
            if let parent = state.settings.parent {
                say("parent    \(parent.run) (spawned by its call \(parent.call), depth \(parent.depth))")
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
            if !state.fleet.children.isEmpty {
                let tree = try await FleetTree.load(state.run, store: store)
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
            return damaged
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
            let store = try Adapters.openExistingStore(try store.resolved())
            let id = RunID(run)
            guard try await store.summary(of: id) != nil else {
                throw CLIError("no run \(run) in \(self.store.dbPath) (nightshift status lists the runs)")
            }
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
                let store = try Adapters.openExistingStore(try store.resolved())
                let ids = all ? try await store.runs().map(\.id) : [RunID(run!)]
                var ok = true
                // Runs the database lost entirely, that only their head witness remembers.
                let known = Set(try await store.runs().map(\.id))
                for id in (all ? try await store.witnessedRuns() : ids) where !known.contains(id) {
                    if let lost = try await Leasing.lostRun(id, store: store) {
                        ok = false
                        say("\(id): LOST — \(lost)")
                    }
                }
                for id in ids {
                    // With a checkpoint, a run that is gone is the extreme of a rollback: a verdict, not an error.
                    if let checkpoint, try await store.summary(of: id) == nil, let c = try? Checkpoint.read(checkpoint)
                    {
                        say("\(id): MISSING — the checkpoint saw \(c.seq) events; this database has no such run")
                        ok = false
                        continue
                    }
                    guard known.contains(id) else {
                        if try await store.witnessedHead(of: id) == nil {
                            throw CLIError("no run \(id) in \(self.store.dbPath) (nightshift status lists the runs)")
                        }
                        continue  // reported as LOST above
                    }
                    let report = try await store.verify(id)
                    let rollback = try await Leasing.rollback(id, store: store)
                    if let rollback {
                        ok = false
                        say("\(id): ROLLED BACK — \(rollback.message)")
                    }
                    let snapshot = report.ok ? try await store.snapshotDisagreement(id) : nil
                    if rollback != nil, report.ok {
                        // The chain of what is left verifies; the run is not ok, and is not said to be.
                    } else if let snapshot {
                        ok = false
                        say(
                            "\(id): SNAPSHOT DISAGREES — \(snapshot) (every reader ignores it and folds the log; the chain itself is intact)"
                        )
                    } else if report.ok {
                        say("\(id): ok — \(report.events) events, head \(report.headHash.hex.prefix(16))…")
                    } else {
                        ok = false
                        say("\(id): BROKEN at event \(report.firstBadSeq!) — \(report.problem ?? "")")
                    }
                }
                if all {
                    // The memory bank's log is chained like a run's: its records are checked too.
                    let memory = try await SQLiteMemoryStore(sharing: store).verifyLog()
                    if let bad = memory.firstBad {
                        ok = false
                        say(
                            "memory log: BROKEN at record \(bad) — a record does not match its hash or the one before it"
                        )
                    } else {
                        say("memory log: ok — \(memory.records) records")
                    }
                }
                if let checkpoint, let id = ids.first {
                    let c = try Checkpoint.read(checkpoint)
                    let trusted: Curve25519.Signing.PublicKey
                    if let publicKey {
                        guard let raw = Data(hex: publicKey),
                            let k = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
                        else {
                            throw CLIError("--public-key must be 64 hex digits")
                        }
                        trusted = k
                    } else {
                        trusted = try AuditKey.load(key ?? AuditKey.defaultPath, create: false).publicKey
                    }
                    if c.run != id.rawValue { throw CLIError("the checkpoint is for run \(c.run), not \(id)") }
                    if let bad = c.verifySignature(trusted: trusted) {
                        ok = false
                        say("\(id): CHECKPOINT REJECTED — \(bad)")
                    } else {
                        let head = try await store.summary(of: id)?.headSeq ?? 0
                        var at: EventEnvelope?
                        var unreadable: String?
                        do {
                            at = head < c.seq ? nil : try await store.read(id, after: c.seq - 1, limit: 1).first
                        } catch let error as StoreError where error.code == .corrupt {
                            unreadable = error.message
                        }
                        if let unreadable {
                            ok = false
                            say(
                                "\(id): CHECKPOINT NOT MATCHED — the signed event \(c.seq) cannot be read: \(unreadable)"
                            )
                        } else if at == nil {
                            ok = false
                            say(
                                "\(id): TRUNCATED — the checkpoint of \(Date(timeIntervalSince1970: Double(c.time) / 1000)) saw \(c.seq) events; the log now has \(head)"
                            )
                        } else if at?.hash.hex != c.hash {
                            ok = false
                            say(
                                "\(id): ROLLED BACK OR REWRITTEN — event \(c.seq) no longer has the hash the checkpoint signed"
                            )
                        } else {
                            say(
                                "\(id): checkpoint ok — event \(c.seq) still has the signed hash; \(head - c.seq) events since"
                            )
                        }
                    }
                }
                return ok
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
                let store = try Adapters.openExistingStore(try store.resolved())
                let id = RunID(run)
                guard try await store.summary(of: id) != nil else {
                    throw CLIError("no run \(run) in \(self.store.dbPath) (nightshift status lists the runs)")
                }
                let report = try await store.verify(id)
                guard report.ok else {
                    throw CLIError(
                        "run \(run) does not verify (event \(report.firstBadSeq ?? 0): \(report.problem ?? "")); not signing it"
                    )
                }
                let envelopes = try await store.readAll(id)
                let state = try RunState.fold(id, envelopes)
                let signingKey = try AuditKey.load(key ?? AuditKey.defaultPath, create: true)
                var text = ""
                for e in envelopes { text += JSONLine.render(e) + "\n" }
                let summary: [String: Any] = [
                    "summary": [
                        "run": run, "events": envelopes.count, "status": state.status.rawValue,
                        "costPicoUSD": state.costPicoUSD, "inputTokens": state.usage.input,
                        "outputTokens": state.usage.output, "toolCalls": state.toolCalls,
                        "policyHash": state.gate.policyHash ?? "", "guidanceHash": state.gate.guidanceHash ?? "",
                    ]
                ]
                text +=
                    String(
                        decoding: try JSONSerialization.data(
                            withJSONObject: summary, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
                    + "\n"
                let checkpoint = try Checkpoint.make(run: id, seq: state.lastSeq, hash: state.lastHash, key: signingKey)
                struct Line: Encodable { var checkpoint: Checkpoint }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                text += String(decoding: try encoder.encode(Line(checkpoint: checkpoint)), as: UTF8.self) + "\n"
                if let out {
                    do { try Data(text.utf8).write(to: URL(fileURLWithPath: out), options: .atomic) } catch {
                        throw CLIError("cannot write \(out): \(error.localizedDescription)")
                    }
                    writeErr(
                        "exported \(envelopes.count) events of \(run) to \(out), signed at event \(state.lastSeq)\n")
                } else {
                    writeOut(text)
                }
            }
        }
    }
}

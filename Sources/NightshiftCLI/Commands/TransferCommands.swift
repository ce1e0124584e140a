import ArgumentParser
import Foundation
import NightshiftCore
import NightshiftRuntime

/// `nightshift export`: a run and its sub-agents as one signed file another store can import.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a run and its sub-agents as a signed file `nightshift import` reads into another store.",
        discussion: """
            JSON lines of every stored record exactly as it is (the canonical bytes each hash covers, base64, with \
            its seq, time and hash), every blob the records refer to, and each run's head in a checkpoint signed \
            with the audit key (~/.config/nightshift/audit-ed25519.key, made on first use). A fleet moves as a \
            tree: the run's sub-agents come with it, recursively. A log that does not verify is not exported.
            """)

    @OptionGroup var store: StoreOptions
    @Argument(help: "The run id.", completion: RunIDCompletion.kind) var run: String
    @Option(help: ArgumentHelp("Write here instead of stdout.", valueName: "FILE")) var out: String?
    @Option(help: ArgumentHelp("The audit key that signs it (made if missing).", valueName: "FILE")) var key: String?

    mutating func run() async throws {
        try await reportErrors {
            let exported = try await store.runtime().exportTree(RunID(run), keyFile: key)
            guard let out else {
                FileHandle.standardOutput.write(exported.data)
                return
            }
            do { try exported.data.write(to: URL(fileURLWithPath: out), options: .atomic) } catch {
                throw CLIError("cannot write \(out): \(error.localizedDescription)")
            }
            let others = exported.runs.count - 1
            say(
                "exported run \(run)\(others > 0 ? " and \(others) sub-agent\(others == 1 ? "" : "s")" : "") "
                    + "(\(exported.events) events) to \(out)")
            say("signed by the audit key \(exported.publicKey)")
            say("import it elsewhere with: nightshift import \(out) --trust-key \(exported.publicKey)")
        }
    }
}

/// `nightshift import`: an export's runs written into this store, all checked first, all or none.
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Write the runs of a `nightshift export` file into this store, after checking all of it.",
        discussion: """
            Nothing of the file is believed but what verifies: every hash is recomputed from the first event, every \
            blob checked against its key, every run's checkpoint signature checked against ONE trusted key (the \
            local audit key, or the one --trust-key names; a file signed by any other is refused), and the fleet \
            tree must be whole. Then the runs are written in one transaction with their original seqs, times and \
            hashes, or not at all; a run already in this store is refused. Nothing is driven: a run that was running \
            stays so, and `nightshift resume RUN` continues it here (its calls in flight are in doubt, as after a \
            crash); a paused run a person decided on is found by `nightshift worker`.
            """)

    @OptionGroup var store: StoreOptions
    @Argument(help: "The export file.") var file: String
    @Option(
        help: ArgumentHelp(
            "Trust this Ed25519 public key (hex), which `nightshift export` printed, instead of the local audit key.",
            valueName: "PUBLICKEY"))
    var trustKey: String?
    @Option(
        help: ArgumentHelp(
            "The audit key whose public half is trusted (default: ~/.config/nightshift/audit-ed25519.key).",
            valueName: "FILE"))
    var key: String?

    mutating func run() async throws {
        try await reportErrors {
            // A new database may be made: importing is a way to start one.
            let runtime = Runtime(.init(store: try store.resolved(), createsDatabase: true), logger: .commandLine)
            let imported = try await runtime.importRuns(
                from: file, trust: RunTransfer.Trust(publicKey: trustKey, keyFile: key))
            let root = imported.runs[0]
            let others = imported.runs.count - 1
            say(
                "imported run \(root.id) (\(root.status.rawValue))"
                    + "\(others > 0 ? " and \(others) sub-agent\(others == 1 ? "" : "s")" : ""), \(imported.events) events"
            )
            for r in imported.runs where r.status == .running || r.status == .paused {
                say("  \(r.id) is \(r.status.rawValue): nightshift resume \(r.id)\(store.again) continues it")
            }
        }
    }
}

/// `nightshift prune`: ended runs leave the database once exported, with a record of each.
struct PruneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Export, then delete, finished and failed runs whose last event is before a date.",
        discussion: """
            Each top-level run with its sub-agents (a tree) is pruned whole, and only when every run in it has \
            finished or failed before DATE: a running or paused run, a sub-agent of a run that has not ended, and a \
            run with a sub-agent that has not are kept. For each tree a signed export (as `nightshift export` \
            writes) goes to DIR first and is synced to disk; then, in one transaction, its runs' events, the blobs no \
            other run refers to, snapshots, queue and index entries are deleted and a line per run is added to the \
            retention log (run, head seq and hash, export file and its SHA-256, time, who). A prune killed at any \
            point leaves each run whole or pruned and logged; run it again to finish. `nightshift import FILE` \
            brings a tree back. `--list` shows the retention log.
            """)

    @OptionGroup var store: StoreOptions
    @Option(
        help: ArgumentHelp(
            "Prune runs whose last event is before this: 2026-01-31 (midnight UTC), 2026-01-31T12:00:00Z, or an age "
                + "such as 90d.", valueName: "DATE"))
    var finishedBefore: String?
    @Option(
        help: ArgumentHelp(
            "Where the exports go (default: pruned/ beside the SQLite database; required for PostgreSQL).",
            valueName: "DIR"))
    var exports: String?
    @Flag(help: "Say what would be pruned; export and delete nothing.") var dryRun = false
    @Flag(help: "Show the retention log: every run pruned from this database.") var list = false
    @Option(help: ArgumentHelp("The audit key that signs the exports (made if missing).", valueName: "FILE"))
    var key: String?

    func validate() throws {
        guard list != (finishedBefore != nil) else {
            throw ValidationError("give --finished-before DATE, or --list")
        }
        if let finishedBefore { _ = try Self.date(finishedBefore) }
    }

    /// The instant a person's DATE names.
    static func date(_ text: String, now: Date = Date()) throws -> Timestamp {
        let date: Date?
        if let last = text.last, "dhm".contains(last), let age = try? parseAge(text, option: "--finished-before") {
            date = now.addingTimeInterval(-Double(age.components.seconds))
        } else {
            let day = ISO8601DateFormatter()
            day.formatOptions = [.withFullDate]
            let full = ISO8601DateFormatter()
            let fractional = ISO8601DateFormatter()
            fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            date =
                text.count == 10 ? day.date(from: text) : full.date(from: text) ?? fractional.date(from: text)
        }
        guard let date else {
            throw ValidationError(
                "--finished-before: '\(text)' is not a date like 2026-01-31, 2026-01-31T12:00:00Z or an age like 90d")
        }
        return Timestamp(milliseconds: Int64((date.timeIntervalSince1970 * 1000).rounded()))
    }

    mutating func run() async throws {
        try await reportErrors {
            let runtime = try store.runtime()
            if list {
                let log = try await runtime.prunings()
                if log.isEmpty { say("no run was pruned from this database") }
                for p in log {
                    let when = Date(timeIntervalSince1970: Double(p.time.milliseconds) / 1000).formatted(.iso8601)
                    say(
                        "\(when)  \(p.run)\(p.root == p.run ? "" : " (in \(p.root))")  event \(p.headSeq) "
                            + "head \(p.headHash.prefix(16))…  by \(p.by)  \(p.exportFile) sha256 \(p.exportSHA256)")
                }
                return
            }
            let before = try Self.date(finishedBefore!)
            let trees = try await runtime.prune(
                PruneRuns.Request(
                    before: before, exports: exports, dryRun: dryRun, keyFile: key, by: Governance.user))
            var pruned = 0
            for tree in trees {
                let last = Date(timeIntervalSince1970: Double(tree.lastEvent.milliseconds) / 1000).formatted(.iso8601)
                let others = tree.runs.count - 1
                let what = "\(tree.root)\(others > 0 ? " and \(others) sub-agent\(others == 1 ? "" : "s")" : "")"
                if let kept = tree.kept {
                    say("kept \(what): \(kept)")
                } else if let file = tree.file {
                    pruned += tree.runs.count
                    say("pruned \(what) (last event \(last)): \(file)")
                } else {
                    say("would prune \(what) (last event \(last))")
                }
            }
            if trees.isEmpty {
                say("no run that ended before \(finishedBefore!) is left to prune")
            } else if !dryRun {
                say("pruned \(pruned) run\(pruned == 1 ? "" : "s"); `nightshift prune --list\(store.again)` shows them")
            }
        }
    }
}

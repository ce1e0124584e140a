import ArgumentParser
import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftRuntime

/// `nightshift memory …`: the memory bank by hand. Every change is a record of the memory log,
/// made by the OS user; nothing overwrites a version it did not name.
struct MemoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory",
        abstract:
            "Long-term memories: add, list, show, search, revise, expire, export and import them; review proposals and dreams.",
        discussion: """
            A memory is a short text (a fact, lesson, preference or procedure) in a scope: user:NAME, \
            agent:PROFILE or project:PATH. Every change is a record of a hash-chained memory log in the \
            run database, with who made it; a revision names the version it replaces, and a stale one is \
            refused. Expired and deleted memories leave search but stay in the log.
            """,
        subcommands: [
            MemoryAdd.self, MemoryList.self, MemoryShow.self, MemorySearch.self, MemoryRevise.self, MemoryExpire.self,
            MemoryExport.self, MemoryImport.self, MemoryProposals.self, MemoryAccept.self, MemoryDecline.self,
            MemoryDreams.self,
        ])
}

/// Options every memory command takes.
struct MemoryOptions: ParsableArguments {
    @OptionGroup var store: StoreOptions
    @Flag(help: "Print JSON (one object, or one per line for lists).") var json = false

    func bank() throws -> MemoryBank { try MemoryBank.open(try store.resolved(), by: Governance.user) }
}

enum MemoryText {
    static func scope(_ text: String) throws -> MemoryScope {
        guard let s = MemoryScope(parsing: text) else {
            throw ValidationError("'\(text)' is not a scope: user:NAME, agent:PROFILE or project:PATH")
        }
        return s
    }

    static func kind(_ text: String) throws -> MemoryKind {
        guard let k = MemoryKind(rawValue: text) else {
            throw ValidationError(
                "'\(text)' is not a kind: \(MemoryKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return k
    }

    /// One line on a decided proposal.
    static func decided(_ d: MemoryBank.Decision) -> String {
        guard d.accepted else { return "declined \(d.proposal); it cannot be accepted later" }
        if case let .guidance(file, _, _, _, _)? = d.dreamt?.proposal.action {
            return "accepted \(d.proposal): \(file) edited"
        }
        return "accepted \(d.proposal): "
            + d.memories.map { "\($0.id) \($0.expired ? "expired" : "v\($0.version)") in \($0.scope)" }.joined(
                separator: ", ")
    }

    /// What a dream's model call used and cost, as "; N tokens, $X" (empty when not reported).
    static func spent(_ d: Dream) -> String {
        d.usage.map { u in "; \(u.input + u.output) tokens" + (d.costPicoUSD.map { ", \(Money.format($0))" } ?? "") }
            ?? ""
    }

    /// A log time (ms since the epoch) as an ISO 8601 UTC time.
    static func time(_ ms: Int64) -> String {
        Date(timeIntervalSince1970: Double(ms) / 1000).formatted(.iso8601)
    }

    static func json<T: Encodable>(_ value: T) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? e.encode(value)) ?? Data("null".utf8), as: UTF8.self)
    }

    static func line(_ m: Memory) -> String {
        let state = m.deleted ? " (deleted)" : m.expired ? " (expired)" : ""
        return
            "\(m.id)  v\(m.version)  \(m.kind)  \(m.scope)\(state)\n    \(m.text.replacingOccurrences(of: "\n", with: "\n    "))"
            + (m.tags.isEmpty ? "" : "\n    tags: \(m.tags.joined(separator: ", "))")
    }
}

struct MemoryAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a memory.")
    @OptionGroup var options: MemoryOptions
    @Option(help: ArgumentHelp("Whose memory: user:NAME, agent:PROFILE or project:PATH.", valueName: "SCOPE"))
    var scope: String
    @Option(help: "fact, lesson, preference or procedure (default lesson).") var kind = "lesson"
    @Option(name: .customLong("tag"), help: "A tag (repeatable).") var tags: [String] = []
    @Option(help: ArgumentHelp("Leave the context after this many days.", valueName: "DAYS")) var expiresIn: Int?
    @Argument(help: "The memory's text (at most 2000 bytes).") var text: String

    func validate() throws {
        _ = try MemoryText.scope(scope)
        _ = try MemoryText.kind(kind)
        if let d = expiresIn, !(1...36_500).contains(d) { throw ValidationError("--expires-in must be 1 … 36500 days") }
    }

    mutating func run() async throws {
        try await reportErrors {
            let expires = expiresIn.map { Int64(Date().timeIntervalSince1970 * 1000) + Int64($0) * 86_400_000 }
            let m = try await options.bank().add(
                text, kind: try MemoryText.kind(kind), scope: try MemoryText.scope(scope), tags: tags, expires: expires)
            say(options.json ? MemoryText.json(m) : "added \(m.id) (version 1)")
        }
    }
}

struct MemoryList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List memories, newest first.")
    @OptionGroup var options: MemoryOptions
    @Option(name: .customLong("scope"), help: "Only this scope (repeatable).") var scopes: [String] = []
    @Flag(help: "Expired and deleted memories too.") var all = false
    @Flag(
        help:
            "Only memories whose tasks failed more often than others (shown for 3 or more tasks that ended, half or more blocked, a quarter above the rest)."
    )
    var flagged = false

    mutating func run() async throws {
        try await reportErrors {
            if flagged {
                let list = try await options.bank().flagged()
                if options.json {
                    struct Flagged: Encodable {
                        var memory: Memory
                        var use: MemoryBank.Use
                    }
                    for (m, u) in list { say(MemoryText.json(Flagged(memory: m, use: u))) }
                } else if list.isEmpty {
                    say("no memory is flagged")
                } else {
                    for (m, u) in list {
                        say(MemoryText.line(m))
                        say(
                            "    shown \(u.shown) times; \(u.failed) of the \(u.ended) tasks it was shown for ended blocked"
                        )
                    }
                }
                return
            }
            let scopes = try scopes.map(MemoryText.scope)
            let list = try await options.bank().list(scopes: scopes.isEmpty ? nil : scopes, includeGone: all)
            if options.json {
                for m in list { say(MemoryText.json(m)) }
            } else if list.isEmpty {
                say("no memories")
            } else {
                for m in list { say(MemoryText.line(m)) }
            }
        }
    }
}

struct MemoryShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show a memory and every record of its history, with provenance.")
    @OptionGroup var options: MemoryOptions
    @Argument(help: "The memory's id (mem-…).") var id: String

    mutating func run() async throws {
        try await reportErrors {
            let (m, history) = try await options.bank().show(MemoryID(id))
            if options.json {
                struct Shown: Encodable {
                    var memory: Memory
                    var history: [MemoryRecord]
                }
                say(MemoryText.json(Shown(memory: m, history: history)))
                return
            }
            say(MemoryText.line(m))
            say("    source: \(m.source.summary)")
            if let reason = m.goneReason { say("    \(m.deleted ? "deleted" : "expired"): \(reason)") }
            for r in history {
                let when = MemoryText.time(r.time)
                say("  #\(r.seq) \(when) \(r.change.kindName)  \(r.hash.prefix(12))")
            }
        }
    }
}

struct MemorySearch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract:
            "Search live memories, best first: by their words (BM25), fused with vector search when the configuration names embeddings."
    )
    @OptionGroup var options: MemoryOptions
    @Option(name: .customLong("scope"), help: "Only this scope (repeatable).") var scopes: [String] = []
    @Option(help: "How many (default 5).") var limit = 5
    @Argument(help: "What to look for.") var query: String

    func validate() throws {
        guard (1...100).contains(limit) else { throw ValidationError("--limit must be 1 … 100") }
    }

    mutating func run() async throws {
        try await reportErrors {
            let scopes = try scopes.map(MemoryText.scope)
            let settings = try options.store.settings()
            var config = settings.store
            config.lockTimeoutSeconds = options.store.lockTimeout
            let hits = try await MemoryBank.withSearch(
                config, by: Governance.user, embeddings: settings.text(.embeddings),
                minSimilarity: settings.share(.embeddingsMinSimilarity), models: try settings.modelConfig()
            ) { bank in
                try await bank.search(query, scopes: scopes.isEmpty ? nil : scopes, limit: limit)
            }
            if options.json {
                for m in hits { say(MemoryText.json(m)) }
            } else if hits.isEmpty {
                say("no memory matches")
            } else {
                for m in hits { say(MemoryText.line(m)) }
            }
        }
    }
}

struct MemoryRevise: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revise",
        abstract: "Make a new version of a memory.",
        discussion: """
            --version is the version you read (nightshift memory show): if someone revised it since, \
            the revision is refused, never applied over theirs.
            """)
    @OptionGroup var options: MemoryOptions
    @Argument(help: "The memory's id.") var id: String
    @Option(help: "The version this revision replaces.") var version: Int
    @Option(help: "The new text (default: unchanged).") var text: String?
    @Option(name: .customLong("tag"), help: "The new tags (repeatable; default: unchanged).") var tags: [String] = []

    mutating func run() async throws {
        try await reportErrors {
            let m = try await options.bank().revise(
                MemoryID(id), version: version, text: text, tags: tags.isEmpty ? nil : tags)
            say(options.json ? MemoryText.json(m) : "revised \(m.id): now version \(m.version)")
        }
    }
}

struct MemoryExpire: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "expire", abstract: "Take a memory out of search and context (it stays in the log).")
    @OptionGroup var options: MemoryOptions
    @Argument(help: "The memory's id.") var id: String
    @Option(help: "Why.") var reason: String
    @Flag(help: "Record it as deleted rather than expired.") var delete = false

    mutating func run() async throws {
        try await reportErrors {
            let bank = try options.bank()
            let m =
                delete
                ? try await bank.delete(MemoryID(id), reason: reason)
                : try await bank.expire(MemoryID(id), reason: reason)
            say(options.json ? MemoryText.json(m) : "\(delete ? "deleted" : "expired") \(m.id)")
        }
    }
}

struct MemoryExport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write live memories as JSON lines (id, kind, scope, text, tags, source).")
    @OptionGroup var options: MemoryOptions
    @Option(name: .customLong("scope"), help: "Only this scope (repeatable).") var scopes: [String] = []
    @Option(help: ArgumentHelp("Write to this file instead of standard output.", valueName: "FILE")) var out: String?

    mutating func run() async throws {
        try await reportErrors {
            let scopes = try scopes.map(MemoryText.scope)
            let text = try await options.bank().export(scopes: scopes.isEmpty ? nil : scopes)
            if let out {
                do { try text.write(toFile: out, atomically: true, encoding: .utf8) } catch {
                    throw CLIError("cannot write \(out): \(error.localizedDescription)")
                }
                say("wrote \(text.split(separator: "\n").count) memories to \(out)")
            } else {
                writeOut(text)
            }
        }
    }
}

struct MemoryImport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Add the memories of a JSON-lines file (as export writes), keeping their ids and provenance.",
        discussion: """
            Every line is read before anything is added: a bad line is reported as FILE:LINE and nothing \
            is imported. Ids already in the bank are left as they are and listed.
            """)
    @OptionGroup var options: MemoryOptions
    @Argument(help: "The file.") var file: String

    mutating func run() async throws {
        try await reportErrors {
            let text: String
            do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
                throw CLIError("\(file): cannot read it: \(error.localizedDescription)")
            }
            let r = try await options.bank().importLines(text, file: file)
            say(
                "imported \(r.added) memories"
                    + (r.skipped.isEmpty
                        ? ""
                        : "; \(r.skipped.count) already in the bank: \(r.skipped.map(\.rawValue).joined(separator: ", "))")
            )
        }
    }
}

struct MemoryProposals: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proposals",
        abstract: "List what waits for a person: memories runs proposed (remember) and what dreams proposed.",
        discussion:
            "accept ID applies one (a memory keeps its source: the run and event); decline ID --reason drops it. "
            + "nightshift approve ID and deny ID do the same.")
    @OptionGroup var options: MemoryOptions
    @Flag(help: "Accepted and declined ones too.") var all = false

    mutating func run() async throws {
        try await reportErrors {
            let bank = try options.bank()
            let list = try await bank.proposals().filter { all || $0.status == .waiting }
            let dreamt = try await bank.dreams.proposals().filter { all || $0.status == .waiting }
            if options.json {
                for p in list { say(MemoryText.json(p)) }
                for p in dreamt { say(MemoryText.json(DreamProposalJSON(p))) }
            } else if list.isEmpty, dreamt.isEmpty {
                say(all ? "no proposals" : "no proposals wait")
            } else {
                for p in list {
                    say("\(p.id)  \(p.status.rawValue)  \(p.kind)  \(p.scope)  from run \(p.run) event \(p.seq)")
                    say("    " + p.text.replacingOccurrences(of: "\n", with: "\n    "))
                }
                for p in dreamt {
                    say("\(p.proposal.id)  \(p.status.rawValue)  from \(p.dream): \(p.proposal.action.summary)")
                    for line in p.proposal.action.diff { say("    \(line)") }
                    say(
                        "    why: \(p.proposal.reason)  (from "
                            + p.proposal.sources.map { "\($0.run)#\($0.seq)" }.joined(separator: ", ") + ")")
                }
            }
        }
    }
}

struct MemoryDreams: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dreams",
        abstract: "List past dreams: what each read and proposed, how its proposals stand, what it cost.",
        discussion:
            "Also the dreams that were started and never recorded (the process was killed after asking its model, "
            + "or one is dreaming now): what their model calls cost is unknown.")
    @OptionGroup var options: MemoryOptions

    mutating func run() async throws {
        try await reportErrors {
            let (dreams, unfinished) = try await Dreaming.history(try options.bank())
            if options.json {
                struct Unfinished: Encodable {
                    var kind = "unfinished_dream"
                    var start: DreamStart
                }
                for d in dreams { say(MemoryText.json(d)) }
                for s in unfinished { say(MemoryText.json(Unfinished(start: s))) }
                return
            }
            if dreams.isEmpty, unfinished.isEmpty { say("no dreams yet (nightshift dream makes one)") }
            for p in dreams {
                let d = p.dream
                say("\(d.id)  \(MemoryText.time(p.time))  by \(d.by)  with \(d.model)")
                let runs = d.reviewed.map { "\($0.run)#\($0.seq)" }.joined(separator: ", ")
                say(
                    "    read \(runs.isEmpty ? "no run" : runs); \(d.proposals.count) proposals: \(p.accepted) accepted, "
                        + "\(p.waiting) waiting, \(p.declined) declined; \(d.dropped.count) dropped\(MemoryText.spent(d))"
                )
                for s in d.interrupted ?? [] {
                    say("    before it, \(s.id) (started \(MemoryText.time(s.time))) was never recorded: cost unknown")
                }
            }
            for s in unfinished {
                say(
                    "\(s.id)  \(MemoryText.time(s.time))  by \(s.by)  with \(s.model): started, never recorded "
                        + "(killed after asking its model, or dreaming now)")
            }
        }
    }
}

struct MemoryAccept: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accept", abstract: "Keep a proposed memory in the bank (once).")
    @OptionGroup var options: MemoryOptions
    @Argument(help: "The proposal's id (nightshift memory proposals).") var id: String

    mutating func run() async throws {
        try await reportErrors {
            let d = try await options.bank().decide(MemoryID(id), accept: true, note: "")
            if options.json { d.memories.forEach { say(MemoryText.json($0)) } } else { say(MemoryText.decided(d)) }
        }
    }
}

struct MemoryDecline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decline",
        abstract: "Drop a proposed memory, with the reason (recorded; it cannot be accepted later).")
    @OptionGroup var options: MemoryOptions
    @Argument(help: "The proposal's id.") var id: String
    @Option(help: "Why.") var reason: String

    mutating func run() async throws {
        try await reportErrors {
            let d = try await options.bank().decide(MemoryID(id), accept: false, note: reason)
            if options.json { d.memories.forEach { say(MemoryText.json($0)) } } else { say(MemoryText.decided(d)) }
        }
    }
}

import Foundation
import NightshiftConfig
public import NightshiftCore
import NightshiftHands
import NightshiftHarness
import NightshiftModels
import NightshiftSQLite

/// The memory bank's use cases, for every front end: add, revise, expire, delete, list, show,
/// search, export and import. Each change is one record of the memory log; none overwrites a
/// version it did not name.
public struct MemoryBank: Sendable {
    public let store: any MemoryStore
    /// The dreams and their proposals (records of the same memory log).
    public let dreams: any DreamLog
    /// The runs' logs, where proposals (`memory_proposed`) are found.
    public let runs: (any EventStore)?
    /// Who makes the changes (a person's name, recorded as the provenance).
    public let by: String

    public init(store: any MemoryBankStore, runs: (any EventStore)? = nil, by: String) {
        self.init(store: store, dreams: store, runs: runs, by: by)
    }

    /// With a store that searches differently (``HybridMemoryStore``) over the same bank as `dreams`.
    public init(store: any MemoryStore, dreams: any DreamLog, runs: (any EventStore)? = nil, by: String) {
        self.store = store
        self.dreams = dreams
        self.runs = runs
        self.by = by
    }

    /// The bank in the database `config` names (made when it does not exist: memories may come before runs).
    public static func open(_ config: StoreConfig, by: String) throws -> MemoryBank {
        let events = try Adapters.openStore(config)
        return MemoryBank(store: events.memoryBank, runs: events, by: by)
    }

    /// `body` with the bank, searched by text and vectors when `embeddings` names a model
    /// (its HTTP client shut down after), by text alone otherwise. `minSimilarity`: the vector
    /// hits' floor (nil: the default).
    public static func withSearch<T: Sendable>(
        _ config: StoreConfig, by: String, embeddings: String?, minSimilarity: Double? = nil, models: ModelConfig,
        _ body: (MemoryBank) async throws -> T
    ) async throws -> T {
        let plain = try open(config, by: by)
        guard let embeddings else { return try await body(plain) }
        let http = ModelHTTPClient(settings: OpenAIEmbedder.httpSettings)
        return try await Adapters.finally {
            let hybrid = HybridMemoryStore(
                base: plain.store, embedder: try Adapters.embedder(embeddings, models: models, http: http),
                minSimilarity: minSimilarity)
            return try await body(MemoryBank(store: hybrid, dreams: plain.dreams, runs: plain.runs, by: by))
        } cleanup: {
            try? await http.shutdown()
        }
    }

    // MARK: - Use: how often a memory was shown, and how those tasks ended

    /// A memory's use, read from the runs' logs.
    public struct Use: Sendable, Codable, Equatable {
        public var id: MemoryID
        /// Shifts it was shown in.
        public var shown: Int
        /// Tasks it was shown for that ended, and those that ended blocked.
        public var ended: Int
        public var failed: Int
        public var failureRate: Double { ended == 0 ? 0 : Double(failed) / Double(ended) }
    }

    /// Every shown memory's use, and the failure rate of all ended tasks that were shown memories.
    public func uses() async throws -> (uses: [MemoryID: Use], baseline: Double) {
        guard let runs else { return ([:], 0) }
        var uses: [MemoryID: Use] = [:]
        var (ended, failed) = (0, 0)
        // Only the shifts that were shown memories are read (an index finds them), and the state
        // of their runs.
        var shownIn: [RunID: [TaskID: Set<MemoryID>]] = [:]
        for e in try await runs.events(of: .memoriesShown) {
            guard case let .memoriesShown(task, memories) = e.event else { continue }
            for m in memories {
                uses[m.id, default: Use(id: m.id, shown: 0, ended: 0, failed: 0)].shown += 1
                shownIn[e.run, default: [:]][task, default: []].insert(m.id)
            }
        }
        for (run, shownFor) in shownIn.sorted(by: { $0.key < $1.key }) {
            let state = try await runs.state(of: run)
            for t in state.tasks {
                guard let ids = shownFor[t.id], t.status == .done || t.status == .blocked else { continue }
                ended += 1
                if t.status == .blocked { failed += 1 }
                for id in ids {
                    uses[id]?.ended += 1
                    if t.status == .blocked { uses[id]?.failed += 1 }
                }
            }
        }
        return (uses, ended == 0 ? 0 : Double(failed) / Double(ended))
    }

    /// Memories whose tasks failed more often than others: shown for at least 3 tasks that ended,
    /// at least half of them blocked, and a failure rate a quarter above that of all tasks shown memories.
    public func flagged() async throws -> [(Memory, Use)] {
        let (uses, baseline) = try await uses()
        var out: [(Memory, Use)] = []
        for use in uses.values.sorted(by: { $0.id < $1.id })
        where use.ended >= 3 && use.failureRate >= 0.5 && use.failureRate >= baseline + 0.25 {
            if let m = try await store.memory(use.id) { out.append((m, use)) }
        }
        return out
    }

    // MARK: - Proposals (a run's `remember`)

    /// A memory a run proposed, and what became of it.
    public struct Proposal: Sendable, Codable, Equatable {
        public enum Status: String, Sendable, Codable { case waiting, accepted, declined }
        public var id: MemoryID
        public var run: RunID
        public var seq: Int64
        public var scope: MemoryScope
        public var kind: MemoryKind
        public var text: String
        public var tags: [String]
        public var status: Status
    }

    /// Every proposal in the runs' logs, by run and event (an index finds them: no log is read whole).
    public func proposals() async throws -> [Proposal] {
        guard let runs else { return [] }
        var out: [Proposal] = []
        for e in try await runs.events(of: .memoryProposed).sorted(by: { ($0.run, $0.seq) < ($1.run, $1.seq) }) {
            guard case let .memoryProposed(call, scope, kind, text, tags) = e.event else { continue }
            let id = RunState.proposalID(run: e.run, call: call)
            // Decided only by a memory made from this very proposal (its run and event): a memory
            // that took the id otherwise (an import) decides nothing, and accepting then says so.
            let status: Proposal.Status =
                switch try await store.memory(id) {
                case let m? where m.source.run == e.run && (m.source.seqs ?? []).contains(e.seq):
                    m.declined ? .declined : .accepted
                case let m? where m.declined && m.source.run == e.run: .declined
                default: .waiting
                }
            out.append(
                Proposal(
                    id: id, run: e.run, seq: e.seq, scope: scope, kind: kind, text: text, tags: tags, status: status))
        }
        return out
    }

    private func proposal(_ id: MemoryID) async throws -> Proposal {
        guard let p = try await proposals().first(where: { $0.id == id }) else {
            throw MemoryError(.notFound, "no proposal \(id) (nightshift memory proposals lists them)")
        }
        // Decided once (the bank's rules refuse a second decision even when two people race).
        guard p.status == .waiting else {
            throw MemoryError(.exists, "proposal \(id) was already \(p.status.rawValue)")
        }
        return p
    }

    /// Accepts a proposal: the memory enters the bank with the run and event it came from. Once:
    /// a second accept (or an accept after a decline) is refused.
    public func accept(_ id: MemoryID) async throws -> Memory {
        let p = try await proposal(id)
        return try await store.apply(
            .created(
                id: id, kind: p.kind, scope: p.scope, text: p.text, tags: p.tags,
                source: MemorySource(run: p.run, seqs: [p.seq], human: by), expires: nil), at: Self.now)
    }

    /// Declines a proposal, with the reason; it stays out of the bank, and cannot be accepted later.
    public func decline(_ id: MemoryID, reason: String) async throws -> Memory {
        let p = try await proposal(id)
        return try await store.apply(
            .declined(
                id: id, kind: p.kind, scope: p.scope, text: p.text, source: MemorySource(run: p.run, seqs: [p.seq]),
                reason: reason, by: by), at: Self.now)
    }

    static var now: Int64 { Adapters.clock.now().milliseconds }

    // MARK: - Decisions on any proposal (a run's remember, or a dream's)

    /// What a decision did.
    public struct Decision: Sendable {
        public var proposal: MemoryID
        public var accepted: Bool
        /// The memories it made or changed (none for a decline or a guidance edit).
        public var memories: [Memory]
        /// The dream proposal, when it was one.
        public var dreamt: ProposalState?
    }

    /// Accepts or declines a proposal, once, whichever kind it is. A declined one needs a reason.
    public func decide(_ id: MemoryID, accept: Bool, note: String) async throws -> Decision {
        guard let p = try await dreams.proposals().first(where: { $0.proposal.id == id }) else {
            let m = try await accept ? self.accept(id) : decline(id, reason: note)
            return Decision(proposal: id, accepted: accept, memories: accept ? [m] : [], dreamt: nil)
        }
        if !accept, Decisions.isBlank(note) {
            throw RuntimeError(.invalidInput, "a declined proposal needs a reason; it may not be blank")
        }
        // The store's rule, asked before a guidance file is touched (the store asks it again in the append).
        let decided = try MemoryRules.decide(p, id: id, accepted: accept, by: by, note: note)
        if accept, case let .guidance(file, old, new, baseHash, resultHash) = p.proposal.action {
            try Self.edit(file, old: old, new: new, baseHash: baseHash, resultHash: resultHash)
            TestStop.at(.guidanceEdited)
        }
        let memories = try await dreams.decide(
            id, accepted: accept, by: by, note: note,
            changes: accept ? DreamRules.changes(accepting: p, by: by) : [], at: Self.now)
        return Decision(proposal: id, accepted: accept, memories: memories, dreamt: decided)
    }

    /// Applies an accepted guidance edit to the file as the dreamer read it, or finds it applied
    /// (a decision killed after the edit and made again); a file changed otherwise is refused.
    static func edit(_ file: String, old: String, new: String, baseHash: String, resultHash: String) throws {
        guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8)
        else { throw RuntimeError(.notFound, "cannot read the guidance file \(file)") }
        let hash = Payload(text).sha256Hex
        if hash == resultHash { return }
        guard hash == baseHash, let result = DreamRules.edited(text, old: old, new: new) else {
            throw RuntimeError(
                .exists,
                "\(file) changed since the dream read it: decline this proposal (nightshift memory decline) and dream again"
            )
        }
        // Written whole beside the file and renamed over it: a crash leaves the old or the new text.
        let temporary = file + ".nightshift-edit"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(result.utf8)) else {
            throw RuntimeError(.unavailable, "cannot write \(temporary)")
        }
        if let mode = try? FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] {
            try? FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: temporary)
        }
        guard rename(temporary, file) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw RuntimeError(.unavailable, "cannot replace \(file): \(reason)")
        }
    }

    public func add(
        _ text: String, kind: MemoryKind, scope: MemoryScope, tags: [String] = [], expires: Int64? = nil
    ) async throws -> Memory {
        try await store.apply(
            .created(
                id: MemoryID.make(), kind: kind, scope: scope, text: text, tags: tags,
                source: MemorySource(human: by), expires: expires), at: Self.now)
    }

    /// A new version of `id`, replacing `version` (the one the caller read); `text` or `tags` nil keep them.
    public func revise(_ id: MemoryID, version: Int, text: String?, tags: [String]?) async throws -> Memory {
        guard let current = try await store.memory(id) else { throw MemoryError(.notFound, "no memory \(id)") }
        // The version the caller read: the store refuses it (a conflict) unless it is still the latest,
        // checked again inside the append, so a revision racing this one cannot slip in between.
        return try await store.apply(
            .revised(
                id: id, replaces: version, replacesHash: version == current.version ? current.versionHash : "",
                text: text ?? current.text, tags: tags ?? current.tags, source: MemorySource(human: by),
                expires: current.expires), at: Self.now)
    }

    public func expire(_ id: MemoryID, reason: String) async throws -> Memory {
        guard let current = try await store.memory(id) else { throw MemoryError(.notFound, "no memory \(id)") }
        return try await store.apply(.expired(id: id, version: current.version, reason: reason, by: by), at: Self.now)
    }

    public func delete(_ id: MemoryID, reason: String) async throws -> Memory {
        guard let current = try await store.memory(id) else { throw MemoryError(.notFound, "no memory \(id)") }
        return try await store.apply(.deleted(id: id, version: current.version, reason: reason, by: by), at: Self.now)
    }

    public func show(_ id: MemoryID) async throws -> (Memory, [MemoryRecord]) {
        guard let m = try await store.memory(id) else { throw MemoryError(.notFound, "no memory \(id)") }
        return (m, try await store.history(id))
    }

    public func list(scopes: [MemoryScope]?, includeGone: Bool) async throws -> [Memory] {
        try await store.list(scopes: scopes, includeGone: includeGone)
    }

    public func search(_ query: String, scopes: [MemoryScope]?, limit: Int) async throws -> [Memory] {
        try await store.search(query, scopes: scopes, limit: limit, now: Self.now)
    }

    // MARK: - Export and import (JSONL, one memory a line, provenance kept)

    /// One line of an export: a memory as it stands.
    public struct Line: Codable, Sendable {
        public var id: MemoryID
        public var kind: MemoryKind
        public var scope: MemoryScope
        public var text: String
        public var tags: [String]?
        public var source: MemorySource?
        public var version: Int?
        public var expires: Int64?
    }

    public func export(scopes: [MemoryScope]?) async throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try await store.list(scopes: scopes, includeGone: false).reversed().map { m in
            let line = Line(
                id: m.id, kind: m.kind, scope: m.scope, text: m.text, tags: m.tags, source: m.source,
                version: m.version, expires: m.expires)
            return String(decoding: try e.encode(line), as: UTF8.self) + "\n"
        }.joined()
    }

    /// What an import did.
    public struct Imported: Sendable, Equatable {
        public var added: Int
        /// Ids already in the bank: left as they are.
        public var skipped: [MemoryID]
    }

    /// Reads every line first: one bad line (named `file:LINE: reason`) refuses the whole file and
    /// nothing is added. Each memory keeps its id and provenance, with the file named as its source.
    public func importLines(_ text: String, file: String) async throws -> Imported {
        var lines: [Line] = []
        for (n, raw) in LineEnds.unix(text).split(separator: "\n", omittingEmptySubsequences: false)
            .enumerated()
        {
            let trimmed = raw.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            let where_ = "\(file):\(n + 1)"
            let line: Line
            do {
                line = try JSONDecoder().decode(Line.self, from: Data(trimmed.utf8))
            } catch let DecodingError.keyNotFound(key, _) {
                throw RuntimeError(.invalidInput, "\(where_): no \"\(key.stringValue)\"")
            } catch let DecodingError.dataCorrupted(c) {
                throw RuntimeError(.invalidInput, "\(where_): \(c.debugDescription.prefix(200))")
            } catch {
                throw RuntimeError(
                    .invalidInput, "\(where_): not a memory line ({\"id\", \"kind\", \"scope\", \"text\", …})")
            }
            guard line.id.rawValue.hasPrefix("mem-"), line.id.rawValue.count <= 64,
                line.id.rawValue.dropFirst(4).allSatisfy({
                    $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0))
                })
            else {
                throw RuntimeError(
                    .invalidInput,
                    "\(where_): the id must be mem- and letters, digits, '-', '_' or '.' (at most 64 characters)")
            }
            do { try MemoryRules.check(text: line.text, tags: line.tags ?? []) } catch {
                throw RuntimeError(.invalidInput, "\(where_): \(error.message)")
            }
            if lines.contains(where: { $0.id == line.id }) {
                throw RuntimeError(.invalidInput, "\(where_): memory \(line.id) is in the file twice")
            }
            lines.append(line)
        }
        // A proposal's id is decided by a person reviewing it, never by a file: importing it would
        // take the proposal out of review (and `approve` would then say it was accepted).
        let proposals =
            Set(try await self.proposals().map(\.id)).union(try await dreams.proposals().map(\.proposal.id))
        if let taken = lines.first(where: { proposals.contains($0.id) }) {
            throw RuntimeError(
                .invalidInput,
                "\(file): \(taken.id) is the id of a proposal (nightshift memory proposals, nightshift inbox): "
                    + "a proposal is decided by approve or deny, never by an import; give the memory another id")
        }
        var result = Imported(added: 0, skipped: [])
        var changes: [MemoryChange] = []
        for line in lines {
            if try await store.memory(line.id) != nil {
                result.skipped.append(line.id)
                continue
            }
            // Who imported it, from which file: what the file says of its origin is kept as its claim.
            var source = MemorySource(human: by, imported: file)
            source.claimed = line.source.map(\.summary)
            changes.append(
                .created(
                    id: line.id, kind: line.kind, scope: line.scope, text: line.text, tags: line.tags ?? [],
                    source: source, expires: line.expires))
        }
        // One commit for the whole file: all of it, or nothing.
        result.added = try await store.apply(changes, at: Self.now).count
        return result
    }
}

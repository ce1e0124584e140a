import Foundation
import NightshiftConfig
public import NightshiftCore
import NightshiftHands
import NightshiftModels

/// `nightshift dream`: the dreamer role reviews finished runs of some scopes and proposes
/// memories, revisions, merges, expiries and guidance edits. The dream is one record of the
/// memory log (its runs, its proposals, what was dropped), so a dream killed before it is
/// recorded is made again, and one killed after is not. Its start is recorded before the model
/// is asked, and a failed call after it: a dream killed in between is named by the next one,
/// whose record says that model call's cost is unknown. Nothing it proposes changes the bank
/// until it is decided: by a person, or by the policy for the new memories `memory.write` allows.
public struct Dreaming: Sendable {
    public let bank: MemoryBank
    public let model: any ModelProvider
    /// The policy in force: which new memories apply without review. Nil: all wait.
    public let policy: Policy?

    public init(bank: MemoryBank, model: any ModelProvider, policy: Policy?) {
        self.bank = bank
        self.model = model
        self.policy = policy
    }

    /// What to dream over.
    public struct Request: Sendable {
        /// The scopes read and proposed into; runs whose scopes share none are not reviewed.
        public var scopes: [MemoryScope]
        /// Only runs whose last event came at or after this time (ms); nil: every run.
        public var since: Int64?
        public init(scopes: [MemoryScope], since: Int64? = nil) {
            self.scopes = scopes
            self.since = since
        }
    }

    /// What a dream did.
    public struct Outcome: Sendable {
        /// Nil when there was nothing new to review.
        public var dream: Dream?
        /// Proposals the policy applied (of this dream, and any an interrupted dream left).
        public var applied: [MemoryID]
    }

    public func dream(_ request: Request) async throws -> Outcome {
        guard !request.scopes.isEmpty else { throw RuntimeError(.invalidInput, "a dream needs at least one scope") }
        // Proposals an earlier, interrupted dream left for the policy are applied first.
        var applied = try await applyAllowed()
        let material = try await material(request)
        guard !material.reviewed.isEmpty else { return Outcome(dream: nil, applied: applied) }
        let id = Dream.makeID()
        let turn = try await bank.dreams.dreams().count
        // The scripted model is a test double, and the dream says so.
        let label = model is ScriptedModelWithPath ? "\(model.label) (scripted test double)" : model.label
        let interrupted = try await bank.dreams.unfinishedDreams()
        try await bank.dreams.start(
            DreamStart(id: id, by: bank.by, model: label, scopes: request.scopes, time: MemoryBank.now))
        let ask = ModelRequest(
            run: RunID("dream"), call: CallID(id), role: .dreamer,
            task: PlanTask(id: Dream.taskID, description: material.render(scopes: request.scopes), checks: []),
            attempt: 1, turn: turn, notices: [], progressNote: nil, feedback: nil, transcript: [],
            tools: [DreamRules.tool])
        let response: ModelResponse
        do { response = try await model.respond(to: ask) } catch {
            // Recorded, so the next dream does not take it for one that was killed. If even this
            // fails, the start stands alone and the next dream names it.
            try? await bank.dreams.fail(dream: id, reason: "\(error)", at: MemoryBank.now)
            throw RuntimeError(
                .unavailable, "the dreamer's model failed (\(error)); the dream proposed nothing: dream again")
        }
        var (kept, dropped): ([DreamProposal], [String]) = ([], [])
        if let call = response.toolCalls.first(where: { $0.name == DreamRules.tool.name }) {
            (kept, dropped) = DreamRules.proposals(
                arguments: call.arguments, dream: id, scopes: request.scopes, material: material)
        } else {
            dropped = ["the dreamer answered without \(DreamRules.tool.name): nothing proposed"]
        }
        var dream = Dream(
            id: id, by: bank.by, model: label, scopes: request.scopes, reviewed: material.reviewed,
            proposals: kept, dropped: dropped)
        dream.usage = response.usage
        dream.costPicoUSD = response.costPicoUSD
        dream.interrupted = interrupted.isEmpty ? nil : interrupted
        TestStop.at(.dreamAnswered)
        try await bank.dreams.record(dream, at: MemoryBank.now)
        TestStop.at(.dreamRecorded)
        applied += try await applyAllowed()
        return Outcome(dream: dream, applied: applied)
    }

    /// Applies the waiting proposals the policy lets in without a person, each once.
    func applyAllowed() async throws -> [MemoryID] {
        var applied: [MemoryID] = []
        for p in try await bank.dreams.proposals()
        where p.status == .waiting && DreamRules.appliesWithoutReview(p.proposal, policy: policy) {
            do {
                _ = try await bank.dreams.decide(
                    p.proposal.id, accepted: true, by: "policy", note: "memory.write allows it",
                    changes: DreamRules.changes(accepting: p, by: "policy"), at: MemoryBank.now)
                applied.append(p.proposal.id)
                TestStop.at(.dreamApplied)
            } catch let e as MemoryError where e.code == .exists {
                // Decided meanwhile (by a person, or another dream): once is enough.
            }
        }
        return applied
    }

    /// The finished runs of the request's scopes not yet reviewed through their last event, the
    /// memories of those scopes, and the guidance files the runs were given, as they are now.
    func material(_ request: Request) async throws -> DreamMaterial {
        var material = DreamMaterial()
        guard let runs = bank.runs else { return material }
        var readThrough: [RunID: Int64] = [:]
        for d in try await bank.dreams.dreams() {
            for r in d.reviewed { readThrough[r.run] = max(readThrough[r.run] ?? 0, r.seq) }
        }
        let wanted = Set(request.scopes)
        var guidanceFiles: [String] = []
        for summary in try await runs.runs().sorted(by: { $0.updated < $1.updated })
        where summary.status == .finished || summary.status == .failed {
            if let since = request.since, summary.updated.milliseconds < since { continue }
            guard summary.headSeq > readThrough[summary.id] ?? 0 else { continue }
            let state = try await runs.state(of: summary.id)
            guard !wanted.isDisjoint(with: state.settings.memory?.scopes ?? []) else { continue }
            let events = try await runs.readAll(summary.id)
            material.add(run: summary.id, events: events, after: readThrough[summary.id] ?? 0)
            for e in events {
                if case let .guidanceSet(source, _, _) = e.event, !guidanceFiles.contains(source) {
                    guidanceFiles.append(source)
                }
            }
        }
        material.memories = try await bank.store.list(scopes: request.scopes, includeGone: false)
        for file in guidanceFiles {
            // As the file is now (an accepted edit applies to it); one that is gone or too large is left out.
            guard let data = FileManager.default.contents(atPath: file), data.count <= DreamRules.maxGuidanceBytes,
                let text = String(data: data, encoding: .utf8)
            else { continue }
            material.guidance.append(DreamMaterial.Guidance(file: file, text: text))
        }
        return material
    }
}

extension Dreaming {
    /// Dreams with the settings in force: the bank in `store`, the dreamer's model (its role's,
    /// else the default), and the policy file's `memory.write` (none: every proposal waits).
    public static func run(
        _ request: Request, store: StoreConfig, models: ModelConfig, policy policyFile: PinnedFile?, by: String
    ) async throws -> Outcome {
        let policy: Policy?
        do { policy = try policyFile.map { try PolicyFile.parse($0.text, file: $0.source) } } catch {
            throw RuntimeError(.invalidInput, "\(error)")
        }
        let bank = try MemoryBank.open(store, by: by)
        guard let runs = bank.runs else { throw RuntimeError(.invalidInput, "a dream needs the runs' database") }
        let (provider, http) = try await Adapters.models(models)
        let model = (provider as? ModelRoster)?.provider(for: .dreamer) ?? provider
        return try await Adapters.finally {
            try await exclusively(runs) {
                try await Dreaming(bank: bank, model: model, policy: policy).dream(request)
            }
        } cleanup: {
            try? await http?.shutdown()
        }
    }

    /// The lease a dream holds, in the same table as the runs' (stored as `@dream`, which no run id can be).
    public static let leaseKey = LeaseKey.dream

    /// Runs `body` holding the database's dream lease, as a run's driver holds its run's: one dream
    /// at a time. Two at once would review the same runs twice, and each would take the other's
    /// start, not yet followed by its record, for a dream that was killed.
    /// - Throws: ``RuntimeError`` `busy` when another live process is dreaming (nothing is done then).
    static func exclusively<T: Sendable>(_ store: any EventStore, _ body: () async throws -> T) async throws -> T {
        do {
            return try await Leasing.withLease(leaseKey, store: store) { _ in try await body() }
        } catch let busy as RuntimeError where busy.code == .busy {
            // Only taking the lease says busy: a dream itself takes no other lease.
            let holder = try? await store.leaseRecord(of: leaseKey)?.lease.holder
            throw RuntimeError(
                .busy,
                "another process is dreaming over this database (\(holder.map { "\($0)" } ?? "a live process")): "
                    + "wait for it to finish")
        }
    }

    /// The scopes a run started in `directory` by `user` reads: its project (the repository, or
    /// the folder outside git) and the user.
    public static func scopes(directory: String, user: String) async -> [MemoryScope] {
        let folder = Workspace.canonical(directory)
        let project = await GitWorkspace.discover(folder)?.workTree ?? folder
        return [MemoryScope(.project, project), MemoryScope(.user, user)]
    }
}

extension Dreaming.Request {
    /// Reads `--since`: an age (`90m`, `36h`, `7d`, `2w`) or a UTC date (`2026-11-20`) or time
    /// (`2026-11-20T08:00:00Z`), as ms since the epoch. Nil when it is none of these.
    public static func since(_ text: String, now: Int64) -> Int64? {
        let units: [Character: Int64] = ["m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000]
        if let unit = text.last.flatMap({ units[$0] }), let n = Int64(text.dropLast()), n >= 0, n <= 100_000 {
            return now - n * unit
        }
        let full = ISO8601DateFormatter()
        if let date = full.date(from: text) { return Int64(date.timeIntervalSince1970 * 1000) }
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        if let date = day.date(from: text) { return Int64(date.timeIntervalSince1970 * 1000) }
        return nil
    }
}

extension Dreaming {
    /// A recorded dream as a person reviews it later (`memory dreams`): when it was recorded, and
    /// how its proposals stand now.
    public struct Past: Sendable, Encodable {
        public var kind = "dream"
        public var dream: Dream
        /// When it was recorded (ms since the epoch).
        public var time: Int64
        public var accepted: Int
        public var declined: Int
        public var waiting: Int
    }

    /// Every recorded dream, oldest first, and the starts no dream accounts for yet: dreams killed
    /// before their record (or one in flight now). Read from the memory log alone.
    public static func history(_ bank: MemoryBank) async throws -> (dreams: [Past], unfinished: [DreamStart]) {
        let proposals = try await bank.dreams.proposals()
        var past: [Past] = []
        for d in try await bank.dreams.dreams() {
            let recorded = try await bank.store.history(MemoryID(d.id)).last {
                if case .dreamt = $0.change { true } else { false }
            }
            let time = recorded?.time ?? 0
            let mine = proposals.filter { $0.dream == d.id }
            past.append(
                Past(
                    dream: d, time: time, accepted: mine.filter { $0.status == .accepted }.count,
                    declined: mine.filter { $0.status == .declined }.count,
                    waiting: mine.filter { $0.status == .waiting }.count))
        }
        return (past, try await bank.dreams.unfinishedDreams())
    }
}

import Foundation

/// The dreamer's answer checked against what it read, and what accepting a proposal does. Pure:
/// the dream use case and both memory stores apply these.
public enum DreamRules {
    /// Proposals kept from one dream; the rest are dropped with a reason.
    public static let maxProposals = 50
    /// The largest guidance file an accepted edit may leave (as the run reads guidance: 64 KiB).
    public static let maxGuidanceBytes = 64 * 1024

    /// The dreamer's tool: it answers through it once.
    public static let tool = ToolSpec(
        name: "submit_proposals",
        description:
            "Submit what the reviewed runs teach, as proposals a person reviews: new memories (create), new versions "
            + "(revise), duplicates made one (merge), stale memories out of the context (expire), and edits of guidance "
            + "files (guidance: old text to replace, exactly as it is in the file, or empty to append; and the new text). "
            + "Each proposal names its sources (run and seq of the events it draws on) and its reason. "
            + "Submit an empty list when there is nothing worth keeping.",
        idempotent: true,
        parametersSchema:
            #"{"type":"object","properties":{"proposals":{"type":"array","items":{"type":"object","properties":{"action":{"type":"string","enum":["create","revise","merge","expire","guidance"]},"kind":{"type":"string","enum":["lesson","fact","procedure","preference"]},"scope":{"type":"string"},"text":{"type":"string"},"tags":{"type":"array","items":{"type":"string"}},"memory":{"type":"string"},"memories":{"type":"array","items":{"type":"string"}},"file":{"type":"string"},"old":{"type":"string"},"new":{"type":"string"},"reason":{"type":"string"},"sources":{"type":"array","items":{"type":"object","properties":{"run":{"type":"string"},"seq":{"type":"integer"}},"required":["run","seq"]}}},"required":["action","reason","sources"]}}},"required":["proposals"]}"#
    )

    /// Reads the dreamer's `submit_proposals` arguments: the proposals that hold (numbered from 1
    /// in the dream), and one line for each that does not.
    public static func proposals(
        arguments: String, dream: String, scopes: [MemoryScope], material: DreamMaterial
    ) -> (kept: [DreamProposal], dropped: [String]) {
        guard case let .success(answer) = ArgumentDecoding.decode(ProposalsArguments.self, from: arguments) else {
            return ([], [#"the answer is not {"proposals": [...]}: nothing proposed"#])
        }
        var kept: [DreamProposal] = []
        var dropped: [String] = []
        for (n, entry) in answer.proposals.enumerated() {
            guard kept.count < maxProposals else {
                dropped.append(
                    "proposals after the \(maxProposals)th: dropped (one dream proposes at most \(maxProposals))")
                break
            }
            do throws(MemoryError) {
                let fields: ProposalArguments
                switch entry.value {
                case let .success(f): fields = f
                case let .failure(problem): throw MemoryError(.invalid, problem.message)
                }
                let id = Dream.proposalID(dream: dream, n: kept.count + 1)
                kept.append(try proposal(fields, id: id, scopes: scopes, material: material))
            } catch {
                dropped.append("proposal \(n + 1): \(error.message)")
            }
        }
        return (kept, dropped)
    }

    static func proposal(
        _ f: ProposalArguments, id: MemoryID, scopes: [MemoryScope], material: DreamMaterial
    ) throws(MemoryError) -> DreamProposal {
        func text(_ value: String?, _ key: String) throws(MemoryError) -> String {
            guard let value else { throw MemoryError(.invalid, "no \"\(key)\"") }
            return value
        }
        guard let name = f.action.flatMap(DreamActionName.init(rawValue:)) else {
            throw MemoryError(
                .invalid,
                "\"action\" must be one of \(DreamActionName.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let reason = try text(f.reason, "reason").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty, reason.utf8.count <= MemoryRules.maxReasonBytes else {
            throw MemoryError(.invalid, "a reason is required (at most \(MemoryRules.maxReasonBytes) bytes)")
        }
        let sources = try self.sources(f.sources, material: material)
        let tags = f.tags?.values ?? []
        func kind() throws(MemoryError) -> MemoryKind {
            let raw = f.kind ?? MemoryKind.lesson.rawValue
            guard let k = MemoryKind(rawValue: raw) else { throw MemoryError(.invalid, "unknown kind \(raw)") }
            return k
        }
        func scope() throws(MemoryError) -> MemoryScope {
            let raw = try text(f.scope, "scope")
            guard let s = MemoryScope(parsing: raw), scopes.contains(s) else {
                throw MemoryError(.invalid, "scope \(raw.prefix(200)) is not one of this dream's")
            }
            return s
        }
        func memory(_ raw: String?) throws(MemoryError) -> Memory {
            guard let raw, let m = material.memories.first(where: { $0.id.rawValue == raw }) else {
                throw MemoryError(
                    .invalid, "\(String(describing: raw ?? "no memory").prefix(80)) is not a memory it read")
            }
            return m
        }
        let action: DreamAction
        switch name {
        case .create:
            let (k, s, t) = (try kind(), try scope(), try text(f.text, "text"))
            try MemoryRules.check(text: t, tags: tags)
            action = .create(kind: k, scope: s, text: t, tags: tags)
        case .revise:
            let m = try memory(f.memory)
            let t = try text(f.text, "text")
            try MemoryRules.check(text: t, tags: f.tags == nil ? m.tags : tags)
            guard t != m.text || (f.tags != nil && tags != m.tags) else {
                throw MemoryError(.invalid, "the revision of \(m.id) changes nothing")
            }
            action = .revise(
                memory: m.id, version: m.version, versionHash: m.versionHash, text: t,
                tags: f.tags == nil ? m.tags : tags)
        case .merge:
            var merged: [Memory] = []
            for raw in f.memories ?? [] {
                let m = try memory(raw)
                if !merged.contains(where: { $0.id == m.id }) { merged.append(m) }
            }
            guard merged.count >= 2 else { throw MemoryError(.invalid, "a merge names at least two memories") }
            let (k, s, t) = (try kind(), try scope(), try text(f.text, "text"))
            try MemoryRules.check(text: t, tags: tags)
            action = .merge(
                memories: merged.map { VersionedMemory(id: $0.id, version: $0.version) }, kind: k, scope: s, text: t,
                tags: tags)
        case .expire:
            let m = try memory(f.memory)
            action = .expire(memory: m.id, version: m.version)
        case .guidance:
            let file = try text(f.file, "file")
            guard let g = material.guidance.first(where: { $0.file == file }) else {
                throw MemoryError(.invalid, "\(file.prefix(200)) is not a guidance file in force in the reviewed runs")
            }
            let (old, new) = (f.old ?? "", try text(f.new, "new"))
            guard let result = edited(g.text, old: old, new: new) else {
                throw MemoryError(.invalid, "the old text is not in \(file) exactly once")
            }
            guard result != g.text else { throw MemoryError(.invalid, "the edit of \(file) changes nothing") }
            guard result.utf8.count <= maxGuidanceBytes else {
                throw MemoryError(.invalid, "the edit would make \(file) larger than \(maxGuidanceBytes) bytes")
            }
            action = .guidance(
                file: file, old: old, new: new, baseHash: Payload(g.text).sha256Hex,
                resultHash: Payload(result).sha256Hex)
        }
        return DreamProposal(id: id, action: action, reason: reason, sources: sources)
    }

    /// The events a proposal names, each in a run the dream read; at least one.
    static func sources(
        _ raw: [ProposalArguments.Source]?, material: DreamMaterial
    ) throws(MemoryError) -> [ReviewedRun] {
        var out: [ReviewedRun] = []
        for o in raw ?? [] {
            guard let run = o.run, let seq = o.seq,
                let read = material.reviewed.first(where: { $0.run.rawValue == run }), seq >= 1, seq <= read.seq
            else {
                throw MemoryError(.invalid, "every source must be {run, seq} of an event the dream read")
            }
            out.append(ReviewedRun(run: RunID(run), seq: seq))
        }
        guard !out.isEmpty else { throw MemoryError(.invalid, "no sources: name the events it comes from") }
        return out
    }

    /// `text` with `old` (found exactly once) replaced by `new`; an empty `old` appends `new` as a
    /// paragraph of its own. Nil when `old` is not there exactly once.
    public static func edited(_ text: String, old: String, new: String) -> String? {
        if old.isEmpty {
            let base = text.hasSuffix("\n") ? text : text + "\n"
            return base + "\n" + new + (new.hasSuffix("\n") ? "" : "\n")
        }
        let parts = text.components(separatedBy: old)
        guard parts.count == 2 else { return nil }
        return parts[0] + new + parts[1]
    }

    /// What accepting `p` does to the bank (a guidance edit changes no memory: the file is edited
    /// by the use case). The provenance is the dream's sources, and the person or rule that accepted it.
    public static func changes(accepting p: ProposalState, by: String) -> [MemoryChange] {
        // The first run named, with its events (a proposal drawn from several runs lists them in the dream).
        let run = p.proposal.sources.first?.run
        let source = MemorySource(
            run: run, seqs: p.proposal.sources.filter { $0.run == run }.map(\.seq), human: by, dream: p.dream)
        switch p.proposal.action {
        case let .create(kind, scope, text, tags):
            return [
                .created(
                    id: p.proposal.id, kind: kind, scope: scope, text: text, tags: tags, source: source, expires: nil)
            ]
        case let .revise(memory, version, hash, text, tags):
            return [
                .revised(
                    id: memory, replaces: version, replacesHash: hash, text: text, tags: tags, source: source,
                    expires: nil)
            ]
        case let .merge(memories, kind, scope, text, tags):
            return [
                .created(
                    id: p.proposal.id, kind: kind, scope: scope, text: text, tags: tags, source: source, expires: nil)
            ]
                + memories.map {
                    .expired(
                        id: $0.id, version: $0.version, reason: "merged into \(p.proposal.id) (\(p.dream))", by: by)
                }
        case let .expire(memory, version):
            return [.expired(id: memory, version: version, reason: "stale (\(p.dream)): \(p.proposal.reason)", by: by)]
        case .guidance:
            return []
        }
    }

    /// Whether the policy lets `p` apply without a person: only new memories (not revisions,
    /// merges or expiries), of the kinds and scopes `memory.write` names; never a guidance edit.
    public static func appliesWithoutReview(_ p: DreamProposal, policy: Policy?) -> Bool {
        guard let policy, case let .create(kind, scope, _, _) = p.action else { return false }
        return policy.allowsMemoryWrite(scope.kind, kind)
    }
}

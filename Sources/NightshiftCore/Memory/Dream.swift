public import Foundation

/// A dream: one review of finished runs by the dreamer role, and what it proposed. Recorded
/// whole as one record of the memory log, so a dream either happened (with every proposal and
/// the runs it covered) or did not; nothing it proposes changes the bank until it is decided.
public struct Dream: Sendable, Codable, Equatable {
    /// `dream-` and 12 hex digits.
    public var id: String
    /// Who ran it (a person's name) and the dreamer's model label.
    public var by: String
    public var model: String
    /// The scopes it read and may propose into.
    public var scopes: [MemoryScope]
    /// The runs it reviewed, each through the event it read last: a later dream starts after them.
    public var reviewed: [ReviewedRun]
    public var proposals: [DreamProposal]
    /// What the dreamer proposed that the rules refused, and why (kept for the record, never applied).
    public var dropped: [String]
    /// What the dreamer's call used and cost (10⁻¹² USD; nil: the model has no price).
    public var usage: TokenUsage?
    public var costPicoUSD: Int64?
    /// Earlier dreams that asked their model and were never recorded, nor recorded as failed (the
    /// process was killed): what those calls cost is unknown, and this dream says so. Nil: none.
    public var interrupted: [DreamStart]?

    public init(
        id: String, by: String, model: String, scopes: [MemoryScope], reviewed: [ReviewedRun],
        proposals: [DreamProposal], dropped: [String]
    ) {
        self.id = id
        self.by = by
        self.model = model
        self.scopes = scopes
        self.reviewed = reviewed
        self.proposals = proposals
        self.dropped = dropped
    }

    /// The task id of the dreamer's request (its turn is the number of dreams made before).
    public static let taskID = TaskID("dream")

    public static func makeID() -> String {
        var g = SystemRandomNumberGenerator()
        let hex = String((g.next() as UInt64) & 0xffff_ffff_ffff, radix: 16)
        return "dream-" + String(repeating: "0", count: 12 - hex.count) + hex
    }

    /// The id of the dream's `n`th proposal (from 1): for a new or merged memory, its id too.
    public static func proposalID(dream: String, n: Int) -> MemoryID {
        MemoryID("mem-" + dream.dropFirst("dream-".count) + "-\(n)")
    }
}

/// A dream about to ask its model, recorded before it does: a start that no `dreamt` or
/// `dream_failed` record follows is a model call whose answer, and cost, the bank never saw.
public struct DreamStart: Sendable, Codable, Equatable {
    public var id: String
    public var by: String
    public var model: String
    public var scopes: [MemoryScope]
    /// When it asked (ms since the epoch).
    public var time: Int64

    public init(id: String, by: String, model: String, scopes: [MemoryScope], time: Int64) {
        self.id = id
        self.by = by
        self.model = model
        self.scopes = scopes
        self.time = time
    }

    /// Of `starts`, those not `failed`, and that no dream in `recorded` is or names as
    /// interrupted: the rule every store keeps.
    public static func unfinished(_ starts: [DreamStart], failed: Set<String>, recorded: [Dream]) -> [DreamStart] {
        let accounted = failed.union(recorded.flatMap { [$0.id] + ($0.interrupted ?? []).map(\.id) })
        return starts.filter { !accounted.contains($0.id) }
    }
}

/// A run a dream read, through `seq`.
public struct ReviewedRun: Sendable, Codable, Equatable {
    public var run: RunID
    public var seq: Int64
    public init(run: RunID, seq: Int64) {
        self.run = run
        self.seq = seq
    }
}

/// One change the dreamer proposes, with its reason and the events it drew on.
public struct DreamProposal: Sendable, Codable, Equatable {
    public var id: MemoryID
    public var action: DreamAction
    public var reason: String
    /// The runs and events it came from (every proposal names at least one).
    public var sources: [ReviewedRun]

    public init(id: MemoryID, action: DreamAction, reason: String, sources: [ReviewedRun]) {
        self.id = id
        self.action = action
        self.reason = reason
        self.sources = sources
    }
}

/// What a dream proposal would do to the bank (or to a guidance file) when accepted.
public enum DreamAction: Sendable, Codable, Equatable {
    /// A new memory, under the proposal's id.
    case create(kind: MemoryKind, scope: MemoryScope, text: String, tags: [String])
    /// A new version of a memory, replacing the version the dreamer read.
    case revise(memory: MemoryID, version: Int, versionHash: String, text: String, tags: [String])
    /// Duplicates made one: a new memory (under the proposal's id) and each old one expired, at
    /// the versions the dreamer read.
    case merge(memories: [VersionedMemory], kind: MemoryKind, scope: MemoryScope, text: String, tags: [String])
    /// A stale memory out of the context (it stays in the log).
    case expire(memory: MemoryID, version: Int)
    /// An edit of a guidance file in force in the reviewed runs: `old` (empty: append) becomes
    /// `new`. Applied only to the file as the dreamer read it (`baseHash`), or found applied
    /// (`resultHash`). Never applied without a person.
    case guidance(file: String, old: String, new: String, baseHash: String, resultHash: String)

    /// One line for a person: what accepting it does.
    public var summary: String {
        func flat(_ s: String) -> String { s.replacingOccurrences(of: "\n", with: " ") }
        switch self {
        case let .create(kind, scope, text, _): return "new \(kind) in \(scope): \(flat(text))"
        case let .revise(memory, version, _, text, _): return "revise \(memory) v\(version) to: \(flat(text))"
        case let .merge(memories, kind, scope, text, _):
            return
                "merge \(memories.map(\.id.rawValue).joined(separator: ", ")) into a \(kind) in \(scope): \(flat(text))"
        case let .expire(memory, version): return "expire \(memory) v\(version)"
        case let .guidance(file, old, _, _, _): return old.isEmpty ? "append to \(file)" : "edit \(file)"
        }
    }

    /// A guidance edit as diff lines (`-` the old text, `+` the new); empty for other actions.
    public var diff: [String] {
        guard case let .guidance(_, old, new, _, _) = self else { return [] }
        return (old.isEmpty ? [] : old.split(separator: "\n", omittingEmptySubsequences: false).map { "- \($0)" })
            + new.split(separator: "\n", omittingEmptySubsequences: false).map { "+ \($0)" }
    }

    public var name: DreamActionName {
        switch self {
        case .create: .create
        case .revise: .revise
        case .merge: .merge
        case .expire: .expire
        case .guidance: .guidance
        }
    }
}

/// The names of ``DreamAction``s, as the dreamer writes them.
public enum DreamActionName: String, Sendable, Codable, CaseIterable {
    case create, revise, merge, expire, guidance
}

/// A memory at the version someone read.
public struct VersionedMemory: Sendable, Codable, Equatable {
    public var id: MemoryID
    public var version: Int
    public init(id: MemoryID, version: Int) {
        self.id = id
        self.version = version
    }
}

/// A proposal as it stands: waiting, accepted (by a person or by the policy) or declined.
public struct ProposalState: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable { case waiting, accepted, declined }
    public var dream: String
    public var proposal: DreamProposal
    public var status: Status
    public var decidedBy: String?
    public var note: String?
    public init(
        dream: String, proposal: DreamProposal, status: Status, decidedBy: String? = nil, note: String? = nil
    ) {
        self.dream = dream
        self.proposal = proposal
        self.status = status
        self.decidedBy = decidedBy
        self.note = note
    }
}

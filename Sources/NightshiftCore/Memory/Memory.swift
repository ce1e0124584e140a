public import Foundation

/// What a memory is about: used to rank and show it (a lesson is not a preference).
public enum MemoryKind: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// Something true of the project ("the tests need Python 3.11").
    case fact
    /// Something learned the hard way ("test_sync is flaky under load: re-run it before debugging").
    case lesson
    /// How someone wants things done ("prefer small commits").
    case preference
    /// How to do a thing ("to build the docs: make -C docs html").
    case procedure
    public var description: String { rawValue }
}

/// Whose memory it is: a user, an agent profile, or a project, each by an identity string
/// (`user:alice`, `agent:reviewer`, `project:/srv/repo`). A run reads and writes only its own scopes.
public struct MemoryScope: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public enum Kind: String, Sendable, Codable, CaseIterable { case user, agent, project }
    public var kind: Kind
    public var identity: String

    public init(_ kind: Kind, _ identity: String) {
        self.kind = kind
        self.identity = identity
    }

    /// Reads `KIND:IDENTITY`; nil when the kind is unknown or the identity empty or too long.
    public init?(parsing text: String) {
        guard let colon = text.firstIndex(of: ":"), let kind = Kind(rawValue: String(text[..<colon])) else {
            return nil
        }
        let identity = String(text[text.index(after: colon)...])
        guard !identity.isEmpty, identity.utf8.count <= 512, !identity.contains(where: \.isNewline) else { return nil }
        self.init(kind, identity)
    }

    public var description: String { "\(kind.rawValue):\(identity)" }
    public static func < (a: MemoryScope, b: MemoryScope) -> Bool { a.description < b.description }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let scope = MemoryScope(parsing: text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "bad scope \(text)"))
        }
        self = scope
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// Where a memory (or a version of it) came from: the run and the events it was drawn from, or
/// the person who wrote it, or the file it was imported from.
public struct MemorySource: Sendable, Codable, Equatable {
    public var run: RunID?
    public var seqs: [Int64]?
    public var human: String?
    public var imported: String?
    /// The dream that proposed it (then `human` is who accepted it).
    public var dream: String?
    /// For an imported memory: the provenance the file claimed, as the file said it (kept for a
    /// person to read, never taken as true: `human` is who imported it).
    public var claimed: String?
    public init(
        run: RunID? = nil, seqs: [Int64]? = nil, human: String? = nil, imported: String? = nil, dream: String? = nil
    ) {
        self.run = run
        self.seqs = seqs
        self.human = human
        self.imported = imported
        self.dream = dream
    }

    public var summary: String {
        if let imported {
            return "imported from \(imported)" + (human.map { " by \($0)" } ?? "")
                + (claimed.map { "; the file claims: \($0)" } ?? "")
        }
        var parts: [String] = []
        if let dream { parts.append("proposed by \(dream)" + (human.map { ", accepted by \($0)" } ?? "")) }
        if let human, dream == nil { parts.append("written by \(human)") }
        if let run {
            parts.append("run \(run)" + (seqs.map { " events \($0.map(String.init).joined(separator: ","))" } ?? ""))
        }
        if let imported { parts.append("imported from \(imported)") }
        return parts.isEmpty ? "unknown" : parts.joined(separator: "; ")
    }
}

/// One memory as it stands: its latest version, and how that came about.
public struct Memory: Sendable, Codable, Equatable {
    public var id: MemoryID
    public var kind: MemoryKind
    public var scope: MemoryScope
    public var text: String
    public var tags: [String]
    /// Who made the latest version.
    public var source: MemorySource
    /// 1 for the first version; each revision adds one.
    public var version: Int
    /// The hash of the memory log record that made this version (a revision names it).
    public var versionHash: String
    /// Log times (ms).
    public var created: Int64
    public var updated: Int64
    /// When it leaves the context by itself; nil: never.
    public var expires: Int64?
    /// Expired (by a person, by time, or by an accepted proposal) or deleted: out of search and
    /// context, still in the log.
    public var expired: Bool = false
    public var deleted: Bool = false
    /// A run's proposal a person declined (recorded so it is decided once; never in search).
    public var declined: Bool = false
    public var goneReason: String?

    public init(
        id: MemoryID, kind: MemoryKind, scope: MemoryScope, text: String, tags: [String], source: MemorySource,
        version: Int, versionHash: String, created: Int64, updated: Int64, expires: Int64?
    ) {
        self.id = id
        self.kind = kind
        self.scope = scope
        self.text = text
        self.tags = tags
        self.source = source
        self.version = version
        self.versionHash = versionHash
        self.created = created
        self.updated = updated
        self.expires = expires
    }

    /// Whether it may be searched and shown at `now` (ms).
    public func isLive(at now: Int64) -> Bool { !expired && !deleted && (expires.map { now < $0 } ?? true) }
}

/// One change to the memory bank: the records of its hash-chained log.
public enum MemoryChange: Sendable, Codable, Equatable {
    case created(
        id: MemoryID, kind: MemoryKind, scope: MemoryScope, text: String, tags: [String], source: MemorySource,
        expires: Int64?)
    /// A new version of `id`, replacing version `replaces` (whose record hash is `replacesHash`).
    case revised(
        id: MemoryID, replaces: Int, replacesHash: String, text: String, tags: [String], source: MemorySource,
        expires: Int64?)
    case expired(id: MemoryID, version: Int, reason: String, by: String)
    case deleted(id: MemoryID, version: Int, reason: String, by: String)
    /// A proposal (a run's `remember`) a person declined: recorded under the id it would have had,
    /// so it can be decided only once.
    case declined(
        id: MemoryID, kind: MemoryKind, scope: MemoryScope, text: String, source: MemorySource, reason: String,
        by: String)
    /// A dream about to ask its model (so an answer that is never recorded is still accounted for).
    case dreamStarted(DreamStart)
    /// A dream whose model call failed: it proposed nothing, and read nothing a later dream skips.
    case dreamFailed(id: String, reason: String)
    /// A dream and everything it proposed (no memory changes until each proposal is decided).
    case dreamt(Dream)
    /// A dream proposal decided, once: recorded in the same append as the changes it makes.
    case decided(proposal: MemoryID, dream: String, accepted: Bool, by: String, note: String)

    /// The memory the record is about (for a dream, its id; for a decision, the proposal's).
    public var memory: MemoryID {
        switch self {
        case let .created(id, _, _, _, _, _, _), let .revised(id, _, _, _, _, _, _), let .expired(id, _, _, _),
            let .deleted(id, _, _, _), let .declined(id, _, _, _, _, _, _), let .decided(id, _, _, _, _):
            id
        case let .dreamt(dream): MemoryID(dream.id)
        case let .dreamStarted(start): MemoryID(start.id)
        case let .dreamFailed(id, _): MemoryID(id)
        }
    }

    /// Whether it changes a memory (dreams and decisions are records about proposals).
    public var changesMemory: Bool {
        switch self {
        case .dreamStarted, .dreamFailed, .dreamt, .decided: false
        default: true
        }
    }

    public var kindName: String {
        switch self {
        case .created: "created"
        case .revised: "revised"
        case .expired: "expired"
        case .deleted: "deleted"
        case .declined: "declined"
        case .dreamStarted: "dream_started"
        case .dreamFailed: "dream_failed"
        case .dreamt: "dreamt"
        case .decided: "decided"
        }
    }
}

/// A record of the memory log: a change, where it sits and its link in the chain.
public struct MemoryRecord: Sendable, Codable, Equatable {
    public var seq: Int64
    public var time: Int64
    public var change: MemoryChange
    /// SHA-256 (hex) of the previous record's hash and this record's canonical bytes.
    public var hash: String
    public init(seq: Int64, time: Int64, change: MemoryChange, hash: String) {
        self.seq = seq
        self.time = time
        self.change = change
        self.hash = hash
    }
}

/// Why a change to the memory bank was refused.
public struct MemoryError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// A revision named a version that is no longer the latest: someone revised it meanwhile.
        case conflict
        case notFound
        /// It was deleted or expired: a new memory is made instead.
        case gone
        /// Too long, empty, too many tags, a bad scope.
        case invalid
        case exists
    }
    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}

/// A memory as a shift was shown it: recorded in the run's log, so the log says what the agent knew.
public struct ShownMemory: Sendable, Codable, Equatable {
    public var id: MemoryID
    public var version: Int
    public var kind: MemoryKind
    public var text: String
    public init(id: MemoryID, version: Int, kind: MemoryKind, text: String) {
        self.id = id
        self.version = version
        self.kind = kind
        self.text = text
    }
    public init(_ m: Memory) { self.init(id: m.id, version: m.version, kind: m.kind, text: m.text) }
}

/// Which memories a run reads: its scopes, and how many tokens of them each shift may carry.
public struct MemorySettings: Sendable, Codable, Equatable {
    public var scopes: [MemoryScope]
    /// Estimated tokens of memories in one shift's context. Defaults to 800.
    public var tokens: Int
    /// The embeddings model for hybrid search (a model spec, no key); nil: full-text search alone.
    public var embeddings: String?
    /// The least cosine a memory found by meaning needs; nil: the default (0.2).
    public var minSimilarity: Double?
    public init(scopes: [MemoryScope], tokens: Int = 800, embeddings: String? = nil, minSimilarity: Double? = nil) {
        self.scopes = scopes
        self.tokens = tokens
        self.embeddings = embeddings
        self.minSimilarity = minSimilarity
    }
}

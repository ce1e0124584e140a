import Crypto
public import Foundation

/// The memory bank's rules, pure: what a change does to a memory, and what is refused. Every
/// store applies a change through these, inside the transaction that appends it, so a stale
/// revision is refused however many processes write at once.
public enum MemoryRules {
    /// Bytes of text one memory may hold: memories go into every shift's context.
    public static let maxTextBytes = 2000
    public static let maxTags = 20
    public static let maxTagBytes = 64
    public static let maxReasonBytes = 1000

    /// The memory after `change`, given what it was (nil: it does not exist).
    /// - Throws: ``MemoryError`` when the change is refused; nothing is written then.
    public static func apply(
        _ change: MemoryChange, to current: Memory?, at time: Int64, hash: String
    ) throws(MemoryError) -> Memory {
        switch change {
        case let .created(id, kind, scope, text, tags, source, expires):
            guard current == nil else { throw MemoryError(.exists, "memory \(id) exists already") }
            try check(text: text, tags: tags)
            return Memory(
                id: id, kind: kind, scope: scope, text: text, tags: tags, source: source, version: 1,
                versionHash: hash, created: time, updated: time, expires: expires)
        case let .revised(id, replaces, replacesHash, text, tags, source, expires):
            var m = try live(id, current)
            guard replaces == m.version, replacesHash == m.versionHash else {
                throw MemoryError(
                    .conflict,
                    "memory \(id) is at version \(m.version), not \(replaces): it was revised meanwhile; "
                        + "read it again (nightshift memory show \(id)) and revise that version")
            }
            try check(text: text, tags: tags)
            m.text = text
            m.tags = tags
            m.source = source
            m.expires = expires
            m.version += 1
            m.versionHash = hash
            m.updated = time
            return m
        case let .declined(id, kind, scope, text, source, reason, by):
            if let current {
                throw MemoryError(
                    .exists,
                    "\(id) was already \(current.declined ? "declined" : "accepted")")
            }
            guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, reason.utf8.count <= maxReasonBytes
            else { throw MemoryError(.invalid, "give a reason (at most \(maxReasonBytes) bytes)") }
            var m = Memory(
                id: id, kind: kind, scope: scope, text: text, tags: [], source: source, version: 1, versionHash: hash,
                created: time, updated: time, expires: nil)
            m.deleted = true
            m.declined = true
            m.goneReason = "declined by \(by): \(reason)"
            return m
        case let .expired(id, version, reason, _), let .deleted(id, version, reason, _):
            var m = try live(id, current)
            guard version == m.version else {
                throw MemoryError(
                    .conflict, "memory \(id) is at version \(m.version), not \(version): it was revised meanwhile")
            }
            guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
                reason.utf8.count <= maxReasonBytes
            else { throw MemoryError(.invalid, "give a reason (at most \(maxReasonBytes) bytes)") }
            if case .deleted = change { m.deleted = true } else { m.expired = true }
            m.goneReason = reason
            m.updated = time
            return m
        case .dreamStarted, .dreamFailed, .dreamt, .decided:
            throw MemoryError(.invalid, "a \(change.kindName) record changes no memory")
        }
    }

    /// The proposal after a decision, given how it stands (nil: no such proposal). Decided once:
    /// a second decision, by anyone, is refused.
    public static func decide(
        _ current: ProposalState?, id: MemoryID, accepted: Bool, by: String, note: String
    ) throws(MemoryError) -> ProposalState {
        guard var p = current else {
            throw MemoryError(.notFound, "no proposal \(id) (nightshift memory proposals lists them)")
        }
        guard p.status == .waiting else {
            throw MemoryError(
                .exists, "proposal \(id) was already \(p.status.rawValue)" + (p.decidedBy.map { " by \($0)" } ?? ""))
        }
        guard note.utf8.count <= maxReasonBytes else {
            throw MemoryError(.invalid, "the note is \(note.utf8.count) bytes; at most \(maxReasonBytes)")
        }
        p.status = accepted ? .accepted : .declined
        p.decidedBy = by
        p.note = note.isEmpty ? nil : note
        return p
    }

    private static func live(_ id: MemoryID, _ current: Memory?) throws(MemoryError) -> Memory {
        guard let current else { throw MemoryError(.notFound, "no memory \(id)") }
        guard !current.deleted, !current.expired else {
            throw MemoryError(
                .gone,
                "memory \(id) was \(current.deleted ? "deleted" : "expired") (\(current.goneReason ?? "")); "
                    + "add a new memory instead")
        }
        return current
    }

    /// Refuses an empty or oversized text, and bad tags.
    public static func check(text: String, tags: [String]) throws(MemoryError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw MemoryError(.invalid, "the memory's text is empty") }
        guard text.utf8.count <= maxTextBytes else {
            throw MemoryError(
                .invalid, "the memory is \(text.utf8.count) bytes; at most \(maxTextBytes): keep one lesson per memory")
        }
        guard tags.count <= maxTags else { throw MemoryError(.invalid, "\(tags.count) tags; at most \(maxTags)") }
        for t in tags {
            guard !t.isEmpty, t.utf8.count <= maxTagBytes,
                t.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) })
            else {
                throw MemoryError(
                    .invalid, "tag '\(t.prefix(80))' must be 1–\(maxTagBytes) letters, digits, '-', '_' or '.'")
            }
        }
    }

    // MARK: - The chain

    /// The canonical bytes of a record (what its hash covers): sorted-key JSON of seq, time and change.
    public static func body(seq: Int64, time: Int64, change: MemoryChange) throws -> Data {
        struct Body: Encodable {
            var seq: Int64
            var time: Int64
            var change: MemoryChange
        }
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try e.encode(Body(seq: seq, time: time, change: change))
    }

    /// SHA-256 (hex) of the previous record's hash (hex; "" for the first) and `body`.
    public static func chain(previous: String, body: Data) -> String {
        var h = SHA256()
        h.update(data: Data(previous.utf8))
        h.update(data: body)
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Decodes a stored record and checks its link: nil when its hash does not chain from
    /// `previous` or it does not decode.
    public static func verify(seq: Int64, body: Data, hash: String, previous: String) -> MemoryRecord? {
        guard chain(previous: previous, body: body) == hash else { return nil }
        struct Body: Decodable {
            var seq: Int64
            var time: Int64
            var change: MemoryChange
        }
        guard let b = try? JSONDecoder().decode(Body.self, from: body), b.seq == seq else { return nil }
        return MemoryRecord(seq: seq, time: b.time, change: b.change, hash: hash)
    }

    /// The words of a search, lower-cased, without punctuation, each once, without the commonest
    /// English words (they match nearly everything and rank nothing, and long task descriptions
    /// are full of them): what both stores match on.
    public static func words(_ text: String) -> [String] {
        var seen = Set<String>()
        return text.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map(String.init)
            .filter { $0.count >= 2 && !stopWords.contains($0) && seen.insert($0).inserted }
    }

    static let stopWords: Set<String> = [
        "the", "an", "and", "or", "of", "to", "in", "is", "it", "for", "on", "with", "when", "be", "are", "was",
        "as", "at", "by", "this", "that", "from", "if", "not", "do", "does", "how", "what", "so", "its", "my",
        "me", "we", "you", "our", "your", "can", "should", "there", "them", "they", "then", "than", "into",
    ]
}

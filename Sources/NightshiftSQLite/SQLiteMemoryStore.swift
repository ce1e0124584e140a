import Foundation
import GRDB
public import NightshiftCore

/// The memory bank on SQLite, in the runs' database: the memory log, each memory as it stands,
/// and an FTS5 index ranked by BM25. A change is checked against the memory as it stands inside
/// an immediate transaction, so concurrent writers (threads or processes) are serialised and a
/// stale revision is refused, never applied over a newer one.
public final class SQLiteMemoryStore: MemoryStore, DreamLog, Sendable {
    let writer: any DatabaseWriter
    let path: String

    /// The memory bank of the database `store` has open (one connection pool for both).
    public init(sharing store: SQLiteEventStore) {
        writer = store.writer
        path = store.path
    }

    private static func decode(_ data: Data) throws -> Memory { try JSONDecoder().decode(Memory.self, from: data) }
    private static func encode(_ m: some Encodable) throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try e.encode(m)
    }

    public func apply(_ change: MemoryChange, at time: Int64) async throws -> Memory {
        guard change.changesMemory else { throw MemoryError(.invalid, "a \(change.kindName) record changes no memory") }
        return try await write { db in try Self.applyMemory(db, change, at: time) }
    }

    public func apply(_ changes: [MemoryChange], at time: Int64) async throws -> [Memory] {
        if let other = changes.first(where: { !$0.changesMemory }) {
            throw MemoryError(.invalid, "a \(other.kindName) record changes no memory")
        }
        return try await write { db in try changes.map { try Self.applyMemory(db, $0, at: time) } }
    }

    public func record(_ dream: Dream, at time: Int64) async throws {
        try await write { db in
            _ = try Self.append(db, .dreamt(dream), at: time)
            try db.execute(
                sql: "INSERT INTO memory_dream (id, state) VALUES (?, ?)",
                arguments: [dream.id, try Self.encode(dream)])
            for p in dream.proposals {
                try db.execute(
                    sql: "INSERT INTO memory_proposal (id, status, state) VALUES (?, ?, ?)",
                    arguments: [
                        p.id.rawValue, ProposalState.Status.waiting.rawValue,
                        try Self.encode(ProposalState(dream: dream.id, proposal: p, status: .waiting)),
                    ])
            }
        }
    }

    public func start(_ dream: DreamStart) async throws {
        try await write { db in _ = try Self.append(db, .dreamStarted(dream), at: dream.time) }
    }

    public func fail(dream: String, reason: String, at time: Int64) async throws {
        try await write { db in _ = try Self.append(db, .dreamFailed(id: dream, reason: reason), at: time) }
    }

    public func unfinishedDreams() async throws -> [DreamStart] {
        let (starts, failed) = try await read { db in
            var starts: [DreamStart] = [], failed: Set<String> = []
            // Dream ids begin `dream-`: the log's index by memory holds their records together.
            for body in try Data.fetchAll(
                db, sql: "SELECT body FROM memory_log WHERE memory >= 'dream-' AND memory < 'dream.' ORDER BY seq")
            {
                switch try Self.change(body) {
                case let .dreamStarted(start): starts.append(start)
                case let .dreamFailed(id, _): failed.insert(id)
                default: break
                }
            }
            return (starts, failed)
        }
        return DreamStart.unfinished(starts, failed: failed, recorded: try await dreams())
    }

    public func dreams() async throws -> [Dream] {
        try await read { db in
            try Data.fetchAll(db, sql: "SELECT state FROM memory_dream ORDER BY n").map {
                try JSONDecoder().decode(Dream.self, from: $0)
            }
        }
    }

    public func proposals() async throws -> [ProposalState] {
        try await read { db in
            try Data.fetchAll(db, sql: "SELECT state FROM memory_proposal ORDER BY n").map {
                try JSONDecoder().decode(ProposalState.self, from: $0)
            }
        }
    }

    public func decide(
        _ proposal: MemoryID, accepted: Bool, by: String, note: String, changes: [MemoryChange], at time: Int64
    ) async throws -> [Memory] {
        try await write { db in
            let current = try Data.fetchOne(
                db, sql: "SELECT state FROM memory_proposal WHERE id = ?", arguments: [proposal.rawValue]
            ).map { try JSONDecoder().decode(ProposalState.self, from: $0) }
            let decided = try MemoryRules.decide(current, id: proposal, accepted: accepted, by: by, note: note)
            // Any refused change throws out of the transaction: nothing of the decision is kept.
            let memories = try changes.map { try Self.applyMemory(db, $0, at: time) }
            _ = try Self.append(
                db, .decided(proposal: proposal, dream: decided.dream, accepted: accepted, by: by, note: note), at: time
            )
            try db.execute(
                sql: "UPDATE memory_proposal SET status = ?, state = ? WHERE id = ?",
                arguments: [decided.status.rawValue, try Self.encode(decided), proposal.rawValue])
            return memories
        }
    }

    /// `body` in one immediate transaction: writers (threads or processes) take turns, and each
    /// sees what the one before it appended.
    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await writer.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
                return result!
            }
        } catch let e as MemoryError {
            throw e
        } catch {
            throw SQLiteEventStore.mapError(error, path: path)
        }
    }

    /// Appends `change` to the memory log; returns its hash.
    private static func append(_ db: Database, _ change: MemoryChange, at time: Int64) throws -> String {
        let head = try Row.fetchOne(db, sql: "SELECT seq, hash FROM memory_log ORDER BY seq DESC LIMIT 1")
        let seq = (head?["seq"] as Int64? ?? 0) + 1
        let body = try MemoryRules.body(seq: seq, time: time, change: change)
        let hash = MemoryRules.chain(previous: head?["hash"] ?? "", body: body)
        try db.execute(
            sql: "INSERT INTO memory_log (seq, time, memory, body, hash) VALUES (?, ?, ?, ?, ?)",
            arguments: [seq, time, change.memory.rawValue, body, hash])
        return hash
    }

    /// Checks `change` by the rules against the memory as it stands, appends it, and updates the
    /// memory and its index entry.
    private static func applyMemory(_ db: Database, _ change: MemoryChange, at time: Int64) throws -> Memory {
        let row = try Row.fetchOne(
            db, sql: "SELECT n, state FROM memory WHERE id = ?", arguments: [change.memory.rawValue])
        let current = try row.map { try decode($0["state"]) }
        // A refusal throws out of the transaction, taking the appended record with it.
        let hash = try append(db, change, at: time)
        let m = try MemoryRules.apply(change, to: current, at: time, hash: hash)
        let live = !m.expired && !m.deleted
        let n: Int64
        if let row {
            n = row["n"]
            try db.execute(
                sql: "UPDATE memory SET updated = ?, live = ?, expires = ?, state = ? WHERE n = ?",
                arguments: [m.updated, live, m.expires, try encode(m), n])
            try db.execute(sql: "DELETE FROM memory_fts WHERE rowid = ?", arguments: [n])
            // Its vector was made from the version this change replaces.
            try db.execute(sql: "DELETE FROM memory_vector WHERE n = ?", arguments: [n])
        } else {
            try db.execute(
                sql: "INSERT INTO memory (id, scope, updated, live, expires, state) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [m.id.rawValue, m.scope.description, m.updated, live, m.expires, try encode(m)])
            n = db.lastInsertedRowID
        }
        if live {
            try db.execute(
                sql: "INSERT INTO memory_fts (rowid, text, tags, sk) VALUES (?, ?, ?, ?)",
                arguments: [n, m.text, m.tags.joined(separator: " "), scopeKey(m.scope)])
        }
        return m
    }

    /// The one index token naming `scope` (letters and digits only, so no tokenizer splits it).
    static func scopeKey(_ scope: MemoryScope) -> String {
        "s" + Payload(scope.description).sha256Hex.prefix(24)
    }

    public func memory(_ id: MemoryID) async throws -> Memory? {
        try await read { db in
            try Data.fetchOne(db, sql: "SELECT state FROM memory WHERE id = ?", arguments: [id.rawValue]).map(
                Self.decode)
        }
    }

    public func list(scopes: [MemoryScope]?, includeGone: Bool) async throws -> [Memory] {
        var sql = "SELECT state FROM memory WHERE 1"
        var args: [any DatabaseValueConvertible] = []
        if let scopes {
            sql += " AND scope IN (\(Array(repeating: "?", count: scopes.count).joined(separator: ",")))"
            args += scopes.map(\.description)
        }
        if !includeGone {
            // Past its expiry time it is gone too, as search has it.
            sql += " AND live = 1 AND (expires IS NULL OR expires > ?)"
            args.append(Int64(Date().timeIntervalSince1970 * 1000))
        }
        sql += " ORDER BY updated DESC, id DESC"
        let (q, a) = (sql, args.map(\.databaseValue))
        return try await read { db in try Data.fetchAll(db, sql: q, arguments: StatementArguments(a)).map(Self.decode) }
    }

    public func search(_ query: String, scopes: [MemoryScope]?, limit: Int, now: Int64) async throws -> [Memory] {
        // Each word quoted (words are letters and digits only): no FTS5 syntax reaches the query.
        let words = MemoryRules.words(query).prefix(64)
        guard !words.isEmpty, limit > 0 else { return [] }
        if scopes?.isEmpty == true { return [] }
        // (A word never equals a scope token: those are "s" and 24 hex digits.)
        var match = "(" + words.map { "\"\($0)\"" }.joined(separator: " OR ") + ")"
        if let scopes {
            // The scope is a token of the index: only that scope's memories are matched and ranked.
            match = "(" + scopes.map { "sk : \"\(Self.scopeKey($0))\"" }.joined(separator: " OR ") + ") AND " + match
        }
        let sql = """
            SELECT m.state FROM memory_fts JOIN memory m ON m.n = memory_fts.rowid
            WHERE memory_fts MATCH ? AND (m.expires IS NULL OR m.expires > ?)
            ORDER BY bm25(memory_fts, 1.0, 0.5, 0.0) LIMIT ?
            """
        var args: [any DatabaseValueConvertible] = [match, now]
        args.append(limit)
        let (q, a) = (sql, args.map(\.databaseValue))
        return try await read { db in try Data.fetchAll(db, sql: q, arguments: StatementArguments(a)).map(Self.decode) }
    }

    // MARK: - Vectors

    /// `scope IN (…)` for `scopes` on `column`, and its arguments.
    private static func scopeFilter(
        _ scopes: [MemoryScope]?, _ column: String
    ) -> (String, [any DatabaseValueConvertible]) {
        guard let scopes else { return ("", []) }
        return (
            " AND \(column) IN (\(Array(repeating: "?", count: scopes.count).joined(separator: ",")))",
            scopes.map(\.description)
        )
    }

    public func unembedded(model: String, scopes: [MemoryScope]?, limit: Int) async throws -> [Memory] {
        if scopes?.isEmpty == true || limit <= 0 { return [] }
        let (memoryFilter, memoryArgs) = Self.scopeFilter(scopes, "scope")
        let (vectorFilter, vectorArgs) = Self.scopeFilter(scopes, "scope")
        let (joinedFilter, _) = Self.scopeFilter(scopes, "m.scope")
        // A vector exists only for a live memory at its version, so equal counts (both from
        // indexes) mean every live memory of the scopes is embedded: the usual case, answered
        // without visiting each memory.
        let live = "SELECT count(*) FROM memory WHERE live = 1\(memoryFilter)"
        let embedded = "SELECT count(*) FROM memory_vector WHERE model = ?\(vectorFilter)"
        let missing =
            "SELECT m.state FROM memory m WHERE m.live = 1\(joinedFilter) "
            + "AND NOT EXISTS (SELECT 1 FROM memory_vector v WHERE v.n = m.n AND v.model = ?) LIMIT ?"
        let liveArgs = memoryArgs.map(\.databaseValue)
        let embeddedArgs = ([model] + vectorArgs).map(\.databaseValue)
        let missingArgs = (memoryArgs + [model, limit]).map(\.databaseValue)
        return try await read { db in
            let total = try Int.fetchOne(db, sql: live, arguments: StatementArguments(liveArgs)) ?? 0
            let done = try Int.fetchOne(db, sql: embedded, arguments: StatementArguments(embeddedArgs)) ?? 0
            guard done < total else { return [] }
            return try Data.fetchAll(db, sql: missing, arguments: StatementArguments(missingArgs)).map(Self.decode)
        }
    }

    public func setVectors(_ vectors: [MemoryVector], model: String) async throws {
        try await write { db in
            for v in vectors {
                guard
                    let row = try Row.fetchOne(
                        db, sql: "SELECT n, state FROM memory WHERE id = ?", arguments: [v.id.rawValue])
                else { continue }
                let m = try Self.decode(row["state"])
                // Changed since it was read (embedded again next time), or gone (never searched).
                guard m.version == v.version, !m.expired, !m.deleted, !v.vector.isEmpty else { continue }
                try db.execute(
                    sql:
                        "INSERT OR REPLACE INTO memory_vector (model, scope, n, version, expires, vec) VALUES (?, ?, ?, ?, ?, ?)",
                    arguments: [
                        model, m.scope.description, row["n"] as Int64, v.version, m.expires,
                        StoredVector.int8(v.vector),
                    ])
            }
        }
    }

    public func nearest(
        _ vector: [Float], model: String, scopes: [MemoryScope]?, limit: Int, atLeast: Float, now: Int64
    ) async throws -> [MemoryID] {
        if scopes?.isEmpty == true || limit <= 0 { return [] }
        let (filter, scopeArgs) = Self.scopeFilter(scopes, "scope")
        let sql =
            "SELECT n, vec FROM memory_vector WHERE model = ?\(filter) AND (expires IS NULL OR expires > ?)"
        let args = ([model] + scopeArgs + [now]).map(\.databaseValue)
        let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        guard norm > 0 else { return [] }
        let query = StoredVector.lanes(vector)
        return try await read { db in
            var best: [(n: Int64, score: Float)] = []
            let rows = try Row.fetchCursor(db, sql: sql, arguments: StatementArguments(args))
            while let row = try rows.next() {
                let score = StoredVector.cosine(
                    query, count: vector.count, norm: norm, int8: row.dataNoCopy(atIndex: 1) ?? Data())
                guard score >= atLeast, best.count < limit || score > best[best.count - 1].score else { continue }
                let at = best.firstIndex { score > $0.score } ?? best.count
                best.insert((row[0], score), at: at)
                if best.count > limit { best.removeLast() }
            }
            var ids: [MemoryID] = []
            for hit in best {
                if let id = try String.fetchOne(db, sql: "SELECT id FROM memory WHERE n = ?", arguments: [hit.n]) {
                    ids.append(MemoryID(id))
                }
            }
            return ids
        }
    }

    public func history(_ id: MemoryID) async throws -> [MemoryRecord] {
        try await read { db in
            try Row.fetchAll(
                db, sql: "SELECT seq, time, body, hash FROM memory_log WHERE memory = ? ORDER BY seq",
                arguments: [id.rawValue]
            ).map { row in
                MemoryRecord(
                    seq: row["seq"], time: row["time"], change: try Self.change(row["body"]), hash: row["hash"])
            }
        }
    }

    /// The change a memory log record's body holds.
    private static func change(_ body: Data) throws -> MemoryChange {
        struct Body: Decodable { var change: MemoryChange }
        return try JSONDecoder().decode(Body.self, from: body).change
    }

    public func verifyLog() async throws -> (records: Int64, firstBad: Int64?) {
        try await read { db in
            var previous = ""
            var count: Int64 = 0
            var expected: Int64 = 1
            let rows = try Row.fetchCursor(db, sql: "SELECT seq, body, hash FROM memory_log ORDER BY seq")
            while let row = try rows.next() {
                count += 1
                let seq: Int64 = row["seq"]
                let hash: String = row["hash"]
                guard seq == expected,
                    MemoryRules.verify(seq: seq, body: row["body"], hash: hash, previous: previous) != nil
                else { return (count, seq) }
                previous = hash
                expected += 1
            }
            return (count, nil)
        }
    }

    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do { return try await writer.read(body) } catch let e as MemoryError { throw e } catch {
            throw SQLiteEventStore.mapError(error, path: path)
        }
    }
}

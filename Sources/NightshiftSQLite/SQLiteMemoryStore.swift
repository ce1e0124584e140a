import Foundation
import GRDB
public import NightshiftCore

/// The memory bank on SQLite, in the runs' database: the memory log, each memory as it stands,
/// and an FTS5 index ranked by BM25. A change is checked against the memory as it stands inside
/// an immediate transaction, so concurrent writers (threads or processes) are serialised and a
/// stale revision is refused, never applied over a newer one.
public final class SQLiteMemoryStore: MemoryStore, Sendable {
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

    /// `AND scope IN (…)` for `scopes` on table alias `m`, and its arguments.
    private static func scopeFilter(_ scopes: [MemoryScope]?) -> (String, [any DatabaseValueConvertible]) {
        guard let scopes else { return ("", []) }
        return (
            " AND m.scope IN (\(Array(repeating: "?", count: scopes.count).joined(separator: ",")))",
            scopes.map(\.description)
        )
    }

    public func unembedded(model: String, scopes: [MemoryScope]?, limit: Int) async throws -> [Memory] {
        if scopes?.isEmpty == true { return [] }
        let (filter, scopeArgs) = Self.scopeFilter(scopes)
        let sql =
            "SELECT m.state FROM memory m LEFT JOIN memory_vector v ON v.n = m.n AND v.model = ? "
            + "WHERE m.live = 1 AND v.n IS NULL\(filter) ORDER BY m.n LIMIT ?"
        let args = ([model] + scopeArgs + [limit]).map(\.databaseValue)
        return try await read { db in
            try Data.fetchAll(db, sql: sql, arguments: StatementArguments(args)).map(Self.decode)
        }
    }

    public func setVectors(_ vectors: [MemoryVector], model: String) async throws {
        try await write { db in
            for v in vectors {
                guard
                    let row = try Row.fetchOne(
                        db, sql: "SELECT n, state FROM memory WHERE id = ?", arguments: [v.id.rawValue]),
                    try Self.decode(row["state"]).version == v.version
                else { continue }  // changed since it was read: embedded again next time
                try db.execute(
                    sql: "INSERT OR REPLACE INTO memory_vector (n, model, version, vec) VALUES (?, ?, ?, ?)",
                    arguments: [row["n"] as Int64, model, v.version, Self.blob(v.vector)])
            }
        }
    }

    public func nearest(
        _ vector: [Float], model: String, scopes: [MemoryScope]?, limit: Int, atLeast: Float, now: Int64
    )
        async throws -> [Memory]
    {
        if scopes?.isEmpty == true || limit <= 0 { return [] }
        let (filter, scopeArgs) = Self.scopeFilter(scopes)
        let sql =
            "SELECT v.n, v.vec FROM memory_vector v JOIN memory m ON m.n = v.n "
            + "WHERE v.model = ? AND m.live = 1 AND (m.expires IS NULL OR m.expires > ?)\(filter)"
        let args = ([model, now] + scopeArgs).map(\.databaseValue)
        return try await read { db in
            var best: [(n: Int64, score: Float)] = []
            let rows = try Row.fetchCursor(db, sql: sql, arguments: StatementArguments(args))
            while let row = try rows.next() {
                let score = Self.cosine(vector, row["vec"] as Data)
                guard score >= atLeast, best.count < limit || score > best[best.count - 1].score else { continue }
                let at = best.firstIndex { score > $0.score } ?? best.count
                best.insert((row["n"], score), at: at)
                if best.count > limit { best.removeLast() }
            }
            return try best.compactMap { hit in
                try Data.fetchOne(db, sql: "SELECT state FROM memory WHERE n = ?", arguments: [hit.n]).map(Self.decode)
            }
        }
    }

    /// A vector as little-endian 32-bit floats.
    static func blob(_ v: [Float]) -> Data {
        var data = Data(capacity: v.count * 4)
        for x in v { withUnsafeBytes(of: x.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }

    /// Cosine of `a` and a stored vector, read in place.
    static func cosine(_ a: [Float], _ stored: Data) -> Float {
        guard stored.count == a.count * 4 else { return -2 }
        return stored.withUnsafeBytes { raw in
            var (dot, na, nb): (Float, Float, Float) = (0, 0, 0)
            for i in 0..<a.count {
                let b = Float(
                    bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
                dot += a[i] * b
                na += a[i] * a[i]
                nb += b * b
            }
            return na == 0 || nb == 0 ? 0 : dot / (na.squareRoot() * nb.squareRoot())
        }
    }

    public func history(_ id: MemoryID) async throws -> [MemoryRecord] {
        try await read { db in
            try Row.fetchAll(
                db, sql: "SELECT seq, time, body, hash FROM memory_log WHERE memory = ? ORDER BY seq",
                arguments: [id.rawValue]
            ).map { row in
                struct Body: Decodable { var change: MemoryChange }
                let change = try JSONDecoder().decode(Body.self, from: row["body"] as Data).change
                return MemoryRecord(seq: row["seq"], time: row["time"], change: change, hash: row["hash"])
            }
        }
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

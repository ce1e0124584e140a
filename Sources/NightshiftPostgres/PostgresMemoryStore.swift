import Foundation
import Logging
public import NightshiftCore
import PostgresNIO

/// The memory bank on PostgreSQL, in the runs' database: the memory log, each memory as it
/// stands, dreams and proposals, and vectors. Every write first locks the one `memory_head` row
/// (`SELECT … FOR UPDATE`), so writers on every host take turns: the log's chain stays linear,
/// and a change is checked by ``MemoryRules`` against the memory as the writer before left it,
/// so of two hosts revising one version, the second gets ``MemoryError/Code/conflict``.
///
/// Search ranks with PostgreSQL's full text (`ts_rank` over an English-stemmed `tsvector`, the
/// text weighted 1 and the tags 0.5, divided by the log of the memory's length), where SQLite
/// ranks with FTS5's BM25. Both split words the same way (``MemoryRules/words(_:)``) and stem
/// English alike, so both match the same memories; the order can differ, as `ts_rank` knows
/// nothing of how rare a word is across the bank: a common word counts as much as a rare one.
public final class PostgresMemoryStore: MemoryStore, DreamLog, Sendable {
    let store: PostgresEventStore

    /// The memory bank of the database `store` is on (one connection pool for both).
    public init(sharing store: PostgresEventStore) {
        self.store = store
    }

    var client: PostgresClient { store.client }
    var logger: Logger { store.logger }

    static func decode(_ data: Data) throws -> Memory { try JSONDecoder().decode(Memory.self, from: data) }
    static func encode(_ m: some Encodable) throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try e.encode(m)
    }

    public func apply(_ change: MemoryChange, at time: Int64) async throws -> Memory {
        guard change.changesMemory else { throw MemoryError(.invalid, "a \(change.kindName) record changes no memory") }
        return try await write { c, logger in try await Self.applyMemory(c, change, at: time, logger: logger) }
    }

    public func apply(_ changes: [MemoryChange], at time: Int64) async throws -> [Memory] {
        if let other = changes.first(where: { !$0.changesMemory }) {
            throw MemoryError(.invalid, "a \(other.kindName) record changes no memory")
        }
        return try await write { c, logger in
            var out: [Memory] = []
            for change in changes { out.append(try await Self.applyMemory(c, change, at: time, logger: logger)) }
            return out
        }
    }

    public func record(_ dream: Dream, at time: Int64) async throws {
        let state = try Self.encode(dream)
        let proposals = try dream.proposals.map {
            ($0.id.rawValue, try Self.encode(ProposalState(dream: dream.id, proposal: $0, status: .waiting)))
        }
        try await write { c, logger in
            try await Self.append(c, .dreamt(dream), at: time, logger: logger)
            try await c.query("INSERT INTO memory_dream (id, state) VALUES (\(dream.id), \(state))", logger: logger)
            let waiting = ProposalState.Status.waiting.rawValue
            for (id, state) in proposals {
                try await c.query(
                    "INSERT INTO memory_proposal (id, status, state) VALUES (\(id), \(waiting), \(state))",
                    logger: logger)
            }
        }
    }

    public func start(_ dream: DreamStart) async throws {
        try await write { c, logger in try await Self.append(c, .dreamStarted(dream), at: dream.time, logger: logger) }
    }

    public func fail(dream: String, reason: String, at time: Int64) async throws {
        try await write { c, logger in
            try await Self.append(c, .dreamFailed(id: dream, reason: reason), at: time, logger: logger)
        }
    }

    public func unfinishedDreams() async throws -> [DreamStart] {
        var starts: [DreamStart] = []
        var failed: Set<String> = []
        // Dream ids begin `dream-`: the log's index by memory ("C" order) holds their records together.
        for body in try await rows(
            "SELECT body FROM memory_log WHERE memory >= 'dream-' AND memory < 'dream.' ORDER BY seq", Data.self)
        {
            switch try Self.change(body) {
            case let .dreamStarted(start): starts.append(start)
            case let .dreamFailed(id, _): failed.insert(id)
            default: break
            }
        }
        return DreamStart.unfinished(starts, failed: failed, recorded: try await dreams())
    }

    public func dreams() async throws -> [Dream] {
        try await rows("SELECT state FROM memory_dream ORDER BY n", Data.self).map {
            try JSONDecoder().decode(Dream.self, from: $0)
        }
    }

    public func proposals() async throws -> [ProposalState] {
        try await rows("SELECT state FROM memory_proposal ORDER BY n", Data.self).map {
            try JSONDecoder().decode(ProposalState.self, from: $0)
        }
    }

    public func decide(
        _ proposal: MemoryID, accepted: Bool, by: String, note: String, changes: [MemoryChange], at time: Int64
    ) async throws -> [Memory] {
        try await write { c, logger in
            var current: ProposalState?
            for try await state in try await c.query(
                "SELECT state FROM memory_proposal WHERE id = \(proposal.rawValue)", logger: logger
            ).decode(Data.self) { current = try JSONDecoder().decode(ProposalState.self, from: state) }
            // Read under the head's lock: a second decider waits, then sees this one's decision.
            let decided = try MemoryRules.decide(current, id: proposal, accepted: accepted, by: by, note: note)
            // Any refused change throws out of the transaction: nothing of the decision is kept.
            var memories: [Memory] = []
            for change in changes { memories.append(try await Self.applyMemory(c, change, at: time, logger: logger)) }
            try await Self.append(
                c, .decided(proposal: proposal, dream: decided.dream, accepted: accepted, by: by, note: note), at: time,
                logger: logger)
            let (status, state) = (decided.status.rawValue, try Self.encode(decided))
            try await c.query(
                "UPDATE memory_proposal SET status = \(status), state = \(state) WHERE id = \(proposal.rawValue)",
                logger: logger)
            return memories
        }
    }

    // MARK: - Writing

    /// `body` in one transaction that first locks the head row: `FOR UPDATE` for the log's
    /// writers (one at a time, each seeing what the one before committed), `FOR SHARE` for a
    /// writer of vectors (many at once, none while a change is appended).
    func write<T: Sendable>(
        shared: Bool = false, _ body: (PostgresConnection, Logger) async throws -> T
    ) async throws -> T {
        do {
            return try await client.withTransaction(logger: logger) { c in
                let lock: PostgresQuery =
                    shared ? "SELECT seq FROM memory_head FOR SHARE" : "SELECT seq FROM memory_head FOR UPDATE"
                try await c.query(lock, logger: self.logger)
                return try await body(c, self.logger)
            }
        } catch { throw PostgresEventStore.mapError(error, run: nil, expectedSeq: nil) }
    }

    /// Appends `change` to the memory log (the head is locked by the caller's transaction); returns its hash.
    @discardableResult
    static func append(
        _ c: PostgresConnection, _ change: MemoryChange, at time: Int64, logger: Logger
    ) async throws
        -> String
    {
        var head: (seq: Int64, hash: String) = (0, "")
        for try await row in try await c.query("SELECT seq, hash FROM memory_head FOR UPDATE", logger: logger)
            .decode((Int64, String).self)
        { head = row }
        let seq = head.seq + 1
        let body = try MemoryRules.body(seq: seq, time: time, change: change)
        let hash = MemoryRules.chain(previous: head.hash, body: body)
        let memory = change.memory.rawValue
        try await c.query(
            "INSERT INTO memory_log (seq, time, memory, body, hash) VALUES (\(seq), \(time), \(memory), \(body), \(hash))",
            logger: logger)
        try await c.query("UPDATE memory_head SET seq = \(seq), hash = \(hash)", logger: logger)
        return hash
    }

    /// Checks `change` by the rules against the memory as it stands, appends it, and updates the
    /// memory, its search words and (dropping it) its vector.
    static func applyMemory(
        _ c: PostgresConnection, _ change: MemoryChange, at time: Int64, logger: Logger
    )
        async throws -> Memory
    {
        var row: (n: Int64, state: Data)?
        for try await r in try await c.query(
            "SELECT n, state FROM memory WHERE id = \(change.memory.rawValue)", logger: logger
        ).decode((Int64, Data).self) { row = r }
        let current = try row.map { try decode($0.state) }
        // A refusal throws out of the transaction, taking the appended record with it.
        let hash = try await append(c, change, at: time, logger: logger)
        let m = try MemoryRules.apply(change, to: current, at: time, hash: hash)
        let live = !m.expired && !m.deleted
        // Gone: no words (NULL document), so the search index holds live memories only.
        let (text, tags) = live ? (searchText(m.text), searchText(m.tags.joined(separator: " "))) : (nil, nil)
        let state = try encode(m)
        if let row {
            try await c.query(
                """
                UPDATE memory SET updated = \(m.updated), live = \(live), expires = \(m.expires), state = \(state),
                    doc = setweight(to_tsvector('english', \(text)), 'A') || setweight(to_tsvector('english', \(tags)), 'B')
                WHERE n = \(row.n)
                """, logger: logger)
            // Its vector was made from the version this change replaces.
            try await c.query("DELETE FROM memory_vector WHERE n = \(row.n)", logger: logger)
        } else {
            try await c.query(
                """
                INSERT INTO memory (id, scope, updated, live, expires, state, doc)
                VALUES (\(m.id.rawValue), \(m.scope.description), \(m.updated), \(live), \(m.expires), \(state),
                    setweight(to_tsvector('english', \(text)), 'A') || setweight(to_tsvector('english', \(tags)), 'B'))
                """, logger: logger)
        }
        return m
    }

    /// The words of `text` as search sees them (split at anything not a letter or digit), so
    /// PostgreSQL's parser finds no paths, addresses or versions that a query's words would miss.
    static func searchText(_ text: String) -> String {
        text.split(whereSeparator: { !($0.isLetter || $0.isNumber) }).joined(separator: " ")
    }

    // MARK: - Reading

    public func memory(_ id: MemoryID) async throws -> Memory? {
        try await rows("SELECT state FROM memory WHERE id = \(id.rawValue)", Data.self).first.map(Self.decode)
    }

    public func list(scopes: [MemoryScope]?, includeGone: Bool) async throws -> [Memory] {
        let keys = scopes?.map(\.description)
        // Past its expiry time it is gone too, as search has it.
        let now = store.configuration.now().milliseconds
        return try await rows(
            """
            SELECT state FROM memory
            WHERE (\(keys)::text[] IS NULL OR scope = ANY(\(keys)))
                AND (\(includeGone) OR (live AND (expires IS NULL OR expires > \(now))))
            ORDER BY updated DESC, id DESC
            """, Data.self
        ).map(Self.decode)
    }

    public func search(_ query: String, scopes: [MemoryScope]?, limit: Int, now: Int64) async throws -> [Memory] {
        // Words are letters and digits only: joined by `|` (or) they hold no other tsquery syntax.
        let words = MemoryRules.words(query).prefix(64)
        guard !words.isEmpty, limit > 0 else { return [] }
        if scopes?.isEmpty == true { return [] }
        let (match, keys, cap) = (words.joined(separator: " | "), scopes?.map(\.description), Int64(limit))
        return try await rows(
            """
            SELECT m.state FROM memory m, to_tsquery('english', \(match)) q
            WHERE m.doc @@ q AND m.live AND (m.expires IS NULL OR m.expires > \(now))
                AND (\(keys)::text[] IS NULL OR m.scope = ANY(\(keys)))
            ORDER BY ts_rank('{0, 0, 0.5, 1}', m.doc, q, 1) DESC, m.id LIMIT \(cap)
            """, Data.self
        ).map(Self.decode)
    }

    public func history(_ id: MemoryID) async throws -> [MemoryRecord] {
        try await rows(
            "SELECT seq, time, body, hash FROM memory_log WHERE memory = \(id.rawValue) ORDER BY seq",
            (Int64, Int64, Data, String).self
        ).map { seq, time, body, hash in MemoryRecord(seq: seq, time: time, change: try Self.change(body), hash: hash) }
    }

    /// The change a memory log record's body holds.
    static func change(_ body: Data) throws -> MemoryChange {
        struct Body: Decodable { var change: MemoryChange }
        return try JSONDecoder().decode(Body.self, from: body).change
    }

    public func verifyLog() async throws -> (records: Int64, firstBad: Int64?) {
        // One snapshot, a page at a time: an append meanwhile is not half seen, a long log never held whole.
        try await store.consistent { c in
            var previous = ""
            var count: Int64 = 0
            var expected: Int64 = 1
            while true {
                var page: [(Int64, Data, String)] = []
                for try await row in try await c.query(
                    "SELECT seq, body, hash FROM memory_log WHERE seq >= \(expected) ORDER BY seq LIMIT 1000",
                    logger: self.logger
                ).decode((Int64, Data, String).self) { page.append(row) }
                if page.isEmpty { return (count, nil) }
                for (seq, body, hash) in page {
                    count += 1
                    guard seq == expected,
                        MemoryRules.verify(seq: seq, body: body, hash: hash, previous: previous) != nil
                    else { return (count, seq) }
                    previous = hash
                    expected += 1
                }
            }
        }
    }

    /// Every row of `query`, decoded as `type`, outside any transaction.
    func rows<each T: PostgresDecodable & Sendable>(
        _ query: PostgresQuery, _ type: (repeat each T).Type
    ) async throws -> [(repeat each T)] {
        do {
            var out: [(repeat each T)] = []
            for try await row in try await client.query(query, logger: logger).decode(type) { out.append(row) }
            return out
        } catch { throw PostgresEventStore.mapError(error, run: nil, expectedSeq: nil) }
    }
}

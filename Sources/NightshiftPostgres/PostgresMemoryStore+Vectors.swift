import Foundation
public import NightshiftCore
import PostgresNIO

/// Vectors for hybrid search: int8 (scaled to the largest component; the cosine does not change),
/// one per live memory and model at the memory's version, and the nearest found by a cosine
/// computed here over the scopes' vectors (no vector extension is needed on the server).
extension PostgresMemoryStore {
    public func unembedded(model: String, scopes: [MemoryScope]?, limit: Int) async throws -> [Memory] {
        if scopes?.isEmpty == true || limit <= 0 { return [] }
        let (keys, cap) = (scopes?.map(\.description), Int64(limit))
        return try await rows(
            """
            SELECT m.state FROM memory m
            WHERE m.live AND (\(keys)::text[] IS NULL OR m.scope = ANY(\(keys)))
                AND NOT EXISTS (SELECT 1 FROM memory_vector v WHERE v.n = m.n AND v.model = \(model))
            ORDER BY m.n LIMIT \(cap)
            """, Data.self
        ).map(Self.decode)
    }

    public func setVectors(_ vectors: [MemoryVector], model: String) async throws {
        // Under the head's shared lock: no change to a memory commits between reading its
        // version here and keeping its vector, so a vector is never kept for a replaced version.
        try await write(shared: true) { c, logger in
            for v in vectors {
                var row: (n: Int64, state: Data)?
                for try await r in try await c.query(
                    "SELECT n, state FROM memory WHERE id = \(v.id.rawValue)", logger: logger
                ).decode((Int64, Data).self) { row = r }
                guard let row else { continue }
                let m = try Self.decode(row.state)
                // Changed since it was read (embedded again next time), or gone (never searched).
                guard m.version == v.version, !m.expired, !m.deleted, !v.vector.isEmpty else { continue }
                let (scope, version, vec) = (m.scope.description, Int64(v.version), StoredVector.int8(v.vector))
                try await c.query(
                    """
                    INSERT INTO memory_vector (model, scope, n, version, expires, vec)
                    VALUES (\(model), \(scope), \(row.n), \(version), \(m.expires), \(vec))
                    ON CONFLICT (model, scope, n) DO UPDATE
                        SET version = EXCLUDED.version, expires = EXCLUDED.expires, vec = EXCLUDED.vec
                    """, logger: logger)
            }
        }
    }

    public func nearest(
        _ vector: [Float], model: String, scopes: [MemoryScope]?, limit: Int, atLeast: Float, now: Int64
    ) async throws -> [MemoryID] {
        if scopes?.isEmpty == true || limit <= 0 { return [] }
        let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        guard norm > 0 else { return [] }
        let query = StoredVector.lanes(vector)
        let keys = scopes?.map(\.description)
        var best: [(n: Int64, score: Float)] = []
        do {
            for try await (n, vec) in try await client.query(
                """
                SELECT n, vec FROM memory_vector
                WHERE model = \(model) AND (\(keys)::text[] IS NULL OR scope = ANY(\(keys)))
                    AND (expires IS NULL OR expires > \(now))
                """, logger: logger
            ).decode((Int64, Data).self) {
                let score = StoredVector.cosine(query, count: vector.count, norm: norm, int8: vec)
                guard score >= atLeast, best.count < limit || score > best[best.count - 1].score else { continue }
                let at = best.firstIndex { score > $0.score } ?? best.count
                best.insert((n, score), at: at)
                if best.count > limit { best.removeLast() }
            }
        } catch { throw PostgresEventStore.mapError(error, run: nil, expectedSeq: nil) }
        guard !best.isEmpty else { return [] }
        let ns = best.map(\.n)
        let ids = Dictionary(
            try await rows("SELECT n, id FROM memory WHERE n = ANY(\(ns))", (Int64, String).self),
            uniquingKeysWith: { a, _ in a })
        return best.compactMap { ids[$0.n].map { MemoryID($0) } }
    }

}

/// Reciprocal rank fusion: one ranking from several (full-text and vector), each item scored
/// Σ 1 / (k + rank). It needs no calibration between BM25 scores and cosines, which is why
/// hybrid search uses it.
public enum RankFusion {
    /// The usual constant: high enough that first places in different lists weigh about the same.
    public static let k = 60.0

    /// The fused order of `lists` (each best first), at most `limit`; ties keep the first list's order.
    public static func fuse(_ lists: [[MemoryID]], limit: Int) -> [MemoryID] {
        var score: [MemoryID: Double] = [:]
        var firstSeen: [MemoryID: Int] = [:]
        var order = 0
        for list in lists {
            for (rank, id) in list.enumerated() {
                score[id, default: 0] += 1 / (k + Double(rank + 1))
                if firstSeen[id] == nil {
                    firstSeen[id] = order
                    order += 1
                }
            }
        }
        return score.keys.sorted { a, b in
            score[a]! != score[b]! ? score[a]! > score[b]! : firstSeen[a]! < firstSeen[b]!
        }.prefix(limit).map { $0 }
    }

    /// Cosine similarity; 0 when either vector is zero or they differ in length.
    public static func cosine(_ a: [Float], _ b: [Float]) -> Float {
        guard a.count == b.count, !a.isEmpty else { return 0 }
        var (dot, na, nb): (Float, Float, Float) = (0, 0, 0)
        for i in 0..<a.count {
            dot += a[i] * b[i]
            na += a[i] * a[i]
            nb += b[i] * b[i]
        }
        return na == 0 || nb == 0 ? 0 : dot / (na.squareRoot() * nb.squareRoot())
    }
}

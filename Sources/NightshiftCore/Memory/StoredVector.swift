public import Foundation

/// Memory vectors as the stores keep them: int8, scaled so the largest component is ±127 (a
/// quarter of the bytes of floats, the cosine unchanged to within the rounding), and the cosine
/// of a query against one, in 16-wide lanes. One home for SQLite's and PostgreSQL's bytes, so
/// a memory bank moved between them ranks the same.
public enum StoredVector {
    /// A vector as int8, scaled so its largest component is ±127 (the cosine stays what it was,
    /// to within the rounding).
    public static func int8(_ v: [Float]) -> Data {
        let top = v.reduce(0) { max($0, abs($1)) }
        let scale = top > 0 ? 127 / top : 0
        return Data(v.map { UInt8(bitPattern: Int8(($0 * scale).rounded())) })
    }

    /// A query vector in 16-wide lanes (zero-padded), for ``cosine(_:count:norm:int8:)``.
    public static func lanes(_ v: [Float]) -> [SIMD16<Float>] {
        stride(from: 0, to: v.count, by: 16).map { start in
            var lane = SIMD16<Float>()
            for i in 0..<min(16, v.count - start) { lane[i] = v[start + i] }
            return lane
        }
    }

    /// Cosine of a query (`count` components in lanes, its norm `norm`) and a stored int8 vector; -2 (below any floor) when their lengths differ.
    public static func cosine(_ query: [SIMD16<Float>], count: Int, norm: Float, int8 stored: Data) -> Float {
        guard stored.count == count else { return -2 }
        return stored.withUnsafeBytes { raw in
            var dot = SIMD16<Float>()
            var nb = SIMD16<Float>()
            let full = count / 16
            for k in 0..<full {
                let x = SIMD16<Float>(raw.loadUnaligned(fromByteOffset: k * 16, as: SIMD16<Int8>.self))
                dot += query[k] * x
                nb += x * x
            }
            var (d, n) = (dot.sum(), nb.sum())
            for i in (full * 16)..<count {
                let x = Float(raw.load(fromByteOffset: i, as: Int8.self))
                d += query[full][i - full * 16] * x
                n += x * x
            }
            return n == 0 ? 0 : d / (norm * n.squareRoot())
        }
    }
}

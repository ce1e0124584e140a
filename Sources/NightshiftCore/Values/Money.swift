/// Costs are integers of 10⁻¹² USD (pico-dollars): token counts × prices in micro-dollars per
/// million tokens multiply out exactly, so the ledger never rounds.
public enum Money {
    public static let picoPerDollar: Int64 = 1_000_000_000_000

    /// "$0.001234" (six decimals, rounded half up for display only).
    public static func format(_ pico: Int64) -> String {
        let micro = pico / 1_000_000 + (pico % 1_000_000 >= 500_000 ? 1 : 0)  // no overflow near Int64.max
        let dollars = micro / 1_000_000, rest = micro % 1_000_000
        let frac = String(rest)
        return "$\(dollars).\(String(repeating: "0", count: 6 - frac.count))\(frac)"
    }
}

extension Money {
    /// Parses "5", "5.00" or "0.0125" dollars exactly into pico-dollars; nil for anything else
    /// (negative, more than 12 decimals, not a number).
    public static func parseUSD(_ text: String) -> Int64? {
        let t = text.trimmingPrefix("$")
        guard !t.isEmpty else { return nil }
        let parts = t.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let whole = Int64(parts[0].isEmpty ? "0" : String(parts[0])), whole >= 0,
            parts[0].allSatisfy(\.isNumber)
        else { return nil }
        var fraction: Int64 = 0
        if parts.count == 2 {
            let f = parts[1]
            guard !f.isEmpty, f.count <= 12, f.allSatisfy(\.isNumber), let v = Int64(f) else { return nil }
            fraction = v * Int64(pow10(12 - f.count))
        }
        let (product, overflow) = whole.multipliedReportingOverflow(by: picoPerDollar)
        guard !overflow else { return nil }
        let (sum, overflowed) = product.addingReportingOverflow(fraction)
        return overflowed ? nil : sum
    }

    /// The most one model call may cost: $100,000. A response claiming more is refused where it
    /// enters (it is a broken or hostile provider, or a typo), so ledger sums can never overflow.
    public static let maxPicoPerCall: Int64 = 100_000 * picoPerDollar

    private static func pow10(_ n: Int) -> Int64 { (0..<n).reduce(1) { r, _ in r * 10 } }
}

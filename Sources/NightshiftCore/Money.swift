/// Costs are integers of 10⁻¹² USD (pico-dollars): token counts × prices in micro-dollars per
/// million tokens multiply out exactly, so the ledger never rounds.
public enum Money {
    public static let picoPerDollar: Int64 = 1_000_000_000_000

    /// "$0.001234" (six decimals, rounded half up for display only).
    public static func format(_ pico: Int64) -> String {
        let micro = (pico + 500_000) / 1_000_000
        let dollars = micro / 1_000_000, rest = micro % 1_000_000
        let frac = String(rest)
        return "$\(dollars).\(String(repeating: "0", count: 6 - frac.count))\(frac)"
    }
}

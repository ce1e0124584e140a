public import NightshiftCore

/// Prices in micro-dollars per million tokens: multiplied by token counts they give the cost in
/// 10⁻¹² USD exactly.
public struct Price: Sendable, Equatable {
    public var input: Int64
    public var cachedInput: Int64
    /// Tokens written to the prompt cache (Anthropic); defaults to the input price.
    public var cacheWrite: Int64
    public var output: Int64
    public init(input: Int64, cachedInput: Int64? = nil, cacheWrite: Int64? = nil, output: Int64) {
        self.input = input
        self.cachedInput = cachedInput ?? input
        self.cacheWrite = cacheWrite ?? input
        self.output = output
    }
}

/// Model name prefix → price. The longest matching prefix wins; a model with no entry is
/// "unpriced" (its cost is unknown, never counted as zero).
public struct PricingTable: Sendable {
    public var entries: [(prefix: String, price: Price)]
    public init(_ entries: [(prefix: String, price: Price)]) { self.entries = entries }

    public func price(for model: String) -> Price? {
        entries.filter { model.hasPrefix($0.prefix) }.max { $0.prefix.count < $1.prefix.count }?.price
    }

    /// Cost of `usage` in 10⁻¹² USD, or nil when the model is not priced.
    public func cost(_ usage: TokenUsage, model: String) -> Int64? {
        guard let p = price(for: model) else { return nil }
        let writes = Int64(usage.cacheWriteInput ?? 0), cached = Int64(usage.cachedInput)
        let plain = max(Int64(usage.input) - cached - writes, 0)
        // Overflow-checked: an absurd price or count gives an absurd cost (refused where it enters), never a trap.
        var total: Int64 = 0
        for (count, price) in [
            (plain, p.input), (cached, p.cachedInput), (writes, p.cacheWrite), (Int64(usage.output), p.output),
        ] {
            let (product, o1) = count.multipliedReportingOverflow(by: price)
            let (sum, o2) = total.addingReportingOverflow(product)
            if o1 || o2 { return .max }
            total = sum
        }
        return total
    }

    /// List prices as published by the vendors (USD per million tokens), shipped as defaults.
    /// Prices change: override them with `--pricing FILE`.
    public static let defaults = PricingTable([
        ("gpt-4o-mini", Price(input: 150_000, cachedInput: 75_000, output: 600_000)),
        ("gpt-4o", Price(input: 2_500_000, cachedInput: 1_250_000, output: 10_000_000)),
        ("gpt-4.1-nano", Price(input: 100_000, cachedInput: 25_000, output: 400_000)),
        ("gpt-4.1-mini", Price(input: 400_000, cachedInput: 100_000, output: 1_600_000)),
        ("gpt-4.1", Price(input: 2_000_000, cachedInput: 500_000, output: 8_000_000)),
        ("o4-mini", Price(input: 1_100_000, cachedInput: 275_000, output: 4_400_000)),
        ("claude-opus-4", Price(input: 15_000_000, cachedInput: 1_500_000, cacheWrite: 18_750_000, output: 75_000_000)),
        ("claude-sonnet-4", Price(input: 3_000_000, cachedInput: 300_000, cacheWrite: 3_750_000, output: 15_000_000)),
        ("claude-3-7-sonnet", Price(input: 3_000_000, cachedInput: 300_000, cacheWrite: 3_750_000, output: 15_000_000)),
        ("claude-3-5-haiku", Price(input: 800_000, cachedInput: 80_000, cacheWrite: 1_000_000, output: 4_000_000)),
        ("claude-haiku-4", Price(input: 1_000_000, cachedInput: 100_000, cacheWrite: 1_250_000, output: 5_000_000)),
    ])

    /// A copy where `overrides` replace or add entries.
    public func merging(_ overrides: [(prefix: String, price: Price)]) -> PricingTable {
        var e = entries.filter { old in !overrides.contains { $0.prefix == old.prefix } }
        e += overrides
        return PricingTable(e)
    }
}

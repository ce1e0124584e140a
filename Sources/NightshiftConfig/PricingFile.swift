import Foundation
public import NightshiftModels
import Yams

/// Loads price overrides, USD per million tokens, by model-name prefix:
///
/// ```yaml
/// gpt-4o: {input: 2.50, cached_input: 1.25, output: 10.00}
/// my-local-model: {input: 0, output: 0}
/// claude-sonnet-4: {input: 3, cached_input: 0.30, cache_write: 3.75, output: 15}
/// ```
public enum PricingFile {
    public static func load(path: String) throws(FileError) -> [(prefix: String, price: Price)] {
        try parse(try YAMLReader.readText(path, what: "pricing"), file: path)
    }

    public static func parse(_ text: String, file: String) throws(FileError) -> [(prefix: String, price: Price)] {
        let r = YAMLReader(file: file)
        var out: [(prefix: String, price: Price)] = []
        for entry in try r.mapping(try r.load(text), "the pricing file") {
            let fields = try r.mapping(entry.value, "the price of '\(entry.key)'")
            try r.checkKeys(
                fields, allowed: ["input", "cached_input", "cache_write", "output"], in: "the price of '\(entry.key)'")
            var values: [String: Int64] = [:]
            for f in fields {
                let text = try r.string(f.value, "\(entry.key).\(f.key)")
                guard let micro = microDollars(text) else {
                    throw r.fail(
                        f.value,
                        "\(entry.key).\(f.key) must be a number of dollars per million tokens from 0 to "
                            + "\(maxDollars), e.g. 2.50")
                }
                values[f.key] = micro
            }
            guard let input = values["input"], let output = values["output"] else {
                throw r.fail(entry.value, "the price of '\(entry.key)' needs at least 'input' and 'output'")
            }
            out.append(
                (
                    entry.key,
                    Price(
                        input: input, cachedInput: values["cached_input"], cacheWrite: values["cache_write"],
                        output: output)
                ))
        }
        return out
    }

    /// "2.50" → 2,500,000 exactly (no floating point); nil if not a plain decimal with ≤ 6 places.
    /// The highest price accepted, in dollars per million tokens: far above any list price, and
    /// low enough that its micro-dollars can never overflow.
    static let maxDollars: Int64 = 1_000_000

    /// Dollars per million tokens as micro-dollars; nil for anything but 0 … ``maxDollars`` with
    /// at most six decimals.
    static func microDollars(_ text: String) -> Int64? {
        let parts = text.trimmingCharacters(in: .whitespaces).split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts[0].allSatisfy(\.isNumber),
            let whole = Int64(parts[0].isEmpty ? "0" : String(parts[0])), (0...maxDollars).contains(whole)
        else { return nil }
        var frac: Int64 = 0
        if parts.count == 2 {
            let digits = String(parts[1])
            guard digits.count <= 6, digits.allSatisfy(\.isNumber), let f = Int64(digits.isEmpty ? "0" : digits) else {
                return nil
            }
            frac = f * Int64(pow(10, Double(6 - digits.count)))
        }
        return whole * 1_000_000 + frac
    }
}

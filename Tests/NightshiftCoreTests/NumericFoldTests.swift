import NightshiftCore
import Testing

/// A log that carries out-of-range numbers anyway (written by hand, or by a build before the
/// checks at the edges) is refused by the fold with a reason: never a trap.
@Suite struct NumericFoldTests {
    @Test(arguments: [
        TokenUsage(input: -1), TokenUsage(output: Int.max), TokenUsage(input: 5, cachedInput: -3),
        TokenUsage(input: 1, cacheWriteInput: TokenUsage.maxPerCall + 1),
    ])
    func outOfRangeUsageIsRefused(usage: TokenUsage) throws {
        var log = LogBuilder()
        try log.add(created())
        try log.advance()
        let event = Event.modelResponded(
            call: CallID("m1"), text: "", toolCalls: [], claimsDone: false, summary: nil, usage: usage,
            model: "m", costPicoUSD: nil)
        #expect(throws: (any Error).self) { try log.add(event) }
        #expect(log.state.usage == TokenUsage())
    }

    @Test(arguments: [Int64(-1), Money.maxPicoPerCall + 1, Int64.max])
    func outOfRangeCostIsRefused(cost: Int64) throws {
        var log = LogBuilder()
        try log.add(created())
        try log.advance()
        let event = Event.modelResponded(
            call: CallID("m1"), text: "", toolCalls: [], claimsDone: false, summary: nil,
            usage: TokenUsage(input: 1), model: "m", costPicoUSD: cost)
        #expect(throws: (any Error).self) { try log.add(event) }
    }

    @Test func theBoundsThemselvesAreAccepted() throws {
        var log = LogBuilder()
        try log.add(created())
        try log.advance()
        let max = TokenUsage.maxPerCall
        try log.add(
            .modelResponded(
                call: CallID("m1"), text: "", toolCalls: [], claimsDone: false, summary: nil,
                usage: TokenUsage(input: max, output: max, cachedInput: max), model: "m",
                costPicoUSD: Money.maxPicoPerCall))
        #expect(log.state.usage.input == max)
    }
}

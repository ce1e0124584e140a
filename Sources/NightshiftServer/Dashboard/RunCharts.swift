import NightshiftCore

/// A run's charts, drawn by the server as SVG from its events (no script, no library): what it
/// spent over time (cost and tokens, cumulative, at each model answer) and how long each step
/// took (each model call from request to answer, each tool call from start to result).
struct RunCharts {
    struct Step {
        var call: String
        var tool: Bool
        var milliseconds: Int64
    }
    private(set) var spend: [(at: Int64, cost: Int64, tokens: Int)] = []
    private(set) var steps: [Step] = []
    private var start: Int64?
    private var cost: Int64 = 0
    private var tokens = 0
    private var begun: [String: Int64] = [:]

    /// The latest steps drawn (a long run's chart stays readable).
    static let stepsShown = 60

    mutating func add(_ e: EventEnvelope) {
        let t = e.time.milliseconds
        if start == nil { start = t }
        switch e.event {
        case let .modelRequested(call, _, _, _): begun[call.rawValue] = t
        case let .modelResponded(call, _, _, _, _, usage, _, price, _):
            cost += price ?? 0
            tokens += usage.input + usage.output
            spend.append((t - (start ?? t), cost, tokens))
            if let from = begun.removeValue(forKey: call.rawValue) {
                steps.append(Step(call: call.rawValue, tool: false, milliseconds: t - from))
            }
        case let .toolStarted(call): begun[call.rawValue] = t
        case let .toolFinished(call, _):
            if let from = begun.removeValue(forKey: call.rawValue) {
                steps.append(Step(call: call.rawValue, tool: true, milliseconds: t - from))
            }
        default: break
        }
    }

    /// The template's values: polylines in a 600 × 160 box, bars for the latest steps.
    var values: [String: Any] {
        let (w, h) = (600.0, 160.0)
        let span = Double(max(spend.last?.at ?? 1, 1))
        let maxCost = Double(max(spend.last?.cost ?? 1, 1))
        let maxTokens = Double(max(spend.last?.tokens ?? 1, 1))
        func line(_ value: ((at: Int64, cost: Int64, tokens: Int)) -> Double, _ top: Double) -> String {
            ([(0.0, h)] + spend.map { (Double($0.at) / span * w, h - value($0) / top * h) })
                .map { "\(Int($0.0.rounded())),\(Int($0.1.rounded()))" }.joined(separator: " ")
        }
        let shown = steps.suffix(Self.stepsShown)
        let longest = Double(max(shown.map(\.milliseconds).max() ?? 1, 1))
        let barWidth = w / Double(max(shown.count, 1))
        let bars = shown.enumerated().map { n, s -> [String: Any] in
            let height = max(1, Double(s.milliseconds) / longest * h)
            return [
                "x": Int((Double(n) * barWidth).rounded()), "y": Int((h - height).rounded()),
                "width": max(1, Int(barWidth.rounded()) - 1), "height": Int(height.rounded()),
                "kind": s.tool ? "tool" : "model", "title": "\(s.call): \(s.milliseconds) ms",
            ]
        }
        return [
            "charted": !spend.isEmpty || !steps.isEmpty,
            "costLine": line({ Double($0.cost) }, maxCost), "tokenLine": line({ Double($0.tokens) }, maxTokens),
            "totalCost": Money.format(spend.last?.cost ?? 0), "totalTokens": spend.last?.tokens ?? 0,
            "seconds": Int((span / 1000).rounded()), "bars": bars, "stepCount": shown.count,
            "longest": Int64(longest),
        ]
    }
}

import NightshiftCore
import NightshiftRuntime

/// Each agent version's first-try rate week by week, drawn by the server as SVG lines (one per
/// version, with a dot per week that finished a task), so a new guidance version is seen beside
/// the old one over time.
enum TrendChart {
    static let width = 600.0
    static let height = 160.0
    /// Lines drawn (the versions with the most recent runs); a legend names each.
    static let seriesShown = 8

    static func values(_ periods: [Scorecards.Period]) -> [String: Any] {
        let finished = periods.filter { $0.card.tasksFinished > 0 }
        guard let first = finished.map(\.start).min(), let last = finished.map(\.start).max() else {
            return ["trend": false]
        }
        let span = Double(max(last.milliseconds - first.milliseconds, 1))
        var byAgent: [Scorecards.Agent: [Scorecards.Period]] = [:]
        for p in finished { byAgent[p.card.agent, default: []].append(p) }
        let agents = byAgent.keys.sorted { (byAgent[$0]?.last?.start ?? first) > (byAgent[$1]?.last?.start ?? first) }
            .prefix(seriesShown)
        let series = agents.enumerated().map { n, agent -> [String: Any] in
            let points = (byAgent[agent] ?? []).sorted { $0.start < $1.start }.map { p -> [String: Any] in
                let x = last == first ? width / 2 : Double(p.start.milliseconds - first.milliseconds) / span * width
                let y = height - (p.card.firstAttemptRate ?? 0) * height
                return [
                    "x": Int(x.rounded()), "y": Int(y.rounded()),
                    "title":
                        "\(p.start.slotText.prefix(10)): \(Int(((p.card.firstAttemptRate ?? 0) * 100).rounded()))% of \(p.card.tasksFinished)",
                ]
            }
            return [
                "series": "series\(n)", "label": "\(agent.name) \(agent.version.prefix(8))",
                "points": points.map { "\($0["x"]!),\($0["y"]!)" }.joined(separator: " "), "dots": points,
            ]
        }
        return [
            "trend": true, "series": series, "from": String(first.slotText.prefix(10)),
            "to": String(last.slotText.prefix(10)),
        ]
    }
}

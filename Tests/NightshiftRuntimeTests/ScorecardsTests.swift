import Foundation
import NightshiftCore
import NightshiftRuntime
import Testing

/// An agent's scorecard is the tally of its runs' events.
@Suite struct ScorecardsTests {
    func at(_ seconds: Int64, _ event: Event) -> EventEnvelope {
        EventEnvelope(
            run: RunID("r"), seq: seconds, time: Timestamp(milliseconds: seconds * 1000), actor: .harness,
            schemaVersion: 1, event: event, hash: [])
    }

    @Test func aRunsEventsAreCountedOnce() {
        let (a, b) = (TaskID("a"), TaskID("b"))
        let events = [
            at(1, .taskStarted(task: a, attempt: 1)),
            at(2, .toolDecided(call: CallID("m1.1"), effect: .ask, rule: "r", reason: "")),
            at(3, .approvalDecided(call: CallID("m1.1"), approved: false, by: "alice", note: "no", argumentsHash: "")),
            at(4, .taskAttemptFailed(task: a, attempt: 1, feedback: Payload("x"))),
            at(5, .taskStarted(task: a, attempt: 2)),
            at(6, .judgeVerdict(task: a, attempt: 2, verdict: .rework, reasons: ["y"])),
            at(7, .taskStarted(task: a, attempt: 3)),
            at(11, .taskFinished(task: a, attempt: 3, summary: "")),
            at(12, .taskStarted(task: b, attempt: 1)),
            at(13, .escalated(task: b, reason: "?")),
            at(14, .budgetExhausted(scope: .run, resource: .tokens, limit: 1, spent: 2)),
            at(15, .taskFinished(task: b, attempt: 1, summary: "")),
            at(16, .toolDecided(call: CallID("m2.1"), effect: .allow, rule: "default", reason: "")),
        ]
        var card = Scorecards.Card(agent: Scorecards.Agent(name: "w", version: "v1"))
        Scorecards.add(events, state: RunState(run: RunID("r")), to: &card)
        #expect(card.runs == 1 && card.tasksFinished == 2 && card.firstAttempt == 1)
        #expect(card.reworkByChecks == 1 && card.reworkByJudge == 1 && card.reworkRate == 1.0)
        #expect(card.escalations == 1 && card.approvalsAsked == 1 && card.approvalsDenied == 1)
        #expect(card.budgetTrips == 1 && card.breakerTrips == 0)
        // a: from its first start (1 s) to its end (11 s); b: 12 s to 15 s.
        #expect(card.taskMilliseconds == [10_000, 3_000] && card.medianTaskMilliseconds == 10_000)
        #expect(card.firstAttemptRate == 0.5)
        // No finished task: no rates, rather than a division by zero.
        let empty = Scorecards.Card(agent: card.agent)
        #expect(empty.firstAttemptRate == nil && empty.costPerTaskPicoUSD == nil && empty.medianTaskMilliseconds == nil)
    }

    /// Week by week: each version's runs fall in the week they were created, so the trend of a
    /// version is its first-try rate period by period.
    @Test func weeksSplitAVersionsRunsByWhenTheyWereCreated() {
        let week: Int64 = 7 * 86_400_000
        let task = TaskID("t")
        func run(at ms: Int64, version: String, firstTry: Bool) -> (created: Timestamp, card: Scorecards.Card) {
            var card = Scorecards.Card(agent: Scorecards.Agent(name: "fixer", version: version))
            let events =
                firstTry
                ? [
                    at(1, .taskStarted(task: task, attempt: 1)),
                    at(2, .taskFinished(task: task, attempt: 1, summary: "")),
                ]
                : [
                    at(1, .taskStarted(task: task, attempt: 1)),
                    at(2, .taskAttemptFailed(task: task, attempt: 1, feedback: "no")),
                    at(3, .taskFinished(task: task, attempt: 2, summary: "")),
                ]
            Scorecards.add(events, state: RunState(run: RunID("r")), to: &card)
            return (Timestamp(milliseconds: ms), card)
        }
        let runs = [
            run(at: 10 * week + 5, version: "old", firstTry: false),
            run(at: 10 * week + 9, version: "old", firstTry: true),
            run(at: 11 * week + 1, version: "old", firstTry: false),
            run(at: 11 * week + 2, version: "new", firstTry: true),
        ]
        let rows = Scorecards.group(runs, length: .seconds(7 * 86400)).map {
            "\($0.card.agent.version) \($0.start.milliseconds / week) \($0.card.runs) \($0.card.firstAttemptRate ?? -1)"
        }
        #expect(rows == ["new 11 1 1.0", "old 10 2 0.5", "old 11 1 0.0"], "\(rows)")
        let whole = Scorecards.group(runs, length: nil)
        #expect(
            whole.map { "\($0.card.agent.version) \($0.card.runs) \($0.card.reworkByChecks)" } == [
                "new 1 0", "old 3 2",
            ])
    }
}

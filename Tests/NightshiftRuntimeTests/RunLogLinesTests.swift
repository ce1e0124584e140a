import Foundation
import Logging
import NightshiftCore
import NightshiftRuntime
import Testing

/// What a worker's log says about the runs it drives: a line for what a person watches for, with
/// the run, task, call and holder as metadata, and nothing a tool, a model or the agent wrote.
@Suite struct RunLogLinesTests {
    static let secret = "sk-live-0123456789abcdef"

    func envelope(_ event: Event, seq: Int64 = 7) -> EventEnvelope {
        EventEnvelope(
            run: RunID("r1"), seq: seq, time: Timestamp(milliseconds: 0), actor: .harness, schemaVersion: 1,
            event: event, hash: [])
    }

    @Test func eachLineNamesItsRunAndWhatItIsAbout() throws {
        let started = try #require(RunLogLines.line(envelope(.taskStarted(task: TaskID("a"), attempt: 1))))
        #expect(started.level == .info && started.message == "task started")
        #expect(started.metadata["run"] == "r1" && started.metadata["seq"] == "7" && started.metadata["task"] == "a")
        let rework = try #require(RunLogLines.line(envelope(.taskStarted(task: TaskID("a"), attempt: 2))))
        #expect(rework.message == "task reworked" && rework.metadata["attempt"] == "2")
        let asks = try #require(
            RunLogLines.line(envelope(.toolDecided(call: CallID("m3.1"), effect: .ask, rule: "rules[0]", reason: "r"))))
        #expect(asks.message == "call waits for approval" && asks.metadata["call"] == "m3.1")
        let doubt = try #require(RunLogLines.line(envelope(.toolInDoubt(call: CallID("m4.1"), reason: "x"))))
        #expect(doubt.level == .warning && doubt.metadata["call"] == "m4.1")
        let resumed = try #require(
            RunLogLines.line(envelope(.runResumed(by: "nightshift worker (pid 9)", driver: .worker))))
        #expect(resumed.metadata["holder"] == "nightshift worker (pid 9)" && resumed.metadata["driver"] == "worker")
        let failed = try #require(RunLogLines.line(envelope(.runFailed(reason: "cancelled by alice: enough"))))
        #expect(failed.level == .error && failed.message.contains("cancelled by alice"))
        // An allowed call, a model's turn, a tool's result: no line (a worker's log is not the timeline).
        #expect(
            RunLogLines.line(envelope(.toolDecided(call: CallID("m1.1"), effect: .allow, rule: "default", reason: "")))
                == nil)
        #expect(RunLogLines.line(envelope(.toolStarted(call: CallID("m1.1")))) == nil)
    }

    /// The agent's words and what tools returned stay in the log: a secret in any of them never
    /// reaches a line, its message or its metadata.
    @Test func nothingTheAgentOrAToolWroteIsLogged() {
        let s = Self.secret
        let events: [Event] = [
            .toolFinished(call: CallID("m1.1"), result: ToolResult(ok: true, output: Payload(s))),
            .escalated(task: TaskID("a"), reason: "the key is \(s)"),
            .runPaused(reason: "call m2.1 shell {\"command\":\"curl -H \(s)\"} waits for approval", kind: .approval),
            .taskBlocked(task: TaskID("a"), reason: "the judge said: \(s)"),
            .noteAdded(task: TaskID("a"), text: s),
        ]
        for event in events {
            guard let l = RunLogLines.line(envelope(event)) else { continue }
            #expect(!l.message.contains(s), "\(event)")
            #expect(!l.metadata.values.contains { "\($0)".contains(s) }, "\(event)")
        }
        #expect(RunLogLines.line(envelope(events[2]))?.metadata["pause"] == "approval")
    }
}

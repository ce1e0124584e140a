import Foundation
import NightshiftCore
import Testing

/// The core tools have one list, and each name in it is the name its definition offers.
@Suite struct CoreToolTests {
    @Test func eachCoreToolIsNamedAsItsSpecOffersIt() {
        for tool in CoreTool.allCases {
            #expect(tool.spec.name == tool.rawValue)
            #expect(CoreTool(name: tool.spec.name) == tool)
        }
        #expect(CoreTool(name: "shell") == nil && CoreTool(name: "Note") == nil)
    }

    /// Only the tools whose whole effect is events are decided in the core; `recall` goes through
    /// the gateway like any tool, and a role's answer or a done claim offered as a worker's call
    /// is an unknown tool there, never a decision.
    @Test func onlyTheToolsWhoseEffectIsEventsAreDecidedInTheCore() {
        let decided = CoreTool.allCases.filter { CoreTool.decidedInCore($0.rawValue) != nil }
        #expect(decided == [.note, .escalate, .remember, .spawnAgents, .waitAgents])
        #expect(CoreTool.recall.kind == .runByTheRuntime && CoreTool.taskDone.kind == .claim)
        #expect(CoreTool.allCases.filter { $0.kind == .roleAnswer }.count == 4)
    }

    /// A value of the wrong type is reported with where it is, in words a model can act on.
    @Test func aProblemWithTheArgumentsSaysWhere() {
        let plan =
            #"{"title":"t","tasks":[{"id":"a","description":"d","checks":["x"]},{"id":"b","description":"d","checks":[{"command":5}]}]}"#
        let answer = RunState.RoleResponse(
            role: .planner, text: "",
            toolCalls: [ToolCall(id: CallID("m1.1"), name: "submit_plan", arguments: Payload(plan))])
        guard case let .failure(e) = RoleTools.plan(answer) else {
            Issue.record("a check whose command is a number was accepted")
            return
        }
        #expect(e.message == "the arguments of submit_plan: tasks[1].checks[0].command: expected a string")
        for (text, problem) in [
            (#"{"limit": 3}"#, "query is missing"), (#"{"query": ["a"]}"#, "query: expected a string"),
            (#"{"query": "a", "limit": "many"}"#, "limit: expected a whole number"), ("[]", "not a JSON object"),
            ("{", "not a JSON object"), ("null", "not a JSON object"),
        ] {
            guard case let .failure(p) = ArgumentDecoding.decode(RecallArguments.self, from: text) else {
                Issue.record("\(text) was read")
                continue
            }
            #expect(p.message.hasSuffix(problem), "\(text): \(p.message)")
        }
        let done = try? ArgumentDecoding.decode(TaskDoneArguments.self, from: #"{"summary":"s","risks":"r"}"#).get()
        #expect(done?.summary == "s" && done?.risks == "r" && done?.left == nil)
    }

    /// `note` and `escalate` decode their arguments once, as a typed value: anything but a string
    /// where one is wanted is the call's failure, recorded with the request in one append.
    @Test func aCoreToolWithArgumentsOfTheWrongShapeFails() throws {
        for (name, arguments) in [
            ("note", #"{"text": 5}"#), ("note", "[]"), ("note", #"{"txt": "a"}"#), ("escalate", #"{"reason": null}"#),
            ("escalate", "not json"),
        ] {
            var log = LogBuilder()
            try log.add(created())
            try log.advance()
            try log.add(response("m1", tools: [(name, arguments)]))
            try log.advance()
            let results = log.envelopes.compactMap { if case let .toolFinished(_, r) = $0.event { r } else { nil } }
            #expect(results.count == 1 && !results[0].ok, "\(name) \(arguments): \(results)")
            #expect(log.state.status == .running, "\(name) \(arguments)")
        }
    }
    /// The gateway and the tool read one set of arguments: a key named twice (spelled alike or
    /// escaped differently), or text only a lenient decoder would take as an object, is refused
    /// before the policy is asked, and never reaches a tool.
    @Test func argumentsTheGatewayAndAToolCouldReadDifferentlyAreNeverRun() throws {
        for arguments in [
            #"{"command":"rm -rf tests","command":"ls"}"#, #"{"command":"rm -rf tests","comm\u0061nd":"ls"}"#,
            #"{"command":"rm -rf tests","x":01}"#, #"{"command":"rm -rf tests","x":1e400}"#,
            "{\"a\":\"\u{301}x\",\"command\":\"rm -rf tests\",\"command\":\"ls\"}",
        ] {
            var log = LogBuilder()
            try log.add(created())
            try log.advance()
            try log.add(response("m1", tools: [("shell", arguments)]))
            let decision = try log.advance()
            if case .runTool = decision { Issue.record("\(arguments) would be run") }
            let results = log.envelopes.compactMap { if case let .toolFinished(_, r) = $0.event { r } else { nil } }
            #expect(results.count == 1 && !results[0].ok && results[0].output.text.contains("not run"), "\(arguments)")
        }
        // Each key once (a nested object may repeat a key of the top level): run.
        var log = LogBuilder()
        try log.add(created())
        try log.advance()
        try log.add(response("m1", tools: [("shell", #"{"command":"ls","env":{"command":"x"}}"#)]))
        guard case .runTool = try log.advance() else {
            Issue.record("a call with each key once was not run")
            return
        }
    }
}

import Foundation
import NightshiftCore
import Testing

/// The loop's pure rules: reading the planner's and the judge's answers, the ratchet's check
/// list, and when the judge is needed.
@Suite struct LoopRulesTests {
    func answer(_ tool: String, _ args: String, text: String = "") -> RunState.RoleResponse {
        RunState.RoleResponse(
            role: .planner, text: text, toolCalls: [ToolCall(id: CallID("m1.1"), name: tool, arguments: Payload(args))])
    }

    static let badPlans: [(String, String)] = [
        ("not json", "not a JSON object"),
        (#"{"tasks":[]}"#, "no title"),
        (#"{"title":"t","tasks":[]}"#, "no tasks"),
        (#"{"title":"t","tasks":[1]}"#, "tasks[0]: expected an object"),
        (#"{"title":"t","tasks":[{"id":"a b","description":"d","checks":["x"]}]}"#, "needs an id of letters"),
        (#"{"title":"t","tasks":[{"id":"plan","description":"d","checks":["x"]}]}"#, "(and not 'plan')"),
        (#"{"title":"t","tasks":[{"id":"a","checks":["x"]}]}"#, "task a has no description"),
        (#"{"title":"t","tasks":[{"id":"a","description":"d","checks":[]}]}"#, "task a has no checks"),
        (
            #"{"title":"t","tasks":[{"id":"a","description":"d","checks":[{"expect_exit":0}]}]}"#,
            "check 1 of task a has no command"
        ),
        (
            #"{"title":"t","tasks":[{"id":"a","description":"d","checks":[{"command":"x","expect_exit":300}]}]}"#,
            "expect_exit must be 0…255"
        ),
        (
            #"{"title":"t","tasks":[{"id":"a","description":"d","checks":["x"]},{"id":"a","description":"d","checks":["y"]}]}"#,
            "task ids repeat"
        ),
        (
            #"{"title":"t","tasks":[{"id":"a","description":"d","checks":["x"]}],"guards":[{}]}"#,
            "guard 1 has no command"
        ),
    ]

    @Test(arguments: badPlans)
    func aBadPlanIsRejectedWithItsReason(args: String, reason: String) {
        guard case let .failure(e) = RoleTools.plan(answer("submit_plan", args)) else {
            Issue.record("accepted: \(args)")
            return
        }
        #expect(e.message.contains(reason), "\(e.message)")
    }

    @Test func aRunawayPlanIsBounded() throws {
        let task = #"{"id":"t%d","description":"d","checks":["x"]}"#
        let many = (0..<201).map { String(format: task, $0) }.joined(separator: ",")
        guard case let .failure(e) = RoleTools.plan(answer("submit_plan", #"{"title":"t","tasks":["# + many + "]}"))
        else {
            Issue.record("201 tasks accepted")
            return
        }
        #expect(e.message.contains("at most 200"))
        let checks = (0..<51).map { "\"c\($0)\"" }.joined(separator: ",")
        guard
            case let .failure(f) = RoleTools.plan(
                answer(
                    "submit_plan", #"{"title":"t","tasks":[{"id":"a","description":"d","checks":["# + checks + "]}]}"))
        else {
            Issue.record("51 checks accepted")
            return
        }
        #expect(f.message.contains("at most 50"))
    }

    @Test func aPlanAnswerWithoutTheToolIsRejected() {
        guard case let .failure(e) = RoleTools.plan(answer("shell", "{}", text: "Here is my plan: …")) else {
            Issue.record("accepted")
            return
        }
        #expect(e.message.contains("did not call submit_plan"))
    }

    @Test func aGoodPlanKeepsItsGuardsInitAndRubric() throws {
        let args =
            #"{"title":"T","init":"make deps","guards":["pytest -q tests/legacy"],"tasks":[{"id":"a","description":"d","checks":[{"command":"x","expect_exit":1,"guard":true},"y"],"rubric":["clear names",""]}]}"#
        let plan = try RoleTools.plan(answer("submit_plan", args)).get()
        #expect(
            plan.title == "T" && plan.initScript == "make deps"
                && plan.guards == [Check(command: "pytest -q tests/legacy")])
        #expect(plan.tasks[0].checks == [Check(command: "x", expectExit: 1, alreadyPasses: true), Check(command: "y")])
        #expect(plan.tasks[0].rubric == ["clear names"])
    }

    @Test func verdictsAreRead() throws {
        #expect(
            try RoleTools.verdict(answer("submit_verdict", #"{"verdict":"pass","reasons":[]}"#)).get().verdict == .pass
        )
        let rework = try RoleTools.verdict(
            answer("submit_verdict", #"{"verdict":"rework","reasons":["name the file",7]}"#)
        ).get()
        #expect(rework.verdict == .rework && rework.reasons == ["name the file"])
        for (args, reason) in [
            (#"{"verdict":"fine"}"#, "pass, rework or escalate"),
            (#"{"verdict":"rework","reasons":[]}"#, "needs concrete reasons"),
            (#"[1]"#, "not a JSON object"),
        ] {
            guard case let .failure(e) = RoleTools.verdict(answer("submit_verdict", args)) else {
                Issue.record("accepted \(args)")
                return
            }
            #expect(e.message.contains(reason), "\(e.message)")
        }
    }

    @Test func aHandoffWithoutTheToolKeepsTheTextAsDone() {
        let h = RoleTools.handoff(answer("shell", "{}", text: "I fixed the parser."))
        #expect(h.done == "I fixed the parser." && h.left.contains("no structured handoff"))
        let g = RoleTools.handoff(answer("write_handoff", #"{"done":"a","left":"b","learned":"c","risks":"d"}"#))
        #expect(g == Handoff(done: "a", left: "b", learned: "c", risks: "d"))
    }

    /// The ratchet: a check that passed at the baseline, or belongs to a finished task, joins every
    /// later claim; one that failed at the baseline and belongs to an unfinished task does not.
    @Test func theRatchetListsWhatPassedBefore() throws {
        let plan = Plan(
            title: "p",
            tasks: [
                PlanTask(id: TaskID("a"), description: "a", checks: [Check(command: "ca")]),
                PlanTask(id: TaskID("b"), description: "b", checks: [Check(command: "cb"), Check(command: "shared")]),
                PlanTask(id: TaskID("c"), description: "c", checks: [Check(command: "cc")]),
            ], guards: [Check(command: "g-pass"), Check(command: "g-fail")])
        var log = LogBuilder()
        try log.add([
            .runCreated(title: "p", workspace: "/w", model: "m", settings: RunSettings(loop: LoopSettings())),
            .planSet(plan: plan),
        ])
        guard case let .runBaseline(checks) = try log.advance() else {
            Issue.record("no baseline first")
            return
        }
        #expect(checks.map(\.command) == ["g-pass", "g-fail", "ca", "cb", "shared", "cc"])
        for c in checks {
            let exit: Int32 = ["g-pass", "cc"].contains(c.command) ? 0 : 1
            try log.add(
                .baselineRan(
                    command: c.command, expectExit: 0, exitCode: exit, passed: exit == 0, output: "", durationMs: 1))
        }
        _ = try log.advance()  // task a starts
        #expect(log.state.attemptChecks(0).map(\.command) == ["ca", "g-pass", "cc"])
        #expect(!log.state.needsJudge(0))
        // Task c's only check already passes: no evidence of progress, so the judge must look.
        #expect(log.state.needsJudge(2))
        log.state.tasks[0].status = .done
        #expect(log.state.attemptChecks(1).map(\.command) == ["cb", "shared", "g-pass", "ca", "cc"])
    }

    /// The estimate grows with the shift's turns and shrinks to the summary on compaction.
    @Test func theContextEstimateFollowsTheShift() throws {
        let plan = Plan(title: "p", tasks: [PlanTask(id: TaskID("a"), description: "a", checks: [Check(command: "x")])])
        var log = LogBuilder()
        try log.add([
            .runCreated(
                title: "p", workspace: "/w", model: "m", settings: RunSettings(loop: LoopSettings(baseline: false))),
            .planSet(plan: plan),
        ])
        _ = try log.advance()
        let base = log.state.contextEstimate()
        try log.add(
            .modelResponded(
                call: CallID("m1"), text: Payload(String(repeating: "x", count: 4000)), toolCalls: [],
                claimsDone: false,
                summary: nil, usage: TokenUsage(), model: "m", costPicoUSD: nil))
        #expect(log.state.contextEstimate() == base + 1000)
        #expect(log.state.shiftState.shiftTurns == 1 && log.state.shiftState.shifts == 1)
    }
}

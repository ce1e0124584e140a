import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NightshiftConfig
import NightshiftCore
import NightshiftSQLite
import NightshiftTesting
import Testing

@testable import NightshiftRuntime
@testable import NightshiftServer

/// The dashboard's memory, schedule and chart views over real HTTP: a memory the agent proposed
/// is shown inert and decided once from the page; a run's page draws its spend and step latency.
@Suite(.serialized, .timeLimit(.minutes(3))) struct DashboardRecordTests {
    func signIn(_ w: World, _ token: String) async throws -> (cookie: String, csrf: String) {
        let r = try await w.call(
            .POST, "/dashboard/login", body: "token=\(token)", contentType: "application/x-www-form-urlencoded")
        guard r.status == 303, let cookie = r.setCookie?.split(separator: ";").first else {
            throw TestFailure("sign-in failed: \(r.status)")
        }
        let page = try await w.call(.GET, "/dashboard/memories", headers: [("Cookie", String(cookie))])
        guard let range = page.body.range(of: #"name="csrf" value=""#) else {
            throw TestFailure("no CSRF field: \(page.body.prefix(300))")
        }
        return (String(cookie), String(page.body[range.upperBound...].prefix { $0 != "\"" }))
    }

    func post(_ w: World, _ path: String, _ form: String, cookie: String) async throws -> Reply {
        try await w.call(
            .POST, path, body: form, contentType: "application/x-www-form-urlencoded", headers: [("Cookie", cookie)])
    }

    @Test func aProposedMemoryIsShownInertAndDecidedOnceFromThePage() async throws {
        let scenario = """
            tasks:
              ship:
                - tools: [{remember: {text: "<script>alert(1)</script> run <b>make</b> first", kind: lesson}}]
                - tools: [{shell: {command: "echo shipped >> release.log"}}]
                - done: shipped
            """
        try await withWorld(scenario: scenario, memory: true) { w in
            let session = try await signIn(w, w.approve)
            let page = try await w.call(.GET, "/dashboard/memories", headers: [("Cookie", session.cookie)])
            #expect(page.status == 200)
            #expect(!page.body.contains("<script>alert(1)"), "the agent's memory text as markup")
            #expect(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt; run &lt;b&gt;make&lt;/b&gt;"))
            let id = RunState.proposalID(run: RunID("ship"), call: CallID("m1.1")).rawValue
            #expect(page.body.contains("/dashboard/memories/\(id)/accept"), "\(page.body.prefix(600))")

            let noNote = try await post(
                w, "/dashboard/memories/\(id)/decline", "csrf=\(session.csrf)", cookie: session.cookie)
            #expect(noNote.status == 400, "\(noNote.body)")
            let forged = try await post(
                w, "/dashboard/memories/\(id)/accept", "csrf=\(String(repeating: "0", count: 64))",
                cookie: session.cookie)
            #expect(forged.status == 403, "\(forged.body)")
            let accepted = try await post(
                w, "/dashboard/memories/\(id)/accept", "csrf=\(session.csrf)", cookie: session.cookie)
            #expect(accepted.status == 303 && accepted.location == "/dashboard/memories", "\(accepted.body)")
            let again = try await post(
                w, "/dashboard/memories/\(id)/accept", "csrf=\(session.csrf)", cookie: session.cookie)
            #expect(again.status == 409, "decided once: \(again.body)")
            let after = try await w.call(.GET, "/dashboard/memories", headers: [("Cookie", session.cookie)])
            #expect(after.body.contains("No proposal waits") && after.body.contains("id=\"memories\""))
            #expect(!after.body.contains("<script>alert(1)"))
            // The API agrees: it is in the bank, as the approver's.
            let bank = try await w.call(.GET, "/api/memories", token: w.read)
            #expect(bank.body.contains(id), "\(bank.body)")

            // A read token signs in but may not decide.
            let reader = try await signIn(w, w.read)
            let refused = try await post(
                w, "/dashboard/memories/\(id)/decline", "csrf=\(reader.csrf)&note=no", cookie: reader.cookie)
            #expect(refused.status == 403)
        }
    }

    @Test func aRunsPageDrawsItsSpendAndStepsAndTheSchedulesPageListsWhatStartsRuns() async throws {
        try await withWorld(
            webhooks: [WebhookEntry(name: "ci", secret: "0123456789abcdef", goal: "fix <i>{{ref}}</i>", origin: "test")]
        ) { w in
            let session = try await signIn(w, w.read)
            let run = try await w.call(.GET, "/dashboard/runs/ship", headers: [("Cookie", session.cookie)])
            #expect(run.body.contains(#"id="spend""#) && run.body.contains(#"id="latency""#), "\(run.body.prefix(300))")
            #expect(run.body.contains(#"<polyline class="cost" points="0,160"#))
            #expect(run.body.contains(#"<rect x="0""#) && run.body.contains("class=\"model\""), "a bar per model call")
            try await w.runtime.schedules().add(
                name: "nightly", cron: "0 2 * * *", timeZone: "Europe/Paris",
                template: RunTemplate(goal: "tidy", workspace: w.root), by: "alice")
            let page = try await w.call(.GET, "/dashboard/schedules", headers: [("Cookie", session.cookie)])
            #expect(page.body.contains("nightly") && page.body.contains("Europe/Paris"), "\(page.body.prefix(800))")
            #expect(page.body.contains("POST /hooks/ci") && page.body.contains("fix &lt;i&gt;{{ref}}&lt;/i&gt;"))
        }
    }
}

extension DashboardRecordTests {
    /// A worktree run's page shows the diff of its branch from where it began (here, work
    /// committed on it by hand while it waits), as text.
    @Test func aRunsPageShowsItsBranchsDiff() async throws {
        try await withWorld(git: true) { w in
            let state = try await SQLiteEventStore(path: w.db).state(of: RunID("ship"))
            let worktree = state.workspace
            #expect(state.branch != nil && worktree != w.root + "/ws", "the run works in a worktree")
            try "<script>alert(1)</script>\n".write(toFile: worktree + "/notes.html", atomically: true, encoding: .utf8)
            try git(["add", "notes.html"], in: worktree)
            try git(["commit", "-q", "-m", "notes"], in: worktree)
            let session = try await signIn(w, w.read)
            let page = try await w.call(.GET, "/dashboard/runs/ship", headers: [("Cookie", session.cookie)])
            #expect(page.body.contains(#"<details id="diff">"#), "\(page.body.prefix(400))")
            #expect(
                page.body.contains("+&lt;script&gt;alert(1)&lt;/script&gt;") && !page.body.contains("<script>alert(1)"))
        }
    }
}

/// The agents page's trend: a line per version, a dot per week that finished a task.
@Suite struct TrendChartTests {
    @Test func eachVersionIsALineOverTheWeeks() {
        let week: Int64 = 7 * 86_400_000
        func period(_ n: Int64, _ version: String, done: Int, first: Int) -> Scorecards.Period {
            var card = Scorecards.Card(agent: Scorecards.Agent(name: "fixer", version: version))
            (card.tasksFinished, card.firstAttempt) = (done, first)
            return Scorecards.Period(start: Timestamp(milliseconds: n * week), card: card)
        }
        let values = TrendChart.values([
            period(2900, "old", done: 4, first: 1), period(2901, "old", done: 2, first: 2),
            period(2901, "new", done: 0, first: 0), period(2902, "new", done: 4, first: 3),
        ])
        let series = values["series"] as? [[String: Any]] ?? []
        #expect(values["trend"] as? Bool == true && series.count == 2)
        // The version with the latest week first; a week without a finished task has no dot.
        #expect(series.first?["label"] as? String == "fixer new")
        #expect(series.first?["points"] as? String == "600,40")
        #expect(series.last?["points"] as? String == "0,120 300,0")
        #expect(TrendChart.values([period(1, "x", done: 0, first: 0)])["trend"] as? Bool == false)
    }
}

extension DashboardRecordTests {
    /// The inbox's forms beyond approve and deny: a budget raised and an answer given from the
    /// dashboard are the signed-in approver's, with the session's CSRF secret; a bad limit, no
    /// limit, or a blank answer changes nothing.
    @Test func aBudgetAndAnAnswerAreGivenFromTheDashboard() async throws {
        try await withWorld { w in
            let session = try await signIn(w, w.approve)
            let before = try await w.events()
            let noCSRF = try await post(w, "/dashboard/runs/ship/budget", "tokens=5000", cookie: session.cookie)
            #expect(noCSRF.status == 403)
            let bad = try await post(
                w, "/dashboard/runs/ship/budget", "csrf=\(session.csrf)&tokens=-4", cookie: session.cookie)
            #expect(bad.status == 400, "\(bad.body)")
            let none = try await post(w, "/dashboard/runs/ship/budget", "csrf=\(session.csrf)", cookie: session.cookie)
            #expect(none.status == 400, "a budget names a limit: \(none.body)")
            let blank = try await post(
                w, "/dashboard/runs/ship/answer", "csrf=\(session.csrf)&text=+", cookie: session.cookie)
            #expect(blank.status == 400, "an answer says something: \(blank.body)")
            #expect(try await w.events() == before)
            let answer = try await post(
                w, "/dashboard/runs/ship/answer", "csrf=\(session.csrf)&text=go+on", cookie: session.cookie)
            #expect(answer.status == 303, "\(answer.body)")
            let answered = try await SQLiteEventStore(path: w.db).readAll(RunID("ship")).last?.event
            guard case let .guidanceGiven(text, by)? = answered else {
                throw TestFailure("no guidance_given: \(String(describing: answered))")
            }
            #expect(text == "go on" && by == "alice")
            let raised = try await post(
                w, "/dashboard/runs/ship/budget", "csrf=\(session.csrf)&cost_usd=5.00&tokens=5000",
                cookie: session.cookie)
            #expect(raised.status == 303 && raised.location == "/dashboard/runs/ship", "\(raised.body)")
            let last = try await SQLiteEventStore(path: w.db).readAll(RunID("ship")).last?.event
            guard case let .budgetSet(scope, budget, by)? = last else {
                throw TestFailure("no budget_set: \(String(describing: last))")
            }
            #expect(scope == .run && budget.tokens == 5000 && budget.costPicoUSD == 5_000_000_000_000 && by == "alice")
            // The run's page has a judge column for its tasks.
            let page = try await w.call(.GET, "/dashboard/runs/ship", headers: [("Cookie", session.cookie)])
            #expect(page.body.contains("<th>Judge</th>"))
        }
    }
}

extension DashboardRecordTests {
    /// A goal started with review_plan waits with its plan: the inbox shows the plan and each
    /// check (what an approval lets run), and an approval of a version other than the one
    /// waiting is refused.
    @Test func aPlanIsReviewedWithItsChecksAndItsVersion() async throws {
        try await withWorld { w in
            let operate = try await w.runtime.tokens().create(name: "op", principal: "alice", scopes: [.operate])
            let started = try await w.call(
                .POST, "/api/runs", token: operate.text, body: #"{"goal": "ship it", "review_plan": true}"#)
            #expect(started.status == 201, "\(started.body)")
            let run = RunID(try #require(started.json["run"] as? String))
            _ = try await w.runtime.outcome(of: run)
            #expect(try await SQLiteEventStore(path: w.db).state(of: run).pauseKind == .planReview)
            let session = try await signIn(w, w.approve)
            let inbox = try await w.call(.GET, "/dashboard/inbox", headers: [("Cookie", session.cookie)])
            #expect(
                inbox.body.contains("plan version 1") && inbox.body.contains("check <code>test -f release.log</code>"),
                "\(inbox.body.prefix(1500))")
            let path = "/dashboard/runs/\(run)/calls/plan/approve"
            let stale = try await post(w, path, "csrf=\(session.csrf)&plan_version=2", cookie: session.cookie)
            #expect(stale.status == 409 && stale.body.contains("changed"), "\(stale.body)")
            let approved = try await post(w, path, "csrf=\(session.csrf)&plan_version=1", cookie: session.cookie)
            #expect(approved.status == 303, "\(approved.body)")
            let last = try await SQLiteEventStore(path: w.db).readAll(run).contains {
                if case .planApproved(1, "alice", _) = $0.event { return true }
                return false
            }
            #expect(last)
            let both = try await w.call(
                .POST, "/api/runs", token: operate.text,
                body:
                    #"{"plan": {"title": "t", "tasks": [{"id": "a", "description": "d", "checks": ["true"]}]}, "review_plan": true}"#
            )
            #expect(both.status == 400, "\(both.body)")
        }
    }
}

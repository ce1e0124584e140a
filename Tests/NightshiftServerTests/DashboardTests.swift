import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NightshiftCore
import NightshiftSQLite
import NightshiftTesting
import Testing

@testable import NightshiftRuntime

/// The dashboard over real HTTP: signing in with a token, the session cookie's flags, CSRF on
/// every form, and agent-written text shown inert. (Tests/Browser drives it in Chromium.)
@Suite(.serialized, .timeLimit(.minutes(3))) struct DashboardTests {
    /// Signs in with `token`: the session cookie (`ns_session=…`) and the page's CSRF secret.
    func signIn(_ w: World, _ token: String, call: String = "m1.1") async throws -> (cookie: String, csrf: String) {
        let r = try await w.call(
            .POST, "/dashboard/login", body: "token=\(token)", contentType: "application/x-www-form-urlencoded")
        guard r.status == 303, let set = r.setCookie, let cookie = set.split(separator: ";").first else {
            throw TestFailure("sign-in failed: \(r.status) \(r.body.prefix(300))")
        }
        let page = try await w.call(.GET, "/dashboard/runs/ship", headers: [("Cookie", String(cookie))])
        // The secret of the approve form itself (every form of the page carries the same one).
        guard let form = page.body.range(of: "/calls/\(call)/approve"),
            let range = page.body[form.upperBound...].range(of: #"name="csrf" value=""#)
        else {
            throw TestFailure("no CSRF field on the run's page: \(page.body.prefix(500))")
        }
        let csrf = page.body[range.upperBound...].prefix { $0 != "\"" }
        guard csrf.count == 64 else { throw TestFailure("the approve form's CSRF field is empty") }
        return (String(cookie), String(csrf))
    }

    func post(_ w: World, _ path: String, _ form: String, cookie: String?, origin: String? = nil) async throws -> Reply
    {
        var headers: [(String, String)] = []
        if let cookie { headers.append(("Cookie", cookie)) }
        if let origin { headers.append(("Origin", origin)) }
        return try await w.call(
            .POST, path, body: form, contentType: "application/x-www-form-urlencoded", headers: headers)
    }

    @Test func theDashboardNeedsASignInAndItsCookieIsHttpOnlyAndStrict() async throws {
        try await withWorld { w in
            let anonymous = try await w.call(.GET, "/dashboard")
            #expect(anonymous.status == 303 && anonymous.location == "/dashboard/login")
            #expect(try await w.call(.GET, "/dashboard/runs/ship").status == 303)
            let login = try await w.call(.GET, "/dashboard/login")
            #expect(login.status == 200 && login.body.contains(#"name="token""#))
            let csp = login.headers.first(name: "Content-Security-Policy") ?? ""
            #expect(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "\(csp)")

            let foreign = try await post(
                w, "/dashboard/login", "token=\(w.read)", cookie: nil, origin: "http://evil.example")
            #expect(foreign.status == 403 && foreign.setCookie == nil, "a sign-in posted from another site")
            let wrong = try await post(w, "/dashboard/login", "token=nst_nope", cookie: nil)
            #expect(wrong.status == 401 && wrong.setCookie == nil && wrong.body.contains("problem"))
            let ok = try await post(w, "/dashboard/login", "token=\(w.read)", cookie: nil)
            let flags = ok.setCookie ?? ""
            #expect(ok.status == 303 && ok.location == "/dashboard", "\(ok.status)")
            #expect(
                flags.hasPrefix("ns_session=") && flags.contains("HttpOnly") && flags.contains("SameSite=Strict")
                    && flags.contains("Path=/dashboard"), "\(flags)")
            #expect(!flags.contains(w.read), "the token itself went into the cookie")
            let cookie = String(flags.split(separator: ";")[0])
            let runs = try await w.call(.GET, "/dashboard", headers: [("Cookie", cookie)])
            #expect(
                runs.status == 200 && runs.body.contains(#"href="/dashboard/runs/ship""#), "\(runs.body.prefix(400))")
            let inbox = try await w.call(.GET, "/dashboard/inbox", headers: [("Cookie", cookie)])
            #expect(inbox.body.contains("echo shipped &gt;&gt; release.log"), "\(inbox.body.prefix(600))")

            // Revoking the token ends the session at its next request.
            let id = String(w.read.split(separator: "_")[1])
            try await w.runtime.tokens().revoke(id)
            let after = try await w.call(.GET, "/dashboard", headers: [("Cookie", cookie)])
            #expect(after.status == 303 && after.location == "/dashboard/login")
        }
    }

    /// A decision from a form needs this session's CSRF secret and this site's origin; without
    /// them it is refused and the log is unchanged. With them it is the token's principal's.
    @Test func aFormWithoutThisSessionsCSRFSecretChangesNothing() async throws {
        try await withWorld { w in
            let alice = try await signIn(w, w.approve)
            let other = try await signIn(w, w.read)
            #expect(alice.csrf != other.csrf && alice.cookie != other.cookie)
            let before = try await w.events()
            let approve = "/dashboard/runs/ship/calls/m1.1/approve"
            for (form, cookie, origin, code) in [
                ("note=x", alice.cookie, nil, "csrf"), ("csrf=&note=x", alice.cookie, nil, "csrf"),
                ("csrf=\(other.csrf)&note=x", alice.cookie, nil, "csrf"),
                ("csrf=\(alice.csrf)", alice.cookie, "http://evil.example", "cross_origin"),
                ("csrf=\(alice.csrf)", "ns_session=forged", nil, "unauthorized"),
                ("csrf=\(alice.csrf)&csrf=\(alice.csrf)", alice.cookie, nil, "invalid_body"),
                ("csrf=\(other.csrf)", other.cookie, nil, "forbidden"),  // a read token's session
            ] as [(String, String, String?, String)] {
                let r = try await post(w, approve, form, cookie: cookie, origin: origin)
                #expect(
                    r.status >= 400 && r.json["code"] as? String == code, "\(form): \(r.status) \(r.body.prefix(200))")
            }
            #expect(try await w.events() == before)

            let ok = try await post(
                w, approve, "csrf=\(alice.csrf)&note=from+the+page", cookie: alice.cookie,
                origin: "http://127.0.0.1:\(w.port)")
            #expect(ok.status == 303 && ok.location == "/dashboard/runs/ship", "\(ok.status) \(ok.body.prefix(200))")
            let log = try await SQLiteEventStore(path: w.db).readAll(RunID("ship"))
            guard case let .approvalDecided(_, approved, by, note, _) = log.last?.event else {
                Issue.record("no approval recorded")
                return
            }
            #expect(approved && by == "alice" && note == "from the page")
        }
    }

    /// The agents page: each agent version's scorecard from its runs' logs, and a server-drawn chart.
    @Test func theAgentsPageShowsEachVersionsScorecard() async throws {
        try await withWorld { w in
            let session = try await signIn(w, w.read)
            let page = try await w.call(.GET, "/dashboard/agents?days=7", headers: [("Cookie", session.cookie)])
            #expect(page.status == 200 && page.body.contains(#"<table id="scorecards">"#), "\(page.body.prefix(500))")
            // One run, paused on the call the policy asked about: nothing finished yet.
            #expect(page.body.contains("<td>(no profile)</td>") && page.body.contains("<td>1 / 0</td>"))
            #expect(page.body.contains("<svg class=\"chart\"") && page.body.contains("no task done"))
            #expect(page.body.contains("of the last 7 days"))
        }
    }

    /// The runs table is live: the feed sends the runs, then again after an append to any run
    /// (here an approval), read from the store's signal rather than a poll.
    @Test func theRunsTableFollowsAppends() async throws {
        try await withWorld { w in
            let session = try await signIn(w, w.read)
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(w.port)/dashboard/live")
            request.headers.add(name: "Cookie", value: session.cookie)
            let response = try await w.client.execute(request, timeout: .seconds(60))
            #expect(response.headers.first(name: "Content-Type") == "text/event-stream")
            var frames: [[[String: Any]]] = []
            var buffer = ""
            var approved = false
            for try await chunk in response.body {
                buffer += String(buffer: chunk)
                while let end = buffer.range(of: "\n\n") {
                    let frame = String(buffer[..<end.lowerBound])
                    buffer = String(buffer[end.upperBound...])
                    guard frame.hasPrefix("data: ") else { continue }
                    let rows =
                        (try? JSONSerialization.jsonObject(with: Data(frame.dropFirst(6).utf8))) as? [[String: Any]]
                    frames.append(rows ?? [])
                }
                if !approved, !frames.isEmpty {
                    approved = true
                    let ok = try await w.call(.POST, "/api/runs/ship/calls/m1.1/approve", token: w.approve, body: "{}")
                    #expect(ok.status == 200)
                }
                if frames.count >= 2 { break }
            }
            let first = frames.first?.first { $0["id"] as? String == "ship" }
            let later = frames.last?.first { $0["id"] as? String == "ship" }
            #expect(first?["status"] as? String == "paused", "\(frames)")
            #expect((later?["events"] as? Int ?? 0) > (first?["events"] as? Int ?? 0), "\(frames)")
        }
    }

    /// What the agent wrote (a file's content read back as a tool's output, a call's arguments)
    /// is escaped wherever a page shows it: it is text, never markup.
    @Test func agentWrittenTextIsShownInert() async throws {
        let scenario = """
            tasks:
              ship:
                - tools: [{write_file: {path: x.html, content: "<script>alert('pwned')</script>"}}]
                - tools: [{read_file: {path: x.html}}]
                - tools: [{shell: {command: "echo '<img src=x onerror=alert(1)>' >> release.log # \\u202e;lmth.live > txt.ssap"}}]
                - done: shipped
            """
        try await withWorld(scenario: scenario) { w in
            let session = try await signIn(w, w.read, call: "m3.1")
            for path in ["/dashboard/runs/ship", "/dashboard/inbox"] {
                let page = try await w.call(.GET, path, headers: [("Cookie", session.cookie)])
                #expect(page.status == 200)
                #expect(!page.body.contains("<script>alert"), "\(path) has the agent's script as markup")
                #expect(!page.body.contains("<img src=x"), "\(path) has the agent's image as markup")
                #expect(page.body.contains("&lt;img src=x onerror=alert(1)&gt;"), "\(path): \(page.body.prefix(300))")
            }
            let run = try await w.call(.GET, "/dashboard/runs/ship", headers: [("Cookie", session.cookie)])
            #expect(run.body.contains("&lt;script&gt;alert"), "the read file's content is not on the page")
            // The only script the page loads is the server's own.
            #expect(run.body.components(separatedBy: "<script").count == 2)
            // The waiting call really holds the override (the scenario's YAML escape made it).
            let waiting = try await SQLiteEventStore(path: w.db).state(of: RunID("ship")).awaitingApproval
            #expect(waiting?.call.arguments.text.unicodeScalars.contains { $0.value == 0x202E } == true)
            // A bidirectional override would make the approver read the command in another order
            // than it runs: it is shown as an escape, on the page and in the API.
            #expect(!run.body.unicodeScalars.contains { $0.value == 0x202E } && run.body.contains("\\u202e"))
            let inbox = try await w.call(.GET, "/api/inbox", token: w.read)
            #expect(!inbox.body.unicodeScalars.contains { $0.value == 0x202E } && inbox.body.contains("\\u202e"))
            #expect(inbox.body.contains("\\u202e;lmth"), "\(inbox.body.prefix(400))")
        }
    }
}

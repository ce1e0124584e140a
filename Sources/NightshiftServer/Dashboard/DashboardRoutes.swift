import Foundation
import HTTPTypes
import Hummingbird
import NightshiftCore
import NightshiftRuntime

/// The dashboard: server-rendered pages over the same runtime calls as the API, signed in with a
/// token (a session cookie: HttpOnly, SameSite=Strict), a CSRF secret in every form, and a content
/// security policy that lets only this server's own script and style run.
enum DashboardRoutes {
    static let cookie = "ns_session"
    /// The events a run's page shows (the latest).
    static let timelineLength: Int64 = 500
    /// The events a run's charts are drawn from (the latest).
    static let chartedEvents: Int64 = 20_000

    /// The sign-in page and the assets: no session needed.
    static func open(_ dash: RouterGroup<APIContext>, runtime: Runtime, sessions: Sessions) {
        dash.get("app.css") { _, _ in asset(DashboardAssets.css, type: "text/css; charset=utf-8") }
        dash.get("app.js") { _, _ in asset(DashboardAssets.js, type: "text/javascript; charset=utf-8") }
        dash.get("login") { _, _ in page("Sign in", "login", [:], status: .ok) }
        dash.post("login") { request, _ in
            // A sign-in posted from another site (login CSRF: signing the person in as someone else).
            guard sameOrigin(request) else {
                throw Problem(.forbidden, code: "cross_origin", "a form from another site is not accepted")
            }
            let form = try await form(request)
            let tokens = try runtime.tokens()
            switch try await tokens.authenticate((form["token"] ?? "").trimmingCharacters(in: .whitespaces)) {
            case let .failure(problem):
                return page("Sign in", "login", ["problem": problem.message], status: .unauthorized)
            case let .success(token):
                let made = sessions.create(token: token.id)
                var response = Response.redirect(to: "/dashboard", type: .found)
                response.status = .seeOther
                response.setCookie(
                    Cookie(
                        name: cookie, value: made.id, maxAge: Int(Sessions.lifetime.components.seconds),
                        path: "/dashboard", httpOnly: true, sameSite: .strict))
                return response
            }
        }
    }

    /// What a signed-in person sees and decides.
    static func signedIn(_ dash: RouterGroup<APIContext>, runtime: Runtime, sessions: Sessions) {
        dash.get("") { _, context in
            let token = try context.require(.read)
            let runs = try await runtime.runs().prefix(500).map { r -> [String: Any] in
                [
                    "id": r.id.rawValue, "path": Routes.segment(r.id.rawValue), "status": r.status.rawValue,
                    "title": r.title, "events": r.headSeq,
                    "updated": time(r.updated),
                ]
            }
            return page("Runs", "runs", ["runs": runs, "any": !runs.isEmpty], token: token, context: context)
        }
        dash.get("agents") { request, context in
            let token = try context.require(.read)
            let days = request.uri.queryParameters.get("days").flatMap { Int($0) }.map { min(max($0, 1), 3650) }
            let within: Duration? = days.map { .seconds($0 * 86400) }
            var object = scorecards(try await runtime.scorecards(within: within), days: days)
            object["weeks"] = TrendChart.values(try await runtime.scorecardWeeks(within: within))
            return page("Agents", "agents", object, token: token, context: context)
        }
        dash.get("live") { _, context in
            // The runs table, again after each append to any run (the runs page's script keeps it).
            let token = try context.require(.read)
            let (tokens, id, session) = (try runtime.tokens(), token.id, context.session?.id ?? "")
            let feed = try runtime.runsFeed()
            return try await EventStream.response {
                guard sessions.session(session) != nil else { return false }
                if case .success = try? await tokens.current(id: id) { return true }
                return false
            } produce: { yield in
                for try await runs in feed {
                    let rows = runs.prefix(500).map {
                        LiveRun(
                            id: $0.id.rawValue, status: $0.status.rawValue, title: $0.title, events: $0.headSeq,
                            updated: time($0.updated))
                    }
                    let json = String(decoding: try JSONEncoder.sorted.encode(rows), as: UTF8.self)
                    if !yield("data: \(VisibleText.safe(json))\n\n") { return }
                }
            }
        }
        dash.get("inbox") { _, context in
            let token = try context.require(.read)
            var items: [[String: Any]] = []
            for item in try await runtime.inbox() {
                var o: [String: Any] = [
                    "run": item.run.rawValue, "runPath": Routes.segment(item.run.rawValue),
                    "kind": item.kind?.rawValue ?? "paused", "reason": item.reason,
                ]
                switch item.kind {
                case .planReview:
                    // The plan itself, its checks with it: what an approval lets run.
                    // A run whose log cannot be read, or does not verify, shows no plan and no form
                    // (a decision there is refused anyway), not a broken page.
                    guard let view = try? await runtime.status(of: item.run), !view.damaged else {
                        o["reason"] =
                            item.reason + " (its log could not be checked here: nightshift status \(item.run))"
                        items.append(o)
                        continue
                    }
                    let state = view.state
                    o["plan"] =
                        [
                            "version": state.planning.planVersion, "title": state.plan?.title ?? "",
                            "tasks": (state.plan?.tasks ?? []).map { t -> [String: Any] in
                                ["id": t.id.rawValue, "description": t.description, "checks": t.checks.map(\.command)]
                            },
                        ] as [String: Any]
                case .escalation, .breaker: o["answers"] = true
                case .budget: o["budget"] = true
                default: break
                }
                if let w = item.waiting {
                    o["call"] = [
                        "id": w.call.id.rawValue, "path": Routes.segment(w.call.id.rawValue), "tool": w.call.name,
                        "arguments": w.call.arguments.text, "sha256": w.call.arguments.sha256Hex,
                    ]
                }
                items.append(o)
            }
            return page("Inbox", "inbox", ["items": items], token: token, context: context)
        }
        dash.get("runs/:run") { _, context in
            let token = try context.require(.read)
            let run = try Routes.run(context)
            let view = try await runtime.status(of: run)
            let s = view.state
            // The latest events (the page stays small however long the run); the API has the rest.
            // The charts read further back (at most ``chartedEvents``), drawing only numbers.
            var timeline: [[String: Any]] = []
            var charts = RunCharts()
            var commits: [[String: Any]] = []
            var verdicts: [String: String] = [:]
            let from = max(0, s.lastSeq - Self.timelineLength)
            for try await e in try await runtime.events(
                of: run, after: max(0, s.lastSeq - Self.chartedEvents), follow: false
            ).events {
                charts.add(e)
                if case let .judgeVerdict(task, attempt, verdict, _) = e.event {
                    verdicts[task.rawValue] = "\(verdict.rawValue) (attempt \(attempt))"
                }
                if case let .workCommitted(task, commit, detail) = e.event {
                    commits.append([
                        "task": task.rawValue, "commit": commit.map { String($0.prefix(12)) } ?? "-", "detail": detail,
                    ])
                }
                guard e.seq > from else { continue }
                let json = JSONLine.render(e)
                timeline.append([
                    "seq": e.seq, "kind": e.event.kind, "line": EventLine.short(e.event),
                    "json": json.count > 20_000 ? String(json.prefix(20_000)) + " …" : json,
                ])
            }
            var object: [String: Any] = [
                "id": s.run.rawValue, "run": s.run.rawValue, "runPath": Routes.segment(s.run.rawValue),
                "title": s.title.isEmpty ? s.run.rawValue : s.title,
                "status": s.status.rawValue, "events": s.lastSeq, "cost": Money.format(s.costPicoUSD),
                "last": s.lastSeq, "timeline": timeline, "earlier": from > 0 ? from : false,
                "tasks": s.tasks.map {
                    [
                        "id": $0.id.rawValue, "status": $0.status.rawValue, "attempts": $0.attempts,
                        "verdict": verdicts[$0.id.rawValue] ?? "-",
                    ]
                },
                "charts": charts.values, "commits": commits, "anyCommits": !commits.isEmpty,
            ]
            if let diff = try await runtime.committedDiff(of: run) {
                object["diff"] = diff
                object["diffLines"] = diff.split(separator: "\n", omittingEmptySubsequences: false).count
            }
            if !s.fleet.children.isEmpty {
                object["tree"] = DashboardRecordRoutes.treeRows(try await runtime.fleetTree(of: run))
                object["anyTree"] = true
            }
            if let reason = s.statusReason { object["reason"] = reason }
            if let pending = s.awaitingApproval, s.status == .paused {
                object["waiting"] = [
                    "call": pending.call.id.rawValue, "callPath": Routes.segment(pending.call.id.rawValue),
                    "tool": pending.call.name, "arguments": pending.call.arguments.text,
                    "sha256": pending.call.arguments.sha256Hex,
                ]
            }
            return page(object["title"] as? String ?? "Run", "run", object, token: token, context: context)
        }
        dash.get("runs/:run/events") { request, context in
            let token = try context.require(.read)
            let (tokens, id, session) = (try runtime.tokens(), token.id, context.session?.id ?? "")
            var after = (request.uri.queryParameters.get("after").flatMap { Int64($0) }) ?? 0
            if let last = request.headers[Routes.lastEventID], let seq = Int64(last), seq >= 0 { after = seq }
            return try await EventStream.response(
                try await runtime.live(of: try Routes.run(context), after: max(after, 0)), named: false
            ) {
                guard sessions.session(session) != nil else { return false }
                if case .success = try? await tokens.current(id: id) { return true }
                return false
            }
        }
        for approved in [true, false] {
            dash.post("runs/:run/calls/:call/\(approved ? "approve" : "deny")") { request, context in
                let token = try context.require(.approve)
                let form = try await checkedForm(request, context)
                let (run, call) = (try Routes.run(context), try Routes.parameter("call", context))
                // For the plan, the version the page showed; for a call, its arguments' hash.
                let seen = call == "plan" ? form["plan_version"] : form["arguments_sha256"]
                let decisions = try runtime.decisions(by: token.principal)
                if approved {
                    _ = try await decisions.approve(run, call: call, note: form["note"] ?? "", seen: seen)
                } else {
                    _ = try await decisions.deny(run, call: call, reason: form["reason"] ?? "", seen: seen)
                }
                return back(to: run)
            }
        }
        dash.post("runs/:run/answer") { request, context in
            let token = try context.require(.approve)
            let form = try await checkedForm(request, context)
            let run = try Routes.run(context)
            _ = try await runtime.decisions(by: token.principal).answer(run, text: form["text"] ?? "")
            return back(to: run)
        }
        dash.post("runs/:run/budget") { request, context in
            let token = try context.require(.approve)
            let form = try await checkedForm(request, context)
            let run = try Routes.run(context)
            func number(_ name: String) throws -> Int? {
                guard let text = form[name]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
                guard let n = Int(text), n > 0 else {
                    throw Problem(.badRequest, code: "invalid_body", "\(name) must be a whole number above 0")
                }
                return n
            }
            let cost = form["cost_usd"].flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }
            let change = try Decisions.budgetChange(
                cost: cost, tokens: try number("tokens"), toolCalls: nil, steps: nil, wallMinutes: nil)
            _ = try await runtime.decisions(by: token.principal).setBudget(run, scope: .run, change: change)
            return back(to: run)
        }
        dash.post("logout") { request, context in
            _ = try await checkedForm(request, context)
            if let id = context.session?.id { sessions.end(id) }
            var response = Response.redirect(to: "/dashboard/login", type: .normal)
            response.status = .seeOther
            response.setCookie(
                Cookie(name: cookie, value: "", maxAge: 0, path: "/dashboard", httpOnly: true, sameSite: .strict))
            return response
        }
    }

    /// The agents page's values: a row per agent version, and a bar per version for the chart
    /// (drawn by the server as SVG: no script, no library).
    static func scorecards(_ cards: [Scorecards.Card], days: Int?) -> [String: Any] {
        let rows = cards.map { c -> [String: Any] in
            [
                "name": c.agent.name, "version": c.agent.version, "runs": c.runs, "done": c.tasksFinished,
                "first": c.firstAttemptRate.map { "\(Int(($0 * 100).rounded()))%" } ?? "-",
                "rework": c.reworkRate.map { String(format: "%.2f", $0) } ?? "-", "escalations": c.escalations,
                "asked": c.approvalsAsked, "denied": c.approvalsDenied, "budget": c.budgetTrips,
                "breaker": c.breakerTrips, "cost": c.costPerTaskPicoUSD.map(Money.format) ?? "-",
                "tokens": c.tokensPerTask.map(String.init) ?? "-",
                "median": c.medianTaskMilliseconds.map { "\(($0 + 500) / 1000) s" } ?? "-",
            ]
        }
        let bars = cards.enumerated().map { n, c -> [String: Any] in
            let rate = c.firstAttemptRate ?? 0
            let width = Int((rate * 400).rounded())
            return [
                "label": "\(c.agent.name.prefix(18)) \(c.agent.version.prefix(8))", "y": 8 + n * 26,
                "textY": 21 + n * 26,
                "width": width, "valueX": 206 + width,
                "value": c.firstAttemptRate.map { "\(Int(($0 * 100).rounded()))%" } ?? "no task done",
            ]
        }
        var object: [String: Any] = [
            "cards": rows, "bars": bars, "any": !cards.isEmpty, "height": 16 + cards.count * 26,
        ]
        if let days { object["days"] = days }
        return object
    }

    /// One row of the live runs table.
    struct LiveRun: Encodable {
        var id: String
        var status: String
        var title: String
        var events: Int64
        var updated: String
    }

    // MARK: - Forms and pages

    /// A form post's fields, after its CSRF secret was checked against the session's.
    static func checkedForm(_ request: Request, _ context: APIContext) async throws -> [String: String] {
        let fields = try await form(request)
        guard let session = context.session, let sent = fields["csrf"], Sessions.same(sent, session.csrf) else {
            throw Problem(
                .forbidden, code: "csrf", "the form's CSRF token is missing or not this session's: reload the page")
        }
        return fields
    }

    /// `application/x-www-form-urlencoded` fields, at most ``APIServer/maxBodyBytes``.
    static func form(_ request: Request) async throws -> [String: String] {
        guard let type = request.headers[.contentType], type.lowercased().hasPrefix("application/x-www-form-urlencoded")
        else {
            throw Problem(.unsupportedMediaType, code: "unsupported_media_type", "send the form as a form")
        }
        var fields: [String: String] = [:]
        for pair in try await Routes.body(request).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decoded(_ s: Substring) -> String {
                s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            guard let key = parts.first else { continue }
            let name = decoded(key)
            // A field sent twice is refused: which one counted would be the reader's guess.
            guard fields[name] == nil else {
                throw Problem(.badRequest, code: "invalid_body", "the form names \(name.prefix(40)) twice")
            }
            fields[name] = parts.count == 2 ? decoded(parts[1]) : ""
        }
        return fields
    }

    /// A post whose `Origin`, when the browser sends one, is this server.
    static func sameOrigin(_ request: Request) -> Bool {
        guard let origin = request.headers[.origin] else { return true }
        let authority = request.head.authority ?? ""
        return origin == "http://" + authority || origin == "https://" + authority
    }

    static func back(to run: RunID) -> Response {
        var response = Response.redirect(to: "/dashboard/runs/\(Routes.segment(run.rawValue))", type: .normal)
        response.status = .seeOther
        return response
    }

    static func page(
        _ title: String, _ template: String, _ object: [String: Any], token: APIToken? = nil,
        context: APIContext? = nil,
        status: HTTPResponse.Status = .ok
    ) -> Response {
        // Every form of the page carries the session's CSRF secret.
        var object = object
        if let session = context?.session { object["csrf"] = session.csrf }
        let body = DashboardPages.render(template, object)
        var layout: [String: Any] = ["title": title, "body": body]
        if let token, let session = context?.session {
            layout["signedIn"] = ["principal": token.principal, "csrf": session.csrf]
        }
        var headers = securityHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(
            status: status, headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(string: DashboardPages.render("layout", layout))))
    }

    static func asset(_ text: String, type: String) -> Response {
        var headers = securityHeaders
        headers[.contentType] = type
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// Only this server's own script, style and connections; never framed; no referrer to others.
    static var securityHeaders: HTTPFields {
        var h = HTTPFields()
        h[.contentSecurityPolicy] =
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
            + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        h[.xContentTypeOptions] = "nosniff"
        // same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on the
        // page's own form posts, which the origin check refuses.
        h[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        h[.cacheControl] = "no-store"
        return h
    }

    static func time(_ t: Timestamp) -> String {
        Date(timeIntervalSince1970: Double(t.milliseconds) / 1000).formatted(.iso8601)
    }
}

/// The session middleware: the dashboard's pages need a signed-in session whose token is still
/// valid; a page asked for without one goes to the sign-in page, a form post gets 401. A post
/// from another origin is refused before anything reads its body.
struct SessionAuthentication: RouterMiddleware {
    typealias Context = APIContext
    let tokens: Tokens
    let sessions: Sessions

    func handle(
        _ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response
    ) async throws -> Response {
        if request.method == .post, let origin = request.headers[.origin],
            origin != "http://" + (request.head.authority ?? "")
                && origin != "https://" + (request.head.authority ?? "")
        {
            throw Problem(.forbidden, code: "cross_origin", "a form from another site is not accepted")
        }
        var context = context
        if let id = request.cookies[DashboardRoutes.cookie]?.value, let session = sessions.session(id),
            case let .success(token) = try await tokens.current(id: session.token)
        {
            context.token = token
            context.session = (id, session.csrf)
            return try await next(request, context)
        }
        if request.method == .get {
            var response = Response.redirect(to: "/dashboard/login", type: .normal)
            response.status = .seeOther
            return response
        }
        throw Problem(.unauthorized, code: "unauthorized", "sign in first (the session ended or never began)")
    }
}

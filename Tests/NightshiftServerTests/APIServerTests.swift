import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NightshiftCore
import NightshiftSQLite
import NightshiftServer
import NightshiftTesting
import ServiceLifecycle
import Testing

@testable import NightshiftRuntime

/// The HTTP API over real HTTP on loopback: a runtime and the server in one service group, a run
/// driven by the scripted model (a test double) until it waits for an approval, and requests made
/// with AsyncHTTPClient as any client would.
@Suite(.serialized, .timeLimit(.minutes(3))) struct APIServerTests {
    static let routes: [(HTTPMethod, String)] = [
        (.GET, "/api/runs"), (.GET, "/api/runs/ship"), (.GET, "/api/runs/ship/events"), (.GET, "/api/inbox"),
        (.POST, "/api/runs/ship/calls/m1.1/approve"), (.POST, "/api/runs/ship/calls/m1.1/deny"),
        (.POST, "/api/runs/ship/answer"), (.POST, "/api/runs/ship/cancel"), (.POST, "/api/runs/ship/budget"),
    ]

    /// Every route refuses a request with no token, a malformed one, an unknown one, a revoked
    /// one and an expired one: 401, as problem+json, and the log is unchanged.
    @Test func everyRouteRefusesARequestWithoutAValidToken() async throws {
        try await withWorld { w in
            let before = try await w.events()
            let revoked = try await w.runtime.tokens().create(name: "old", principal: "alice", scopes: [.admin])
            try await w.runtime.tokens().revoke(revoked.token.id)
            // Expired: written as the store would hold it, with its end in the past.
            let secret = String(repeating: "ab", count: 32)
            try await SQLiteTokenStore(sharing: SQLiteEventStore(path: w.db)).add(
                APIToken(
                    id: "0123456789ab", name: "expired", principal: "alice", scopes: [.admin],
                    secretHash: Tokens.digest(secret), created: Timestamp(milliseconds: 0),
                    expires: Timestamp(milliseconds: 1000)))
            let wrongSecret = String(w.approve.dropLast(4)) + "0000"
            for (method, path) in Self.routes {
                for token in [nil, "xyz", wrongSecret, revoked.text, "nst_0123456789ab_\(secret)"] as [String?] {
                    let r = try await w.call(method, path, token: token, body: method == .POST ? "{}" : nil)
                    #expect(r.status == 401, "\(method) \(path) with \(token ?? "none"): \(r.body)")
                    #expect(r.contentType == "application/problem+json" && r.json["code"] as? String == "unauthorized")
                }
            }
            // The open route needs none.
            #expect(try await w.call(.GET, "/health").status == 200)
            #expect(try await w.events() == before)
        }
    }

    /// A read token reads; deciding and cancelling need their scopes (403), and change nothing.
    @Test func aTokenMayDoOnlyWhatItsScopesAllow() async throws {
        try await withWorld { w in
            let runs = try await w.call(.GET, "/api/runs", token: w.read)
            #expect(runs.status == 200 && runs.body.contains("\"id\":\"ship\""), "\(runs.body)")
            let run = try await w.call(.GET, "/api/runs/ship", token: w.read)
            #expect(run.json["status"] as? String == "paused", "\(run.body)")
            #expect((run.json["waits_for"] as? [String: Any])?["call"] as? String == "m1.1", "\(run.body)")
            let inbox = try await w.call(.GET, "/api/inbox", token: w.read)
            #expect(inbox.body.contains("echo shipped >> release.log"), "\(inbox.body)")
            let before = try await w.events()
            for (path, body) in [
                ("/api/runs/ship/calls/m1.1/approve", "{}"), ("/api/runs/ship/calls/m1.1/deny", #"{"reason":"no"}"#),
                ("/api/runs/ship/answer", #"{"text":"go"}"#), ("/api/runs/ship/cancel", #"{"reason":"stop"}"#),
                ("/api/runs/ship/budget", #"{"tokens":100}"#),
            ] {
                let r = try await w.call(.POST, path, token: w.read, body: body)
                #expect(r.status == 403 && r.json["code"] as? String == "forbidden", "\(path): \(r.body)")
            }
            // An approve token may not cancel (that is operate's).
            let cancel = try await w.call(.POST, "/api/runs/ship/cancel", token: w.approve, body: #"{"reason":"x"}"#)
            #expect(cancel.status == 403, "\(cancel.body)")
            #expect(try await w.events() == before)
        }
    }

    /// An approval made with a token is recorded as the token's principal, exactly once; a token
    /// of someone outside the policy's approvers is refused, whatever its scope.
    @Test func anApprovalIsTheTokensPrincipalsAndHappensOnce() async throws {
        try await withWorld { w in
            let before = try await w.events()
            let outsider = try await w.call(
                .POST, "/api/runs/ship/calls/m1.1/approve", token: w.outsider, body: #"{"note":"fine"}"#)
            #expect(outsider.status == 403 && outsider.json["code"] as? String == "not_allowed", "\(outsider.body)")
            #expect(try await w.events() == before)

            let ok = try await w.call(
                .POST, "/api/runs/ship/calls/m1.1/approve", token: w.approve, body: #"{"note":"ok"}"#)
            #expect(ok.status == 200 && ok.json["decided_by"] as? String == "alice", "\(ok.body)")
            let log = try await SQLiteEventStore(path: w.db).readAll(RunID("ship"))
            #expect(log.count == before + 1)
            guard case let .approvalDecided(call, approved, by, note, _) = log.last?.event else {
                Issue.record("the last event is \(String(describing: log.last?.event))")
                return
            }
            #expect(call == CallID("m1.1") && approved && by == "alice" && note == "ok")

            let again = try await w.call(.POST, "/api/runs/ship/calls/m1.1/approve", token: w.approve, body: "{}")
            #expect(again.status == 409 && again.json["code"] as? String == "already_decided", "\(again.body)")
            #expect(try await w.events() == before + 1)
        }
    }

    /// A budget raised over the API is the token's principal's, as `nightshift budget` records it.
    @Test func aBudgetIsRaisedByTheTokensPrincipal() async throws {
        try await withWorld { w in
            let r = try await w.call(
                .POST, "/api/runs/ship/budget", token: w.approve, body: #"{"cost_usd":"2.50","tool_calls":40}"#)
            #expect(r.status == 200 && r.json["decided_by"] as? String == "alice", "\(r.body)")
            let log = try await SQLiteEventStore(path: w.db).readAll(RunID("ship"))
            guard case let .budgetSet(scope, budget, by) = log.last?.event else {
                Issue.record("the last event is \(String(describing: log.last?.event))")
                return
            }
            #expect(
                scope == .run && by == "alice" && budget.toolCalls == 40 && budget.costPicoUSD == Money.parseUSD("2.50")
            )
        }
    }

    /// An approval may name the arguments it saw (their SHA-256, as the inbox gives it): one that
    /// does not match what waits is refused and appends nothing.
    @Test func anApprovalBindsToTheArgumentsItSaw() async throws {
        try await withWorld { w in
            let inbox = try await w.call(.GET, "/api/inbox", token: w.read)
            let items = inbox.json["items"] as? [[String: Any]] ?? []
            let seen = try #require((items.first?["call"] as? [String: Any])?["arguments_sha256"] as? String)
            let before = try await w.events()
            let stale = try await w.call(
                .POST, "/api/runs/ship/calls/m1.1/approve", token: w.approve,
                body: #"{"arguments_sha256":""# + String(repeating: "0", count: 64) + #""}"#)
            #expect(stale.status == 409 && stale.json["code"] as? String == "changed", "\(stale.body)")
            #expect(try await w.events() == before)
            let ok = try await w.call(
                .POST, "/api/runs/ship/calls/m1.1/approve", token: w.approve,
                body: #"{"arguments_sha256":""# + seen + #""}"#)
            #expect(ok.status == 200, "\(ok.body)")
            // A run id is read percent-decoded, as a client that encodes every path segment sends it.
            #expect(try await w.call(.GET, "/api/runs/sh%69p", token: w.read).status == 200)
        }
    }

    /// A live stream lasts only as long as its token: revoked, the stream ends within seconds
    /// (it would otherwise last as long as its run).
    @Test func aRevokedTokensLiveStreamEnds() async throws {
        try await withWorld { w in
            let reader = try await w.runtime.tokens().create(name: "tv", principal: "alice", scopes: [.read])
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(w.port)/api/runs/ship/events")
            request.headers.add(name: "Authorization", value: "Bearer \(reader.text)")
            request.headers.add(name: "Accept", value: "text/event-stream")
            let response = try await w.client.execute(request, timeout: .seconds(60))
            var text = ""
            var revoked: ContinuousClock.Instant?
            for try await chunk in response.body {
                text += String(buffer: chunk)
                if revoked == nil, text.contains("event: run_paused") {
                    try await w.runtime.tokens().revoke(reader.token.id)
                    revoked = .now
                }
            }
            // Ended by the server (the run still waits), after the revocation.
            let ended = try #require(revoked)
            #expect(ContinuousClock.now - ended < .seconds(30))
            #expect(try await w.call(.GET, "/api/runs/ship", token: w.read).json["status"] as? String == "paused")
        }
    }

    /// Bad input is a problem with a stable code, and changes no log.
    @Test func badRequestsAreProblemsAndChangeNothing() async throws {
        try await withWorld { w in
            let before = try await w.events()
            let deny = "/api/runs/ship/calls/m1.1/deny"
            let cases: [(Reply, Int, String)] = [
                (
                    try await w.call(
                        .POST, deny, token: w.approve, body: #"{"reason":"x"}"#, contentType: "text/plain"), 415,
                    "unsupported_media_type"
                ),
                (try await w.call(.POST, deny, token: w.approve, body: "{not json"), 400, "invalid_body"),
                (try await w.call(.POST, deny, token: w.approve, body: "{}"), 400, "invalid_body"),
                (try await w.call(.POST, deny, token: w.approve, body: #"{"reason":5}"#), 400, "invalid_body"),
                (
                    try await w.call(
                        .POST, deny, token: w.approve,
                        body: #"{"reason":""# + String(repeating: "x", count: 70_000) + #""}"#), 413, "body_too_large"
                ),
                (
                    try await w.call(.POST, "/api/runs/ship/calls/m9.9/approve", token: w.approve, body: "{}"), 409,
                    "not_waiting"
                ),
                (try await w.call(.GET, "/api/runs/nope", token: w.read), 404, "not_found"),
                (
                    try await w.call(.POST, "/api/runs/nope/answer", token: w.approve, body: #"{"text":"x"}"#), 404,
                    "not_found"
                ),
                (try await w.call(.GET, "/api/nothing-here", token: w.read), 404, "not_found"),
                (try await w.call(.GET, "/api/runs?limit=0", token: w.read), 400, "invalid_query"),
                (try await w.call(.GET, "/api/runs?status=sleeping", token: w.read), 400, "invalid_query"),
                (
                    try await w.call(.POST, "/api/runs/ship/budget", token: w.approve, body: #"{"tokens":-1}"#), 400,
                    "invalid"
                ),
                (try await w.call(.POST, "/api/runs/ship/budget", token: w.approve, body: "{}"), 400, "invalid"),
                (
                    try await w.call(.POST, "/api/runs/ship/budget", token: w.approve, body: #"{"cost_usd":"lots"}"#),
                    400,
                    "invalid"
                ),
                (
                    try await w.call(
                        .POST, "/api/runs/ship/budget", token: w.approve, body: #"{"scope":"fleet","steps":1}"#),
                    400, "invalid_body"
                ),
            ]
            for (reply, status, code) in cases {
                #expect(
                    reply.status == status && reply.json["code"] as? String == code,
                    "\(reply.status) \(reply.body.prefix(300))")
                #expect(reply.contentType == "application/problem+json", "\(reply.body.prefix(200))")
            }
            #expect(try await w.events() == before)
        }
    }

    /// Events by range, and live as server-sent events resumed from `Last-Event-ID`: nothing
    /// before it, nothing twice, and a decision made meanwhile arrives on the open stream.
    @Test func eventsAreReadByRangeAndStreamedLiveFromLastEventID() async throws {
        try await withWorld { w in
            let page = try await w.call(.GET, "/api/runs/ship/events?after=0&limit=3", token: w.read)
            let events = page.json["events"] as? [[String: Any]] ?? []
            #expect(events.map { $0["seq"] as? Int } == [1, 2, 3], "\(page.body.prefix(400))")

            var request = HTTPClientRequest(url: "http://127.0.0.1:\(w.port)/api/runs/ship/events")
            request.headers.add(name: "Authorization", value: "Bearer \(w.read)")
            request.headers.add(name: "Accept", value: "text/event-stream")
            request.headers.add(name: "Last-Event-ID", value: "2")
            let response = try await w.client.execute(request, timeout: .seconds(60))
            #expect(response.headers.first(name: "Content-Type") == "text/event-stream")
            var text = ""
            var approved = false
            for try await chunk in response.body {
                text += String(buffer: chunk)
                if !approved, text.contains("event: run_paused") {
                    approved = true
                    let ok = try await w.call(
                        .POST, "/api/runs/ship/calls/m1.1/approve", token: w.approve, body: "{}")
                    #expect(ok.status == 200, "\(ok.body)")
                }
                if text.contains("event: approval_decided") { break }
            }
            let ids = text.split(separator: "\n").filter { $0.hasPrefix("id: ") }.compactMap { Int($0.dropFirst(4)) }
            #expect(text.hasPrefix("retry: "))
            #expect(ids.first == 3 && ids == Array(3...(ids.last ?? 3)), "\(ids)")
            #expect(text.contains("event: approval_decided"))
        }
    }

    /// A stop ends a live stream (the runtime's graceful shutdown reaches it) instead of waiting
    /// for the run: the client sees the stream end and would reconnect after the retry hint.
    @Test func aStopEndsALiveStream() async throws {
        try await withWorld { w in
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(w.port)/api/runs/ship/events")
            request.headers.add(name: "Authorization", value: "Bearer \(w.read)")
            request.headers.add(name: "Accept", value: "text/event-stream")
            let response = try await w.client.execute(request, timeout: .seconds(60))
            var text = ""
            var stopped = false
            for try await chunk in response.body {
                text += String(buffer: chunk)
                if !stopped, text.contains("event: run_paused") {
                    stopped = true
                    await w.runtime.stop()
                }
            }
            #expect(stopped && text.contains("event: run_created"))
        }
    }
}

import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NightshiftConfig
import NightshiftCore
import NightshiftSQLite
import NightshiftServer
import NightshiftTesting
import Testing

@testable import NightshiftRuntime

/// Runs started without a terminal, over real HTTP: `POST /api/runs` with a token, and signed
/// webhook deliveries; and what the runs left (tree, verify, export, memories, agents, schedules).
@Suite(.serialized, .timeLimit(.minutes(3))) struct StartAndHookTests {
    static let secret = "s3cret-s3cret-s3cret"
    static let hook = WebhookEntry(
        name: "ci", secret: secret, goal: "The build of {{ref}} fails: {{commit.message}}", origin: "test")

    /// The run's first event, as stored.
    func created(_ db: String, _ run: RunID) async throws -> RunSettings? {
        guard case let .runCreated(_, _, _, settings)? = try await SQLiteEventStore(path: db).readAll(run).first?.event
        else { return nil }
        return settings
    }

    func deliver(
        _ w: World, hook: String = "ci", delivery: String?, body: String, secret: String = Self.secret,
        signature: String? = nil
    ) async throws -> Reply {
        var headers: [(String, String)] = []
        if let delivery {
            headers.append((Webhooks.deliveryHeader, delivery))
            headers.append(
                (
                    Webhooks.signatureHeader,
                    signature ?? Webhooks.signature(secret: secret, delivery: delivery, body: Array(body.utf8))
                ))
        } else if let signature {
            headers.append((Webhooks.signatureHeader, signature))
        }
        return try await w.call(.POST, "/hooks/\(hook)", body: body, headers: headers)
    }

    /// An operate token starts a plan and a goal; the run records the token's principal as what
    /// triggered it; a read token may not start one, and bad bodies start nothing.
    @Test func anOperateTokenStartsARunThatRecordsWhoStartedIt() async throws {
        try await withWorld { w in
            let operate = try await w.runtime.tokens().create(name: "ci-bot", principal: "carol", scopes: [.operate])
            let plan =
                #"{"plan": {"title": "via api", "tasks": [{"id": "ship", "description": "ship", "checks": ["test -f release.log"]}]}}"#
            let r = try await w.call(.POST, "/api/runs", token: operate.text, body: plan)
            #expect(r.status == 201, "\(r.body)")
            let run = RunID(try #require(r.json["run"] as? String))
            #expect(r.location == "/api/runs/\(run)")
            let outcome = try await w.runtime.outcome(of: run)
            guard case .paused = outcome.reason else { throw TestFailure("not paused: \(outcome.reason)") }
            let trigger = try #require(try await created(w.db, run)?.trigger)
            #expect(trigger.kind == .api && trigger.by == "carol" && trigger.name == "ci-bot")

            let goal = try await w.call(.POST, "/api/runs", token: operate.text, body: #"{"goal": "ship it"}"#)
            #expect(goal.status == 201, "\(goal.body)")

            let before = try await w.runtime.runs().count
            for (token, body, status, code) in [
                (w.read, #"{"goal": "x"}"#, 403, "forbidden"),
                (operate.text, #"{"goal": "   "}"#, 400, "invalid_body"),
                (operate.text, #"{"goal": "x", "plan": {}}"#, 400, "invalid_body"),
                (operate.text, #"{}"#, 400, "invalid_body"),
                (operate.text, #"{"plan": {"title": "no tasks"}}"#, 400, "invalid_plan"),
                (operate.text, #"{"goal": 5}"#, 400, "invalid_body"),
                (operate.text, #"{"goal": "x", "workspace": "/etc"}"#, 400, "invalid_body"),
                (operate.text, #"{"goal": "x", "unsandboxed": true}"#, 400, "invalid_body"),
            ] as [(String, String, Int, String)] {
                let bad = try await w.call(.POST, "/api/runs", token: token, body: body)
                #expect(bad.status == status && bad.json["code"] as? String == code, "\(body): \(bad.body)")
            }
            #expect(try await w.runtime.runs().count == before)
        }
    }

    /// A signed delivery starts its template's run with the payload's fields in the goal, and
    /// records the hook and the delivery; the same delivery again starts nothing new.
    @Test func aSignedDeliveryStartsOneRunHoweverOftenItIsSent() async throws {
        try await withWorld(webhooks: [Self.hook]) { w in
            let body = #"{"ref": "main", "commit": {"message": "bump <b>deps</b>"}, "policy": "default: allow"}"#
            let first = try await deliver(w, delivery: "d-1", body: body)
            #expect(first.status == 201 && first.json["duplicate"] as? Bool == false, "\(first.body)")
            let run = RunID(try #require(first.json["run"] as? String))
            #expect(run == Webhooks.runID("ci", delivery: "d-1"))
            _ = try await w.runtime.outcome(of: run)
            let events = try await SQLiteEventStore(path: w.db).readAll(run)
            let settings = try #require(try await created(w.db, run))
            #expect(settings.trigger?.kind == .webhook && settings.trigger?.detail == "delivery d-1")
            #expect(settings.trigger?.payloadSHA256?.count == 64)
            // The payload filled the goal (as data: the planner's input), and set nothing else.
            let goal = events.compactMap { e -> String? in
                if case let .goalSet(goal) = e.event { return goal.text }
                return nil
            }
            #expect(goal == ["The build of main fails: bump <b>deps</b>"], "\(goal)")
            #expect(settings.trigger?.by == "webhook ci (signature checked)")

            let runs = try await w.runtime.runs().count
            for _ in 0..<2 {
                let again = try await deliver(w, delivery: "d-1", body: body)
                #expect(
                    again.status == 200 && again.json["duplicate"] as? Bool == true
                        && again.json["run"] as? String == run.rawValue, "\(again.body)")
            }
            #expect(try await w.runtime.runs().count == runs)
        }
    }

    /// Forged, missing and replayed signatures, unknown hooks, bodies that are not JSON, wrong
    /// content types: each a problem with its code, and no run started.
    @Test func badDeliveriesAreRefusedAndStartNothing() async throws {
        try await withWorld(webhooks: [Self.hook]) { w in
            let body = #"{"ref": "main"}"#
            let before = try await w.runtime.runs().count
            let signedD1 = Webhooks.signature(secret: Self.secret, delivery: "d-1", body: Array(body.utf8))
            let cases: [(Reply, Int, String)] = [
                (try await deliver(w, delivery: nil, body: body), 401, "signature_missing"),
                (try await deliver(w, delivery: nil, body: body, signature: signedD1), 400, "delivery_missing"),
                (
                    try await deliver(w, delivery: "d-2", body: body, secret: "another-secret-of-20"), 401,
                    "signature_invalid"
                ),
                // A captured request replayed under a new delivery id: the signature covers the id.
                (try await deliver(w, delivery: "d-2", body: body, signature: signedD1), 401, "signature_invalid"),
                (try await deliver(w, delivery: "d-3", body: body, signature: "sha256=zz"), 401, "signature_invalid"),
                (
                    try await deliver(w, delivery: "d-4", body: body, signature: signedD1.uppercased()), 401,
                    "signature_invalid"
                ),
                (try await deliver(w, delivery: "d-5", body: "not json"), 400, "invalid_body"),
                (try await deliver(w, delivery: "d 9", body: body), 400, "delivery_missing"),
                (try await deliver(w, hook: "other", delivery: "d-6", body: body), 404, "unknown_hook"),
                (
                    try await w.call(
                        .POST, "/hooks/ci", body: body, contentType: "text/plain",
                        headers: [(Webhooks.deliveryHeader, "d-7"), (Webhooks.signatureHeader, signedD1)]), 415,
                    "unsupported_media_type"
                ),
                (
                    try await deliver(
                        w, delivery: "d-8", body: "{\"a\":\"" + String(repeating: "x", count: 70_000) + "\"}"),
                    413, "body_too_large"
                ),
            ]
            for (reply, status, code) in cases {
                #expect(
                    reply.status == status && reply.json["code"] as? String == code, "\(status) \(code): \(reply.body)")
                #expect(reply.contentType == "application/problem+json")
            }
            #expect(try await w.runtime.runs().count == before)
        }
    }

    /// The new read routes need a token, and answer a run's tree, its audit, its signed export,
    /// the memory proposals (decided once), the scorecards and the schedules.
    @Test func theRecordIsReadThroughTheAPI() async throws {
        try await withWorld { w in
            // A read makes no key: without one, the export says how to make it.
            let keyless = try await w.call(.GET, "/api/runs/ship/export", token: w.read)
            #expect(keyless.status == 409 && keyless.json["code"] as? String == "no_audit_key", "\(keyless.body)")
            #expect(!FileManager.default.fileExists(atPath: w.root + "/audit.key"))
            _ = try AuditKey.load(w.root + "/audit.key", create: true)
            for path in [
                "/api/runs/ship/tree", "/api/runs/ship/verify", "/api/runs/ship/export", "/api/memories",
                "/api/memories/proposals", "/api/agents", "/api/agents/profiles", "/api/schedules",
            ] {
                #expect(try await w.call(.GET, path).status == 401, "\(path)")
                #expect(try await w.call(.GET, path, token: w.read).status == 200, "\(path)")
            }
            for path in ["/api/runs", "/api/runs/ship/resume", "/api/memories/proposals/mem-0/accept"] {
                #expect(try await w.call(.POST, path, body: "{}").status == 401, "\(path)")
            }
            #expect(try await w.call(.GET, "/api/agents/profiles", token: w.read).body == #"{"profiles":[]}"#)
            // Two runs recorded as started from two versions of one profile.
            for (run, version) in [("p1", "v1aaaa"), ("p2", "v2bbbb")] {
                var settings = RunSettings()
                settings.profile = AgentProfile.Reference(name: "fixer", version: version, tools: nil)
                _ = try await SQLiteEventStore(path: w.db).append(
                    [.runCreated(title: run, workspace: w.root, model: "m", settings: settings)], to: RunID(run),
                    expectedSeq: 0, snapshot: nil, fence: nil)
            }
            let profiles = try await w.call(.GET, "/api/agents/profiles", token: w.read)
            #expect(
                profiles.body
                    == #"{"profiles":[{"name":"fixer","versions":[{"runs":["p1"],"version":"v1aaaa"},{"runs":["p2"],"version":"v2bbbb"}]}]}"#,
                "\(profiles.body)")
            let tree = try await w.call(.GET, "/api/runs/ship/tree", token: w.read)
            #expect(tree.json["run"] as? String == "ship" && tree.json["status"] as? String == "paused", "\(tree.body)")
            let verify = try await w.call(.GET, "/api/runs/ship/verify", token: w.read)
            #expect(verify.json["ok"] as? Bool == true, "\(verify.body)")
            let export = try await w.call(.GET, "/api/runs/ship/export", token: w.read)
            #expect(export.contentType == "application/x-ndjson")
            let lines = export.body.split(separator: "\n")
            #expect(lines.count == (try await w.events()) + 2, "each event, a summary and a checkpoint")
            #expect(lines.last?.contains("checkpoint") == true, "\(lines.last ?? "")")
            #expect(try await w.call(.GET, "/api/runs/nope/tree", token: w.read).status == 404)
            #expect(try await w.call(.GET, "/api/runs/nope/verify", token: w.read).status == 404)
            let missing = try await w.call(
                .POST, "/api/memories/proposals/mem-0000000000000000/accept", token: w.approve, body: "{}")
            #expect(missing.status == 404 && missing.json["code"] as? String == "not_found", "\(missing.body)")
            let decline = try await w.call(
                .POST, "/api/memories/proposals/mem-0000000000000000/decline", token: w.approve, body: "{}")
            #expect(decline.status == 400, "a decline needs a note: \(decline.body)")
        }
    }

    /// Resume through the API: a run waiting for a person's decision is not resumed (the decision
    /// continues it); a run that finished is not resumable; an unknown one is not found.
    @Test func resumeRefusesWhatCannotContinue() async throws {
        try await withWorld { w in
            let operate = try await w.runtime.tokens().create(name: "op", principal: "alice", scopes: [.operate])
            #expect(try await w.call(.POST, "/api/runs/nope/resume", token: operate.text, body: "{}").status == 404)
            // Paused for an approval: only the decision continues it.
            let before = try await w.events()
            let waiting = try await w.call(.POST, "/api/runs/ship/resume", token: operate.text, body: "{}")
            #expect(waiting.status == 409 && waiting.json["code"] as? String == "waits_for_a_person", "\(waiting.body)")
            #expect(try await w.events() == before)
            _ = try await w.call(.POST, "/api/runs/ship/cancel", token: operate.text, body: #"{"reason":"done"}"#)
            let r = try await w.call(.POST, "/api/runs/ship/resume", token: operate.text, body: "{}")
            #expect(r.status == 409 && r.json["code"] as? String == "not_resumable", "\(r.body)")
            #expect(try await w.call(.POST, "/api/runs/ship/resume", token: w.read, body: "{}").status == 403)
        }
    }

    /// A path served with other methods answers 405 with `Allow`; a path nobody serves, 404.
    @Test func aMethodAPathDoesNotServeIsNotAllowed() async throws {
        try await withWorld { w in
            for (method, path, allow) in [
                (HTTPMethod.DELETE, "/api/runs/ship", "GET"), (.PUT, "/api/runs", "GET, POST"),
                (.GET, "/api/runs/ship/cancel", "POST"), (.POST, "/health", "GET"),
            ] {
                let r = try await w.call(method, path, token: w.read)
                #expect(
                    r.status == 405 && r.json["code"] as? String == "method_not_allowed", "\(method) \(path): \(r.body)"
                )
                #expect(r.headers.first(name: "Allow") == allow, "\(method) \(path)")
            }
            let missing = try await w.call(.GET, "/api/nothing/here", token: w.read)
            #expect(missing.status == 404 && missing.json["code"] as? String == "not_found", "\(missing.body)")
        }
    }

    /// A run paused because its model failed is resumed through the API, as the token's
    /// principal, recorded in `run_resumed`.
    @Test func aResumeIsRecordedAsTheTokensPrincipal() async throws {
        try await withWorld(scenario: "tasks:\n  other:\n    - done: nothing\n") { w in
            let state = try await SQLiteEventStore(path: w.db).state(of: RunID("ship"))
            #expect(state.pauseKind == .model, "\(String(describing: state.pauseKind)) \(state.statusReason ?? "")")
            let operate = try await w.runtime.tokens().create(name: "op", principal: "carol", scopes: [.operate])
            let r = try await w.call(.POST, "/api/runs/ship/resume", token: operate.text, body: "{}")
            #expect(r.status == 202, "\(r.body)")
            _ = try? await w.runtime.outcome(of: RunID("ship"))
            let resumed = try await SQLiteEventStore(path: w.db).readAll(RunID("ship")).compactMap { e -> String? in
                if case let .runResumed(by, _) = e.event { return by }
                return nil
            }
            #expect(resumed.last?.hasPrefix("nightshift serve for carol (token ") == true, "\(resumed)")
        }
    }
}

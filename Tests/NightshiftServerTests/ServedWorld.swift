import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NightshiftConfig
import NightshiftCore
import NightshiftSQLite
import NightshiftServer
import NightshiftTesting
import ServiceLifecycle
import Testing

@testable import NightshiftRuntime

/// The scripted model's default turns (a test double): one shell call the policy asks about.
let defaultScenario = """
    planner:
      - plan: {title: ship it, tasks: [{id: ship, description: ship, checks: [test -f release.log]}]}
      - plan: {title: ship it, tasks: [{id: ship, description: ship, checks: [test -f release.log]}]}
      - plan: {title: ship it, tasks: [{id: ship, description: ship, checks: [test -f release.log]}]}
    tasks:
      ship:
        - tools: [{shell: {command: "echo shipped >> release.log"}}]
        - done: shipped
    """

struct Reply {
    var status: Int
    var contentType: String
    var body: String
    var location: String? = nil
    var setCookie: String? = nil
    var headers: HTTPHeaders = [:]
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
    }
}

/// A database with run `ship` paused: its shell call waits for approval (the policy asks, and
/// names `approvers`), and tokens for alice (read; approve) and bob (approve).
final class World: Sendable {
    let root: String
    let db: String
    let runtime: Runtime
    let port: Int
    let client: HTTPClient
    let read: String
    let approve: String
    let outsider: String

    init(root: String, db: String, runtime: Runtime, port: Int, tokens: (String, String, String)) {
        self.root = root
        self.db = db
        self.runtime = runtime
        self.port = port
        // Redirects are the tests' to see, not the client's to follow.
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        (read, approve, outsider) = tokens
    }

    func call(
        _ method: HTTPMethod, _ path: String, token: String? = nil, body: String? = nil,
        contentType: String? = "application/json", headers: [(String, String)] = []
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
            request.body = .bytes(ByteBuffer(string: body))
        }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 22)
        return Reply(
            status: Int(response.status.code), contentType: response.headers.first(name: "Content-Type") ?? "",
            body: String(buffer: bytes), location: response.headers.first(name: "Location"),
            setCookie: response.headers.first(name: "Set-Cookie"), headers: response.headers)
    }

    /// The run's log length: a refused request must not change it.
    func events() async throws -> Int {
        try await SQLiteEventStore(path: db).readAll(RunID("ship")).count
    }
}

let policy = """
    default: allow
    approvers: [alice]
    rules:
      - ask: shell
        reason: releases need a person
    """

/// Runs `body` with a runtime and the server serving, and run `ship` paused for approval.
/// - Parameter scenario: the scripted model's turns (a test double); its last shell call is the one the policy asks about.
/// - Parameter webhooks: the user's webhooks the server serves (their workspace: the world's).
/// - Parameter memory: whether run `ship` keeps memories (may propose them with `remember`).
/// - Parameter git: whether the workspace is a git repository (the run works in a worktree of it).
func withWorld(
    scenario: String = defaultScenario, webhooks: [WebhookEntry] = [], memory: Bool = false, git: Bool = false,
    _ body: (World) async throws -> Void
) async throws {
    let root = tempDir("ns-api")
    let ws = root + "/ws"
    try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
    if git { try makeRepository(ws) }
    try scenario.write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
    var request = StartRequest(
        source: .plan(
            Plan(
                title: "ship it",
                tasks: [
                    PlanTask(
                        id: TaskID("ship"), description: "ship", checks: [Check(command: "test -f release.log")])
                ])), workspace: ws)
    request.id = RunID("ship")
    request.models.model = "scripted:\(root)/scenario.yaml"
    request.sandbox.unsandboxed = true
    request.memory = memory
    request.store = StoreConfig(db: root + "/ns.db")
    request.policy = PinnedFile(
        source: root + "/policy.yaml", sha256: PolicyWatcher.sha256(policy), text: policy)
    let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
    let runtime = Runtime(.init(store: request.store, createsDatabase: true), logger: logger)
    let (ports, listening) = AsyncStream<Int>.makeStream()
    // Runs started through the API or a webhook: as the test's own run is (the scripted model, no
    // sandbox, the policy), in the template's workspace.
    let pinnedPolicy = request.policy
    let model = request.models.model
    let starts = RunStarts(
        workspace: ws,
        make: { template, source in
            var r = StartRequest(source: source, workspace: template.workspace)
            if case .goal = source { r.reviewPlan = template.reviewPlan ?? false }
            r.models.model = model
            r.sandbox.unsandboxed = true
            r.memory = false
            r.policy = pinnedPolicy
            return r
        },
        resume: { run in
            var r = ResumeRequest(run: run, by: "the test")
            r.models.model = model
            r.sandbox.unsandboxed = true
            return r
        })
    let server = APIServer(
        runtime: runtime, configuration: .init(port: 0, auditKeyFile: root + "/audit.key"), starts: starts,
        webhooks: try Webhooks(webhooks, workspace: ws), logger: logger)
    let http = try server.service { listening.yield($0) }
    try await runtime.serving(with: [http]) { runtime in
        let id = try await runtime.create(request, observer: RunObserver())
        let outcome = try await runtime.outcome(of: id)
        guard case .paused = outcome.reason else { throw TestFailure("the run did not pause: \(outcome.reason)") }
        let tokens = try runtime.tokens()
        let read = try await tokens.create(name: "r", principal: "alice", scopes: [.read]).text
        let approve = try await tokens.create(name: "a", principal: "alice", scopes: [.approve]).text
        let outsider = try await tokens.create(name: "b", principal: "bob", scopes: [.approve]).text
        var it = ports.makeAsyncIterator()
        guard let port = await it.next() else { throw TestFailure("the server never listened") }
        let world = World(
            root: root, db: request.store.db, runtime: runtime, port: port, tokens: (read, approve, outsider))
        do {
            try await body(world)
        } catch {
            try? await world.client.shutdown()
            throw error
        }
        try await world.client.shutdown()
    }
}

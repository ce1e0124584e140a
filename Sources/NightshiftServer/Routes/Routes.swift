import Foundation
import HTTPTypes
import Hummingbird
import NightshiftCore
import NightshiftRuntime

/// The API's routes. Each one checks the token's scope, parses, calls the runtime, answers.
enum Routes {
    /// What needs no token: whether the server is up.
    static func open(_ router: Router<APIContext>) {
        router.get("health") { _, _ in try json(["ok": true]) }
    }

    /// Runs: the list, one run, its events (a page, or a live stream), cancelling one.
    static func runs(_ api: RouterGroup<APIContext>, runtime: Runtime) {
        api.get("runs") { request, context in
            _ = try context.require(.read)
            let query = request.uri.queryParameters
            let limit = try integer(query.get("limit"), "limit", in: 1...1000) ?? 100
            let offset = try integer(query.get("offset"), "offset", in: 0...Int.max) ?? 0
            var status: RunStatus?
            if let wanted = query.get("status") {
                guard let known = RunStatus(rawValue: String(wanted)) else {
                    throw Problem(
                        .badRequest, code: "invalid_query",
                        "status must be one of running, paused, finished, failed")
                }
                status = known
            }
            let (page, total) = try await runtime.runs(status: status, limit: limit, offset: offset)
            let next = offset + page.count < total ? offset + page.count : nil
            return try json(RunListBody(runs: page.map(RunSummaryBody.init), nextOffset: next))
        }
        api.get("runs/:run") { _, context in
            _ = try context.require(.read)
            return try json(RunBody(try await runtime.status(of: try run(context))))
        }
        api.get("runs/:run/events") { request, context in
            let token = try context.require(.read)
            let run = try run(context)
            let query = request.uri.queryParameters
            var after = try integer(query.get("after"), "after", in: 0...Int.max).map(Int64.init) ?? 0
            if let last = request.headers[lastEventID], let seq = Int64(last), seq >= 0 { after = seq }
            if request.headers[.accept]?.contains("text/event-stream") == true {
                let (tokens, id) = (try runtime.tokens(), token.id)
                return try await EventStream.response(try await runtime.live(of: run, after: after)) {
                    if case .success = try? await tokens.current(id: id) { return true }
                    return false
                }
            }
            let limit = try integer(query.get("limit"), "limit", in: 1...5000) ?? 500
            var lines: [String] = []
            for try await e in try await runtime.events(of: run, after: after, follow: false).events {
                lines.append(JSONLine.render(e))
                if lines.count == limit { break }
            }
            return raw("{\"events\":[" + lines.joined(separator: ",") + "]}")
        }
        api.post("runs/:run/cancel") { request, context in
            let token = try context.require(.operate)
            let body = try await decode(ReasonRequest.self, request, context)
            let state = try await runtime.cancel(try run(context), reason: body.reason, by: token.principal)
            return try json(
                DecidedBody(
                    run: state.run.rawValue, status: state.status.rawValue, events: state.lastSeq,
                    decidedBy: token.principal))
        }
    }

    /// What waits for a person, and the decisions: approve, deny, answer.
    static func decisions(_ api: RouterGroup<APIContext>, runtime: Runtime) {
        api.get("inbox") { _, context in
            _ = try context.require(.read)
            return try json(InboxBody(items: try await runtime.inbox().map(InboxItemBody.init)))
        }
        api.post("runs/:run/calls/:call/approve") { request, context in
            let token = try context.require(.approve)
            let body = try await decode(ApproveRequest.self, request, context)
            let call = try parameter("call", context)
            let state = try await runtime.decisions(by: token.principal).approve(
                try run(context), call: call, note: body.note ?? "",
                seen: call == "plan" ? body.planVersion.map(String.init) : body.argumentsSHA256)
            return try decided(state, by: token)
        }
        api.post("runs/:run/calls/:call/deny") { request, context in
            let token = try context.require(.approve)
            let body = try await decode(ReasonRequest.self, request, context)
            let call = try parameter("call", context)
            let state = try await runtime.decisions(by: token.principal).deny(
                try run(context), call: call, reason: body.reason,
                seen: call == "plan" ? body.planVersion.map(String.init) : body.argumentsSHA256)
            return try decided(state, by: token)
        }
        api.post("runs/:run/budget") { request, context in
            let token = try context.require(.approve)
            let body = try await decode(BudgetRequest.self, request, context)
            let scope: BudgetScope
            switch body.scope ?? "run" {
            case "run": scope = .run
            case "task": scope = .task
            default: throw Problem(.badRequest, code: "invalid_body", "scope must be run or task")
            }
            let change = try Decisions.budgetChange(
                cost: body.costUSD, tokens: body.tokens, toolCalls: body.toolCalls, steps: body.steps,
                wallMinutes: body.wallMinutes)
            let state = try await runtime.decisions(by: token.principal).setBudget(
                try run(context), scope: scope, change: change)
            return try decided(state, by: token)
        }
        api.post("runs/:run/answer") { request, context in
            let token = try context.require(.approve)
            let body = try await decode(AnswerRequest.self, request, context)
            let state = try await runtime.decisions(by: token.principal).answer(try run(context), text: body.text)
            return try decided(state, by: token)
        }
    }

    // MARK: - Parsing and answering

    /// The header an `EventSource` sends when it reconnects.
    static let lastEventID = HTTPField.Name("Last-Event-ID")!

    /// The run a path names (its id percent-decoded: ids may hold any letter).
    static func run(_ context: APIContext) throws -> RunID { RunID(try parameter("run", context)) }

    static func parameter(_ name: String, _ context: APIContext) throws -> String {
        let raw = try context.parameters.require(name)
        return raw.removingPercentEncoding ?? raw
    }

    /// An id as one segment of a path.
    static func segment(_ id: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return id.addingPercentEncoding(withAllowedCharacters: allowed) ?? id
    }

    static func integer(_ text: String?, _ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let text else { return nil }
        guard let n = Int(text), range.contains(n) else {
            throw Problem(
                .badRequest, code: "invalid_query",
                "\(name) must be a whole number \(range.lowerBound)…\(range.upperBound == Int.max ? "" : "\(range.upperBound)")"
            )
        }
        return n
    }

    /// The request's JSON body as `T`: `application/json`, at most ``APIServer/maxBodyBytes``.
    static func decode<T: Decodable>(_: T.Type, _ request: Request, _ context: APIContext) async throws -> T {
        guard let type = request.headers[.contentType], type.lowercased().hasPrefix("application/json") else {
            throw Problem(.unsupportedMediaType, code: "unsupported_media_type", "send the body as application/json")
        }
        switch ArgumentDecoding.decode(T.self, from: try await body(request)) {
        case let .success(value): return value
        case let .failure(problem): throw Problem(.badRequest, code: "invalid_body", "the body: \(problem)")
        }
    }

    /// `text` (a body already read) as `T`, after the same content-type check as ``decode(_:_:_:)``.
    static func decode<T: Decodable>(_: T.Type, text: String, _ request: Request) throws -> T {
        guard let type = request.headers[.contentType], type.lowercased().hasPrefix("application/json") else {
            throw Problem(.unsupportedMediaType, code: "unsupported_media_type", "send the body as application/json")
        }
        switch ArgumentDecoding.decode(T.self, from: text) {
        case let .success(value): return value
        case let .failure(problem): throw Problem(.badRequest, code: "invalid_body", "the body: \(problem)")
        }
    }

    /// The request's body as text, at most ``APIServer/maxBodyBytes``.
    static func body(_ request: Request) async throws -> String {
        var request = request
        do { return String(buffer: try await request.collectBody(upTo: APIServer.maxBodyBytes)) } catch {
            throw Problem(
                .contentTooLarge, code: "body_too_large", "the body is larger than \(APIServer.maxBodyBytes) bytes")
        }
    }

    static func decided(_ state: RunState, by token: APIToken) throws -> Response {
        try json(
            DecidedBody(
                run: state.run.rawValue, status: state.status.rawValue, events: state.lastSeq,
                decidedBy: token.principal))
    }

    static func json(_ value: some Encodable) throws -> Response {
        raw(String(decoding: try JSONEncoder.sorted.encode(value), as: UTF8.self))
    }

    /// A JSON answer. Control characters and bidirectional overrides in it (the agent's text) are
    /// written as `\\uXXXX` escapes, which a JSON parser reads back as the same characters.
    static func raw(_ text: String) -> Response {
        let text = VisibleText.safe(text)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}

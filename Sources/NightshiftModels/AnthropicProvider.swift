public import Foundation
public import NightshiftCore

/// Anthropic Messages: a system prompt and tool definitions marked for prompt caching (the
/// stable prefix), `tool_use` / `tool_result` blocks, and the typed streaming events.
public struct AnthropicProvider: ModelProvider {
    public let model: String
    public let baseURL: String
    let key: Secret?
    let keyHint: String
    let http: ModelHTTPClient
    let pricing: PricingTable
    /// Output tokens allowed per response. Defaults to 8,192.
    public let maxTokens: Int
    public let label: String
    public static let apiVersion = "2023-06-01"

    public init(
        model: String, baseURL: String, key: Secret?, keyHint: String = "ANTHROPIC_API_KEY", label: String,
        http: ModelHTTPClient, pricing: PricingTable = .defaults, maxTokens: Int = 8192
    ) {
        self.model = model
        self.baseURL = baseURL
        self.key = key
        self.keyHint = keyHint
        self.label = label
        self.http = http
        self.pricing = pricing
        self.maxTokens = maxTokens
    }

    public func respond(to request: ModelRequest) async throws -> ModelResponse {
        try await respond(to: request, onRetry: { _ in })
    }

    public func respond(
        to request: ModelRequest, onRetry: @escaping @Sendable (ModelRetry) async -> Void
    ) async throws -> ModelResponse {
        var headers = [
            ("content-type", "application/json"), ("accept", "text/event-stream"),
            ("anthropic-version", Self.apiVersion),
        ]
        if let key { headers.append(("x-api-key", key.value)) }
        var call = HTTPCall(
            url: baseURL + "/v1/messages", headers: headers,
            body: try Self.body(request, model: model, maxTokens: maxTokens))
        call.repeatedServerErrorIsFinal = !ModelSpec.isHosted(baseURL, ModelSpec.anthropicBaseURL)
        let (text, proposed, usage, reported) = try await http.perform(
            call, as: AnthropicAccumulator.self, model: model, secret: key,
            keyHint: keyHint, onRetry: onRetry)
        let (done, summary, handoff, calls) = PromptRenderer.extractClaim(proposed)
        return ModelResponse(
            text: text, toolCalls: calls, claimsDone: done, summary: summary, usage: usage, model: reported,
            costPicoUSD: pricing.cost(usage, model: reported), handoff: handoff)
    }

    /// Tool-use ids must match `[a-zA-Z0-9_-]+`: call ids like `m3.1` are sent as `m3_1`.
    static func wireID(_ id: CallID) -> String { id.rawValue.replacingOccurrences(of: ".", with: "_") }

    /// - Throws: ``ModelError`` `tooLarge` when the request cannot fit the model's window.
    public static func body(_ request: ModelRequest, model: String, maxTokens: Int) throws(ModelError) -> Data {
        let (p, fittedOutput) = try PromptRenderer.render(request).fitted(request.limits)
        // The request's own cap (its role's, fitted to the window), else the provider's.
        let maxTokens = fittedOutput ?? maxTokens
        var messages: [(role: String, blocks: [JSONValue])] = []
        func add(_ role: String, _ block: JSONValue) {
            // Consecutive blocks of one role go into one message: the API wants user and assistant to alternate.
            if messages.last?.role == role {
                messages[messages.count - 1].blocks.append(block)
            } else {
                messages.append((role, [block]))
            }
        }
        add("user", .object([("type", "text"), ("text", .string(p.taskBlock))]))
        for turn in p.turns {
            switch turn {
            case let .assistant(text, calls):
                if !text.isEmpty { add("assistant", .object([("type", "text"), ("text", .string(text))])) }
                for c in calls {
                    // tool_use input must be an object: arguments that are not one are shown, never sent as broken JSON.
                    let input = PromptRenderer.replayedArguments(c)
                    add(
                        "assistant",
                        .object([
                            ("type", "tool_use"), ("id", .string(wireID(c.id))), ("name", .string(c.name)),
                            ("input", input),
                        ]))
                }
                if text.isEmpty && calls.isEmpty {
                    add("assistant", .object([("type", "text"), ("text", "(no reply)")]))
                }
            case let .toolResult(call, _, ok, output):
                add(
                    "user",
                    .object([
                        ("type", "tool_result"), ("tool_use_id", .string(wireID(call))), ("content", .string(output)),
                        ("is_error", .bool(!ok)),
                    ]))
            case let .user(text):
                add("user", .object([("type", "text"), ("text", .string(text))]))
            }
        }
        var tools: [JSONValue] = []
        for (n, t) in p.tools.enumerated() {
            var fields: [(String, JSONValue)] = [
                ("name", .string(t.name)), ("description", .string(t.description)),
                ("input_schema", PromptRenderer.schema(t.parametersSchema)),
            ]
            // Cache breakpoints on the stable prefix: tool definitions, then the system prompt.
            if n == p.tools.count - 1 { fields.append(("cache_control", .object([("type", "ephemeral")]))) }
            tools.append(.object(fields))
        }
        var head: [(String, JSONValue)] = [
            ("model", .string(model)), ("max_tokens", .int(maxTokens)), ("stream", true),
        ]
        if !tools.isEmpty { head.append(("tools", .array(tools))) }
        if let required = p.requiredTool {
            head.append(("tool_choice", .object([("type", "tool"), ("name", .string(required))])))
        }
        return Data(
            JSONValue.object(
                head + [
                    (
                        "messages",
                        .array(messages.map { .object([("role", .string($0.role)), ("content", .array($0.blocks))]) })
                    ),
                    (
                        "system",
                        .array([
                            .object([
                                ("type", "text"), ("text", .string(p.system)),
                                ("cache_control", .object([("type", "ephemeral")])),
                            ])
                        ])
                    ),
                ]
            ).bytes)
    }
}

/// `message_start` (input usage), `content_block_start/delta/stop` (text, or tool_use with
/// `input_json_delta` pieces), `message_delta` (stop reason, output usage), `message_stop`.
struct AnthropicAccumulator: ResponseAccumulator {
    struct Block {
        var type: String
        var text = ""
        var id = ""
        var name = ""
        var json = ""
    }
    var blocks: [Int: Block] = [:]
    var usage = TokenUsage()
    var sawUsage = false
    var model: String?
    var stopReason: String?
    var complete = false

    init() {}

    mutating func consume(_ event: SSEEvent) throws(AttemptError) {
        guard let json = (try? JSONSerialization.jsonObject(with: Data(event.data.utf8))) as? [String: Any] else {
            throw .retryable("a stream event was not JSON: \(event.data.prefix(120))", retryAfter: nil)
        }
        let type = json["type"] as? String ?? event.event ?? ""
        switch type {
        case "message_start":
            let message = json["message"] as? [String: Any] ?? [:]
            model = message["model"] as? String
            if let u = message["usage"] as? [String: Any] { take(u) }
        case "content_block_start":
            let index = json.int("index") ?? blocks.count
            let b = json["content_block"] as? [String: Any] ?? [:]
            var block = Block(type: b["type"] as? String ?? "text")
            block.text = b["text"] as? String ?? ""
            block.id = b["id"] as? String ?? ""
            block.name = b["name"] as? String ?? ""
            blocks[index] = block
        case "content_block_delta":
            let index = json.int("index") ?? 0
            let delta = json["delta"] as? [String: Any] ?? [:]
            var block = blocks[index] ?? Block(type: "text")
            if let t = delta["text"] as? String { block.text += t }
            if let j = delta["partial_json"] as? String { block.json += j }
            blocks[index] = block
        case "message_delta":
            if let d = json["delta"] as? [String: Any], let r = d["stop_reason"] as? String { stopReason = r }
            if let u = json["usage"] as? [String: Any] { take(u) }
        case "message_stop":
            complete = true
        case "error":
            let e = json["error"] as? [String: Any] ?? [:]
            let kind = e["type"] as? String ?? "error"
            let message = "\(kind): \(e["message"] as? String ?? "")"
            if ["overloaded_error", "api_error", "rate_limit_error", "timeout_error"].contains(kind) {
                throw .retryable("the provider reported \(message) mid-stream", retryAfter: nil)
            }
            throw .fatal(
                ModelError(
                    "the provider reported \(message)", code: .rejected,
                    needsAttention: kind == "authentication_error" || kind == "permission_error"))
        default:
            break  // ping, content_block_stop, unknown future events
        }
    }

    /// Anthropic reports uncached input, cache reads and cache writes separately; Nightshift's
    /// `input` is their sum, with the cached parts also shown on their own.
    private mutating func take(_ u: [String: Any]) {
        sawUsage = true
        if let plain = u.int("input_tokens") {
            let read = u.int("cache_read_input_tokens") ?? 0, write = u.int("cache_creation_input_tokens") ?? 0
            usage.input = plain + read + write
            usage.cachedInput = read
            usage.cacheWriteInput = u["cache_creation_input_tokens"] == nil ? usage.cacheWriteInput : write
        }
        if let out = u.int("output_tokens") { usage.output = out }
    }

    mutating func consumeWhole(_ json: [String: Any]) throws(AttemptError) {
        guard json["type"] as? String == "message" || json["content"] != nil else {
            throw .retryable("the response is not a message", retryAfter: nil)
        }
        model = json["model"] as? String
        stopReason = json["stop_reason"] as? String
        if let u = json["usage"] as? [String: Any] { take(u) }
        for (n, b) in (json["content"] as? [[String: Any]] ?? []).enumerated() {
            var block = Block(type: b["type"] as? String ?? "text")
            block.text = b["text"] as? String ?? ""
            block.id = b["id"] as? String ?? ""
            block.name = b["name"] as? String ?? ""
            if let input = b["input"] { block.json = String(decoding: jsonData(input), as: UTF8.self) }
            blocks[n] = block
        }
        complete = true
    }

    func response(
        configuredModel: String
    ) throws(AttemptError) -> (text: String, calls: [ProposedToolCall], usage: TokenUsage, model: String) {
        var text = ""
        var calls: [ProposedToolCall] = []
        for i in blocks.keys.sorted() {
            let b = blocks[i]!
            switch b.type {
            case "text": text += b.text
            case "tool_use": calls.append(ProposedToolCall(name: b.name, arguments: b.json.isEmpty ? "{}" : b.json))
            default: break
            }
        }
        // A tool call cut off by the token limit has incomplete arguments: it is passed on as it is,
        // and the harness never runs it (arguments that are not a JSON object are a failed call the
        // model is told about), as for every provider.
        return (text, calls, usage, model ?? configuredModel)
    }
}

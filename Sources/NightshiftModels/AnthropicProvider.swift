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

    public init(model: String, baseURL: String, key: Secret?, keyHint: String = "ANTHROPIC_API_KEY", label: String,
                http: ModelHTTPClient, pricing: PricingTable = .defaults, maxTokens: Int = 8192) {
        self.model = model; self.baseURL = baseURL; self.key = key; self.keyHint = keyHint; self.label = label
        self.http = http; self.pricing = pricing; self.maxTokens = maxTokens
    }

    public func respond(to request: ModelRequest) async throws -> ModelResponse {
        try await respond(to: request, onRetry: { _ in })
    }

    public func respond(to request: ModelRequest, onRetry: @escaping @Sendable (ModelRetry) async -> Void) async throws -> ModelResponse {
        var headers = [("content-type", "application/json"), ("accept", "text/event-stream"), ("anthropic-version", Self.apiVersion)]
        if let key { headers.append(("x-api-key", key.value)) }
        let call = HTTPCall(url: baseURL + "/v1/messages", headers: headers, body: Self.body(request, model: model, maxTokens: maxTokens))
        let (text, proposed, usage, reported) = try await http.perform(call, as: AnthropicAccumulator.self, model: model, secret: key,
                                                                       keyHint: keyHint, onRetry: onRetry)
        let (done, summary, calls) = PromptRenderer.extractDone(proposed)
        return ModelResponse(text: text, toolCalls: calls, claimsDone: done, summary: summary, usage: usage, model: reported,
                             costPicoUSD: pricing.cost(usage, model: reported))
    }

    /// Tool-use ids must match `[a-zA-Z0-9_-]+`: call ids like `m3.1` are sent as `m3_1`.
    static func wireID(_ id: CallID) -> String { id.rawValue.replacingOccurrences(of: ".", with: "_") }

    public static func body(_ request: ModelRequest, model: String, maxTokens: Int) -> Data {
        let p = PromptRenderer.render(request)
        var messages: [[String: Any]] = []
        func add(_ role: String, _ block: [String: Any]) {
            // Consecutive blocks of one role go into one message: the API wants user and assistant to alternate.
            if var last = messages.last, last["role"] as? String == role {
                last["content"] = (last["content"] as? [[String: Any]] ?? []) + [block]
                messages[messages.count - 1] = last
            } else {
                messages.append(["role": role, "content": [block]])
            }
        }
        add("user", ["type": "text", "text": p.taskBlock])
        for turn in p.turns {
            switch turn {
            case let .assistant(text, calls):
                if !text.isEmpty { add("assistant", ["type": "text", "text": text]) }
                for c in calls {
                    let input = (try? JSONSerialization.jsonObject(with: Data(c.arguments.text.utf8))) as? [String: Any]
                        ?? ["_unparsed_arguments": c.arguments.text]
                    add("assistant", ["type": "tool_use", "id": wireID(c.id), "name": c.name, "input": input])
                }
                if text.isEmpty && calls.isEmpty { add("assistant", ["type": "text", "text": "(no reply)"]) }
            case let .toolResult(call, _, ok, output):
                add("user", ["type": "tool_result", "tool_use_id": wireID(call), "content": output, "is_error": !ok])
            case let .user(text):
                add("user", ["type": "text", "text": text])
            }
        }
        var tools: [[String: Any]] = p.tools.map {
            ["name": $0.name, "description": $0.description, "input_schema": PromptRenderer.schemaObject($0.parametersSchema)]
        }
        // Cache breakpoints on the stable prefix: tool definitions, then the system prompt.
        if !tools.isEmpty { tools[tools.count - 1]["cache_control"] = ["type": "ephemeral"] }
        return jsonData([
            "model": model, "max_tokens": maxTokens, "stream": true, "tools": tools, "messages": messages,
            "system": [["type": "text", "text": p.system, "cache_control": ["type": "ephemeral"]]],
        ] as [String: Any])
    }
}

/// `message_start` (input usage), `content_block_start/delta/stop` (text, or tool_use with
/// `input_json_delta` pieces), `message_delta` (stop reason, output usage), `message_stop`.
struct AnthropicAccumulator: ResponseAccumulator {
    struct Block { var type: String; var text = ""; var id = ""; var name = ""; var json = "" }
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
            throw .fatal(ModelError("the provider reported \(message)", needsAttention: kind == "authentication_error" || kind == "permission_error"))
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

    func response(configuredModel: String) throws(AttemptError) -> (text: String, calls: [ProposedToolCall], usage: TokenUsage, model: String) {
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
        if stopReason == "max_tokens" && !calls.isEmpty {
            // A tool call cut off by the token limit has incomplete arguments: never run it.
            throw .fatal(ModelError("the response hit max_tokens in the middle of a tool call: raise the model's output limit", needsAttention: true))
        }
        return (text, calls, usage, model ?? configuredModel)
    }
}

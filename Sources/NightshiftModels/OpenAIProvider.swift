public import Foundation
public import NightshiftCore

/// OpenAI Chat Completions, and every server that speaks it (Ollama, vLLM, llama.cpp's server,
/// LiteLLM, OpenRouter): messages, tools, parallel tool calls, streaming with usage.
public struct OpenAIProvider: ModelProvider {
    public let model: String
    public let baseURL: String
    let key: Secret?
    let keyHint: String
    let http: ModelHTTPClient
    let pricing: PricingTable
    public let label: String

    public init(
        model: String, baseURL: String, key: Secret?, keyHint: String = "OPENAI_API_KEY", label: String,
        http: ModelHTTPClient, pricing: PricingTable = .defaults
    ) {
        self.model = model
        self.baseURL = baseURL
        self.key = key
        self.keyHint = keyHint
        self.label = label
        self.http = http
        self.pricing = pricing
    }

    public func respond(to request: ModelRequest) async throws -> ModelResponse {
        try await respond(to: request, onRetry: { _ in })
    }

    public func respond(
        to request: ModelRequest, onRetry: @escaping @Sendable (ModelRetry) async -> Void
    ) async throws -> ModelResponse {
        var headers = [("content-type", "application/json"), ("accept", "text/event-stream")]
        if let key { headers.append(("authorization", "Bearer \(key.value)")) }
        let official = ModelSpec.isHosted(baseURL, ModelSpec.openAIBaseURL)
        var call = HTTPCall(
            url: baseURL + "/chat/completions", headers: headers,
            body: try Self.body(request, model: model, official: official))
        call.repeatedServerErrorIsFinal = !official
        let (text, proposed, usage, reported) = try await http.perform(
            call, as: OpenAIAccumulator.self, model: model, secret: key,
            keyHint: keyHint, onRetry: onRetry)
        let (done, summary, handoff, calls) = PromptRenderer.extractClaim(proposed)
        return ModelResponse(
            text: text, toolCalls: calls, claimsDone: done, summary: summary, usage: usage, model: reported,
            costPicoUSD: pricing.cost(usage, model: reported), handoff: handoff)
    }

    /// The request body: rendered from the request alone, so it is golden-testable. `official`:
    /// api.openai.com, which takes `max_completion_tokens` and a tool choice by name; the servers
    /// people run themselves take `max_tokens`, and some (llama.cpp) treat a named tool choice as
    /// "auto", so they get "required" (the role then has that one tool: the same demand).
    /// - Throws: ``ModelError`` `tooLarge` when the request cannot fit the model's window.
    public static func body(_ request: ModelRequest, model: String, official: Bool = false) throws(ModelError) -> Data {
        let (p, maxOutput) = try PromptRenderer.render(request).fitted(request.limits)
        var messages: [JSONValue] = [
            .object([("role", "system"), ("content", .string(p.system))]),
            .object([("role", "user"), ("content", .string(p.taskBlock))]),
        ]
        for turn in p.turns {
            switch turn {
            case let .assistant(text, calls):
                var m: [(String, JSONValue)] = [
                    ("role", "assistant"), ("content", text.isEmpty ? .null : .string(text)),
                ]
                if !calls.isEmpty {
                    m.append(
                        (
                            "tool_calls",
                            .array(
                                calls.map {
                                    .object([
                                        ("id", .string($0.id.rawValue)), ("type", "function"),
                                        (
                                            "function",
                                            .object([
                                                ("name", .string($0.name)),
                                                (
                                                    "arguments",
                                                    .string(
                                                        String(
                                                            decoding: PromptRenderer.replayedArguments($0).bytes,
                                                            as: UTF8.self))
                                                ),
                                            ])
                                        ),
                                    ])
                                })
                        ))
                }
                messages.append(.object(m))
            case let .toolResult(call, _, ok, output):
                messages.append(
                    .object([
                        ("role", "tool"), ("tool_call_id", .string(call.rawValue)),
                        ("content", .string(ok ? output : "ERROR: \(output)")),
                    ]))
            case let .user(text):
                messages.append(.object([("role", "user"), ("content", .string(text))]))
            }
        }
        let tools: [JSONValue] = p.tools.map {
            .object([
                ("type", "function"),
                (
                    "function",
                    .object([
                        ("name", .string($0.name)), ("description", .string($0.description)),
                        ("parameters", PromptRenderer.schema($0.parametersSchema)),
                    ])
                ),
            ])
        }
        var fields: [(String, JSONValue)] = [("model", .string(model)), ("messages", .array(messages))]
        // Hosted OpenAI gets a cap a person set, or one fitting had to lower; Nightshift's default
        // is left to the model there (see ``RequestLimits/configured``).
        if let maxOutput, let limits = request.limits,
            !official || limits.configured || maxOutput < limits.maxOutput
        {
            fields.append((official ? "max_completion_tokens" : "max_tokens", .int(maxOutput)))
        }
        // No tools (a summary): the keys are left out, since an empty list is refused.
        if !tools.isEmpty {
            let choice: JSONValue =
                p.requiredTool.map {
                    official
                        ? .object([("type", "function"), ("function", .object([("name", .string($0))]))]) : "required"
                }
                ?? "auto"
            fields += [
                ("tools", .array(tools)), ("tool_choice", choice),
                ("parallel_tool_calls", .bool(p.requiredTool == nil)),
            ]
        }
        fields += [("stream", true), ("stream_options", .object([("include_usage", true)]))]
        return Data(JSONValue.object(fields).bytes)
    }
}

/// Chat-completion chunks: `data: {…}` lines, tool-call arguments split across chunks by index,
/// usage in a last chunk with no choices, then `data: [DONE]`.
struct OpenAIAccumulator: ResponseAccumulator {
    var text = ""
    var calls: [Int: (id: String, name: String, arguments: String)] = [:]
    var usage: TokenUsage?
    var model: String?
    var finishReason: String?
    var complete = false

    init() {}

    mutating func consume(_ event: SSEEvent) throws(AttemptError) {
        if event.data == "[DONE]" {
            complete = true
            return
        }
        guard let json = (try? JSONSerialization.jsonObject(with: Data(event.data.utf8))) as? [String: Any] else {
            throw .retryable("a stream chunk was not JSON: \(event.data.prefix(120))", retryAfter: nil)
        }
        if let error = json["error"] as? [String: Any] {
            throw .retryable(
                "the provider reported an error mid-stream: \(error["message"] as? String ?? "unknown")",
                retryAfter: nil)
        }
        if let m = json["model"] as? String { model = m }
        if let u = json["usage"] as? [String: Any] { usage = Self.usage(u) }
        for choice in json["choices"] as? [[String: Any]] ?? [] {
            if let f = choice["finish_reason"] as? String { finishReason = f }
            guard let delta = choice["delta"] as? [String: Any] else { continue }
            if let c = delta["content"] as? String { text += c }
            for tc in delta["tool_calls"] as? [[String: Any]] ?? [] {
                let index = tc.int("index") ?? calls.count
                var entry = calls[index] ?? (id: "", name: "", arguments: "")
                if let id = tc["id"] as? String { entry.id = id }
                if let f = tc["function"] as? [String: Any] {
                    if let n = f["name"] as? String { entry.name += n }
                    if let a = f["arguments"] as? String { entry.arguments += a }
                }
                calls[index] = entry
            }
        }
    }

    mutating func consumeWhole(_ json: [String: Any]) throws(AttemptError) {
        guard let choice = (json["choices"] as? [[String: Any]])?.first,
            let message = choice["message"] as? [String: Any]
        else {
            throw .retryable("the response has no choices", retryAfter: nil)
        }
        model = json["model"] as? String
        if let u = json["usage"] as? [String: Any] { usage = Self.usage(u) }
        text = message["content"] as? String ?? ""
        for (n, tc) in (message["tool_calls"] as? [[String: Any]] ?? []).enumerated() {
            let f = tc["function"] as? [String: Any] ?? [:]
            calls[n] = (
                id: tc["id"] as? String ?? "", name: f["name"] as? String ?? "",
                arguments: f["arguments"] as? String ?? ""
            )
        }
        finishReason = choice["finish_reason"] as? String
        complete = true
    }

    static func usage(_ u: [String: Any]) -> TokenUsage {
        let cached = (u["prompt_tokens_details"] as? [String: Any])?.int("cached_tokens") ?? 0
        return TokenUsage(
            input: u.int("prompt_tokens") ?? 0, output: u.int("completion_tokens") ?? 0, cachedInput: cached)
    }

    func response(
        configuredModel: String
    ) throws(AttemptError) -> (text: String, calls: [ProposedToolCall], usage: TokenUsage, model: String) {
        let proposed = calls.keys.sorted().compactMap { i -> ProposedToolCall? in
            let c = calls[i]!
            return c.name.isEmpty
                ? nil : ProposedToolCall(name: c.name, arguments: c.arguments.isEmpty ? "{}" : c.arguments)
        }
        // Usage the server did not report is recorded as zero tokens: the ledger is exact for what was reported.
        return (text, proposed, usage ?? TokenUsage(), model ?? configuredModel)
    }
}

import Foundation
import NightshiftCore
import NightshiftModels
import NightshiftTesting
import Testing

/// Both providers against a local server replaying bodies and streams written from the
/// providers' API references: success shapes, error shapes, and broken transports.
@Suite(.serialized) struct ProviderTests {
    static let keyText = "sk-test-canary-9f8e7d6c"
    static let key = Secret(keyText)

    func openAI(_ server: ReplayServer, http: ModelHTTPClient) -> OpenAIProvider {
        OpenAIProvider(
            model: "gpt-4o", baseURL: server.baseURL + "/v1", key: Self.key, label: "openai-compatible", http: http)
    }

    func anthropic(_ server: ReplayServer, http: ModelHTTPClient) -> AnthropicProvider {
        AnthropicProvider(
            model: "claude-sonnet-4-5", baseURL: server.baseURL, key: Self.key, label: "anthropic-compatible",
            http: http)
    }

    @Test func openAIStreamsTextAndParallelToolCallsWithUsageAndCost() async throws {
        let server = try ReplayServer([.sse(openAIToolStream)])
        defer { server.stop() }
        let response = try await withHTTP { try await openAI(server, http: $0).respond(to: simpleRequest) }
        #expect(response.text == "Reading both files.")
        #expect(
            response.toolCalls == [
                ProposedToolCall(name: "read_file", arguments: #"{"path":"a.txt"}"#),
                ProposedToolCall(name: "read_file", arguments: #"{"path":"b.txt"}"#),
            ])
        #expect(response.usage == TokenUsage(input: 1200, output: 45, cachedInput: 1024))
        #expect(response.model == "gpt-4o-2024-08-06")
        // gpt-4o: $2.50/M input, $1.25/M cached, $10/M output → 176×2.5 + 1024×1.25 + 45×10 micro-dollars.
        let expected: Int64 = 176 * 2_500_000 + 1024 * 1_250_000 + 45 * 10_000_000
        #expect(response.costPicoUSD == expected)
        let sent = try #require(server.requests.first)
        #expect(sent.method == "POST" && sent.path == "/v1/chat/completions")
        #expect(sent.headers["authorization"] == "Bearer \(Self.keyText)")
        let body = try #require(try JSONSerialization.jsonObject(with: Data(sent.body.utf8)) as? [String: Any])
        #expect(body["model"] as? String == "gpt-4o")
        #expect(body["stream"] as? Bool == true)
        let tools = (body["tools"] as? [[String: Any]] ?? []).compactMap {
            ($0["function"] as? [String: Any])?["name"] as? String
        }
        #expect(tools == ["read_file", "task_done"])
    }

    @Test func taskDoneBecomesADoneClaimWithItsSummary() async throws {
        let server = try ReplayServer([
            .sse([
                openAIChunk(#"{"role":"assistant","content":"All good."}"#),
                openAIChunk(
                    #"{"tool_calls":[{"index":0,"id":"call_d","type":"function","function":{"name":"task_done","arguments":"{\"summary\":\"fixed add\"}"}}]}"#
                ),
                openAIChunk("{}", finish: "tool_calls"), "data: [DONE]\n\n",
            ])
        ])
        defer { server.stop() }
        let response = try await withHTTP { try await openAI(server, http: $0).respond(to: simpleRequest) }
        #expect(response.claimsDone)
        #expect(response.summary == "fixed add")
        #expect(response.toolCalls.isEmpty)
        #expect(response.usage == TokenUsage())  // this server reported no usage: zero, not invented
    }

    @Test func anthropicStreamsTextAndToolUseWithCacheUsage() async throws {
        let server = try ReplayServer([.sse(anthropicToolStream)])
        defer { server.stop() }
        let response = try await withHTTP { try await anthropic(server, http: $0).respond(to: simpleRequest) }
        #expect(response.text == "Let me look.")
        #expect(response.toolCalls == [ProposedToolCall(name: "read_file", arguments: #"{"path": "calc.py"}"#)])
        #expect(response.usage == TokenUsage(input: 3030, output: 64, cachedInput: 2000, cacheWriteInput: 1000))
        // claude-sonnet-4: $3 input, $0.30 cache read, $3.75 cache write, $15 output per million.
        // "claude-sonnet-4-5" is priced by the "claude-sonnet-4" prefix: $3 input, $0.30 cache read, $3.75 cache write, $15 output.
        let expected: Int64 = 30 * 3_000_000 + 2000 * 300_000 + 1000 * 3_750_000 + 64 * 15_000_000
        #expect(response.costPicoUSD == expected)
        let sent = try #require(server.requests.first)
        #expect(sent.path == "/v1/messages")
        #expect(sent.headers["x-api-key"] == Self.keyText)
        #expect(sent.headers["anthropic-version"] == "2023-06-01")
        #expect(sent.headers["authorization"] == nil)
    }

    @Test func anthropicCostIsExact() throws {
        let usage = TokenUsage(input: 3030, output: 64, cachedInput: 2000, cacheWriteInput: 1000)
        let expected: Int64 = 30 * 3_000_000 + 2000 * 300_000 + 1000 * 3_750_000 + 64 * 15_000_000
        #expect(PricingTable.defaults.cost(usage, model: "claude-sonnet-4-5") == expected)
        #expect(PricingTable.defaults.cost(usage, model: "my-local-llama") == nil)
    }

    @Test func rateLimitIsRetriedAfterTheDelayTheServerAsks() async throws {
        let server = try ReplayServer([
            .body(
                #"{"error":{"message":"Rate limit reached","type":"requests"}}"#, status: 429,
                headers: [("retry-after", "1")]),
            .sse(openAIToolStream),
        ])
        defer { server.stop() }
        let retries = Retries()
        let start = ContinuousClock.now
        let response = try await withHTTP { http in
            try await openAI(server, http: http).respond(to: simpleRequest) { await retries.add($0) }
        }
        #expect(ContinuousClock.now - start >= .milliseconds(950))
        #expect(response.toolCalls.count == 2)
        let recorded = await retries.items
        #expect(recorded.count == 1)
        #expect(recorded.first?.delayMs == 1000)
        #expect(recorded.first?.reason.contains("HTTP 429") == true)
        #expect(server.requests.count == 2)
    }

    @Test(arguments: ["500", "reset", "truncated", "idle"])
    func brokenAttemptsAreRetriedThenSucceed(fault: String) async throws {
        let first: ReplayServer.Reply
        switch fault {
        case "500": first = .body(#"{"error":{"message":"internal error"}}"#, status: 500)
        case "reset": first = .sse(openAIToolStream, resetAfter: 3)
        case "truncated": first = .sse(Array(openAIToolStream.dropLast(2)))  // ends cleanly, without [DONE]
        // silent longer than the idle timeout
        default: first = .sse(openAIToolStream, delayMs: 0).withDelay(at: 2, ms: 7000)
        }
        let server = try ReplayServer([first, .sse(openAIToolStream)])
        defer { server.stop() }
        let retries = Retries()
        let response = try await withHTTP { http in
            try await openAI(server, http: http).respond(to: simpleRequest) { await retries.add($0) }
        }
        #expect(response.toolCalls.count == 2, "\(fault)")
        #expect(await retries.items.count == 1, "\(fault)")
    }

    @Test func anthropicOverloadedErrorEventMidStreamIsRetried() async throws {
        let server = try ReplayServer([
            .sse(
                Array(anthropicToolStream.prefix(3)) + [
                    anthropicEvent(
                        "error", #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#)
                ]),
            .sse(anthropicToolStream),
        ])
        defer { server.stop() }
        let retries = Retries()
        let response = try await withHTTP { http in
            try await anthropic(server, http: http).respond(to: simpleRequest) { await retries.add($0) }
        }
        #expect(response.toolCalls.count == 1)
        #expect(await retries.items.first?.reason.contains("overloaded_error") == true)
    }

    @Test func htmlInsteadOfJSONIsRetriedThenReportedNeverParsed() async throws {
        let server = try ReplayServer([
            .body("<html><body>502 Bad Gateway</body></html>", status: 200, contentType: "text/html")
        ])
        defer { server.stop() }
        let error = await #expect(throws: ModelError.self) {
            try await withHTTP { try await openAI(server, http: $0).respond(to: simpleRequest) }
        }
        #expect(error?.message.contains("HTML") == true)
        #expect(error?.message.contains("gave up after 3 attempts") == true)
        #expect(error?.needsAttention == false)
        #expect(server.requests.count == 3)
    }

    @Test(arguments: [401, 403])
    func rejectedKeyPausesAtOnceAndNeverLeaksTheKey(status: Int) async throws {
        // The body echoes the key, as some servers do: it must be scrubbed from the message.
        let server = try ReplayServer([
            .body(#"{"error":{"message":"Incorrect API key provided: \#(Self.keyText)"}}"#, status: status)
        ])
        defer { server.stop() }
        let error = await #expect(throws: ModelError.self) {
            try await withHTTP { try await openAI(server, http: $0).respond(to: simpleRequest) }
        }
        #expect(error?.needsAttention == true && error?.code == .rejected)
        #expect(error?.message.contains("check OPENAI_API_KEY") == true)
        #expect(error?.message.contains(Self.keyText) == false)
        #expect(error?.message.contains("<redacted>") == true)
        #expect(server.requests.count == 1)  // no retries burned
    }

    @Test func badRequestIsNotRetried() async throws {
        let server = try ReplayServer([
            .body(
                #"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too large"}}"#,
                status: 400)
        ])
        defer { server.stop() }
        let error = await #expect(throws: ModelError.self) {
            try await withHTTP { try await anthropic(server, http: $0).respond(to: simpleRequest) }
        }
        #expect(error?.message.contains("max_tokens: too large") == true)
        #expect(server.requests.count == 1)
    }

    /// An answer that hit max_tokens: a tool call whose JSON closed before the cut is whole and
    /// returned; one cut inside its arguments is returned as the broken text it is, which the
    /// harness never runs (a failed call the model is told about), as for every provider. A run
    /// is never paused for it.
    @Test func aToolCallCutOffByMaxTokensIsReturnedAsItIs() async throws {
        var whole = anthropicToolStream
        whole[11] = anthropicEvent(
            "message_delta",
            #"{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":8192}}"#)
        var cut = whole
        cut.removeSubrange(9...10)  // the second half of the arguments and the block's end never came
        let server = try ReplayServer([.sse(whole), .sse(cut)])
        defer { server.stop() }
        let complete = try await withHTTP { try await anthropic(server, http: $0).respond(to: simpleRequest) }
        #expect(complete.toolCalls.map(\.arguments) == [#"{"path": "calc.py"}"#])
        let broken = try await withHTTP { try await anthropic(server, http: $0).respond(to: simpleRequest) }
        #expect(broken.toolCalls.count == 1 && !JSONText.isObject(broken.toolCalls[0].arguments), "\(broken.toolCalls)")
    }

    @Test func nonStreamingServersAreUnderstoodToo() async throws {
        let server = try ReplayServer([
            .body(
                #"""
                {"id":"c","object":"chat.completion","model":"llama3","choices":[{"index":0,"message":{"role":"assistant","content":null,
                "tool_calls":[{"id":"x","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"a\"}"}}]},"finish_reason":"tool_calls"}],
                "usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}
                """#, status: 200)
        ])
        defer { server.stop() }
        let response = try await withHTTP { try await openAI(server, http: $0).respond(to: simpleRequest) }
        #expect(response.toolCalls == [ProposedToolCall(name: "read_file", arguments: #"{"path":"a"}"#)])
        #expect(response.usage == TokenUsage(input: 10, output: 5))
    }
}

extension ReplayServer.Reply {
    func withDelay(at index: Int, ms: Int) -> ReplayServer.Reply {
        var copy = self
        copy.chunks[index].delayMs = ms
        return copy
    }
}

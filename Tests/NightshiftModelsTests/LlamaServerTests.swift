import Foundation
import NightshiftCore
import NightshiftModels
import NightshiftTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The OpenAI-compatible provider against what a real llama.cpp server (llama-server b11434 with
/// Gemma 3 270M) answered, recorded once by `scripts/local-model/capture-fixtures.py` and replayed
/// byte for byte: a tool call cut off by max_tokens, a whole one, a text-only answer with its
/// usage chunk, and the server's refusals (HTTP 500 for broken arguments in the history, HTTP 400
/// for two answers at the end and for a request larger than its context).
@Suite struct LlamaServerTests {
    struct Fixture: Decodable {
        var status: Int
        var body: String
    }

    static func fixture(_ name: String) throws -> Fixture {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "Golden/llama/\(name).json")
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    /// The recorded answer as the replay server sends it: a stream event by event, or a body.
    static func reply(_ name: String) throws -> ReplayServer.Reply {
        let f = try fixture(name)
        guard f.status == 200 else { return .body(f.body, status: f.status) }
        return .sse(f.body.components(separatedBy: "\n\n").filter { !$0.isEmpty }.map { $0 + "\n\n" })
    }

    func provider(_ server: ReplayServer, _ http: ModelHTTPClient) -> OpenAIProvider {
        OpenAIProvider(model: "gemma", baseURL: server.baseURL + "/v1", key: nil, label: "llama", http: http)
    }

    func respond(
        _ replies: [ReplayServer.Reply], _ request: ModelRequest = simpleRequest
    ) async throws -> (
        Result<ModelResponse, ModelError>, ReplayServer
    ) {
        let server = try ReplayServer(replies)
        var settings = ModelHTTPSettings()
        settings.baseDelay = .milliseconds(1)
        settings.maxDelay = .milliseconds(2)
        let http = ModelHTTPClient(settings: settings)
        defer { server.stop() }
        let result: Result<ModelResponse, ModelError>
        do { result = .success(try await provider(server, http).respond(to: request)) } catch let e as ModelError {
            result = .failure(e)
        }
        try await http.shutdown()
        return (result, server)
    }

    /// Cut off inside its arguments (finish_reason "length"): returned as the broken text it is,
    /// with the usage the server reported; the harness never runs such a call, and the history
    /// replays it as JSON every server accepts.
    @Test func aToolCallCutOffByMaxTokensIsReturnedBrokenAndReplayedAsJSON() async throws {
        let (result, _) = try await respond([try Self.reply("tool-call-cut-off")])
        let response = try result.get()
        let call = try #require(response.toolCalls.first)
        #expect(
            call.name == "write_file" && call.arguments.hasPrefix("{\"path\": \"c")
                && !JSONText.isObject(call.arguments))
        #expect(response.usage.output == 22 && response.usage.input == 429 && response.usage.cachedInput == 424)
        // The next request carries it: as an object that says what happened, never as broken JSON.
        var next = simpleRequest
        next.transcript = [
            .assistant(
                text: "", toolCalls: [ToolCall(id: CallID("m1.1"), name: call.name, arguments: Payload(call.arguments))]
            ),
            .toolResult(call: CallID("m1.1"), name: call.name, ok: false, output: "not run: cut off"),
        ]
        let body = try #require(
            try JSONSerialization.jsonObject(with: try OpenAIProvider.body(next, model: "gemma")) as? [String: Any])
        let messages = try #require(body["messages"] as? [[String: Any]])
        let sent = try #require(
            ((messages.first { $0["tool_calls"] != nil }?["tool_calls"] as? [[String: Any]])?.first?["function"]
                as? [String: Any])?["arguments"] as? String)
        #expect(JSONText.isObject(sent) && sent.contains("_unparsed_arguments"), "\(sent)")
    }

    @Test func aWholeToolCallAndItsUsageAreRead() async throws {
        let (result, _) = try await respond([try Self.reply("tool-call-whole")])
        let response = try result.get()
        #expect(response.toolCalls.first?.name == "write_file", "\(response.toolCalls)")
        #expect(response.toolCalls.allSatisfy { JSONText.isObject($0.arguments) })
        #expect(response.usage.input == 429 && response.usage.output > 0)
    }

    @Test func aTextOnlyAnswerIsTextWithItsUsage() async throws {
        let (result, _) = try await respond([try Self.reply("text-only")])
        let response = try result.get()
        #expect(response.toolCalls.isEmpty && !response.text.isEmpty && response.usage.output == 24)
    }

    /// HTTP 500 "Failed to parse tool call arguments as JSON" is what llama.cpp says to broken
    /// arguments in the history: the same answer to the same request twice is not retried further.
    @Test func theSameServerErrorTwiceIsNotRetriedAgain() async throws {
        let (result, server) = try await respond(
            [
                try Self.reply("broken-arguments-500"), try Self.reply("broken-arguments-500"),
                try Self.reply("text-only"),
            ])
        guard case let .failure(error) = result else {
            Issue.record("the third attempt was made")
            return
        }
        #expect(error.needsAttention && error.message.contains("Failed to parse tool call arguments"), "\(error)")
        #expect(server.requests.count == 2)
    }

    /// HTTP 400s are refused at once (never retried), and a request larger than the server's
    /// context says what to change.
    @Test func aRefusalIsNotRetriedAndSaysWhatToChange() async throws {
        let (twice, s1) = try await respond([try Self.reply("two-answers-400")])
        guard case let .failure(e1) = twice else { throw CLITestFailure("expected a refusal") }
        #expect(e1.message.contains("Cannot have 2 or more assistant messages") && s1.requests.count == 1)
        let (large, s2) = try await respond([try Self.reply("context-exceeded-400")])
        guard case let .failure(e2) = large else { throw CLITestFailure("expected a refusal") }
        #expect(e2.message.contains("exceeds the available context size") && e2.message.contains("context.window"))
        #expect(s2.requests.count == 1)
    }

    /// A local server that is not running is named as such, not as NIO's "connection reset".
    @Test func aServerThatIsNotRunningIsSaidToRefuse() async throws {
        // A port bound but not listening: connections are refused, and no other test's server can
        // be given it meanwhile (a closed port could be, and would answer).
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(socketFD >= 0)
        defer { close(socketFD) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socketFD, $0, length) == 0 && getsockname(socketFD, $0, &length) == 0
            }
        }
        #expect(bound)
        let url = "http://127.0.0.1:\(UInt16(bigEndian: address.sin_port))"
        var settings = ModelHTTPSettings()
        settings.connectTimeout = .milliseconds(300)
        settings.maxAttempts = 1
        let http = ModelHTTPClient(settings: settings)
        let provider = OpenAIProvider(model: "gemma", baseURL: url + "/v1", key: nil, label: "llama", http: http)
        do {
            _ = try await provider.respond(to: simpleRequest)
            Issue.record("a closed port answered")
        } catch let e as ModelError {
            #expect(e.message.contains("connection refused (is the server running"), "\(e.message)")
        }
        try await http.shutdown()
    }

    /// What the server reports of its context, read when a run starts.
    @Test func theServersContextSizeIsRead() async throws {
        let server = try ReplayServer([.body("{}", status: 200)])
        defer { server.stop() }
        server.answer("/props", with: .body(#"{"default_generation_settings":{"n_ctx":8192}}"#, status: 200))
        let http = ModelHTTPClient()
        let window = await ServerContext.window(
            try ModelSpec.parse("openai-compatible:\(server.baseURL)/v1#gemma"), key: nil, http: http)
        try await http.shutdown()
        #expect(window == 8192)
    }

    /// Ollama's `/api/show`: the model's `num_ctx` when it sets one; else its context length, but
    /// no more than 2,048, since Ollama would cut a longer prompt's front without an error.
    @Test func ollamasContextSizeIsReadAndItsDefaultAssumedSmall() async throws {
        let set = try ReplayServer([])
        defer { set.stop() }
        set.answer(
            "/api/show",
            with: .body(
                #"{"parameters":"stop \"<end>\"\nnum_ctx                        16384","model_info":{"gemma3.context_length":32768}}"#,
                status: 200))
        let unset = try ReplayServer([])
        defer { unset.stop() }
        unset.answer("/api/show", with: .body(#"{"model_info":{"gemma3.context_length":32768}}"#, status: 200))
        let http = ModelHTTPClient()
        let withNumCtx = await ServerContext.window(
            try ModelSpec.parse("openai-compatible:\(set.baseURL)/v1#gemma3"), key: nil, http: http)
        let without = await ServerContext.window(
            try ModelSpec.parse("openai-compatible:\(unset.baseURL)/v1#gemma3"), key: nil, http: http)
        try await http.shutdown()
        #expect(withNumCtx == 16384)
        #expect(without == 2048)
        #expect(set.requests.isEmpty, "probes are not model calls")
    }

    /// Only a server people run themselves is believed to fail the same way twice: the same HTTP
    /// 500 twice ends its retries; a 503 (an outage) is retried as before.
    @Test func onlyALocalServersRepeated500EndsTheRetries() async throws {
        let busy = ReplayServer.Reply.body(#"{"error":{"message":"busy"}}"#, status: 503)
        let (result, server) = try await respond([busy, busy, try Self.reply("text-only")])
        #expect((try? result.get()) != nil, "\(result)")
        #expect(server.requests.count == 3)
    }
}

struct CLITestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// The three request-building defects found against llama.cpp, on the request builder alone:
/// every request ends with a person's or a tool's turn; a call whose arguments are not JSON is
/// replayed as JSON; an answer cap is sent and the request fits the window with it.
@Suite struct RequestBuildingTests {
    func messages(_ body: Data) throws -> [[String: Any]] {
        let object = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
        return try #require(object["messages"] as? [[String: Any]])
    }

    @Test func noRequestEndsWithTheModelsAnswerOrHasTwoInARow() throws {
        var r = simpleRequest
        r.transcript = [
            .assistant(text: "I will think.", toolCalls: []), .assistant(text: "Still thinking.", toolCalls: []),
        ]
        let openAI = try messages(try OpenAIProvider.body(r, model: "m"))
        #expect(openAI.last?["role"] as? String == "user", "\(openAI)")
        for (a, b) in zip(openAI, openAI.dropFirst()) {
            #expect(!(a["role"] as? String == "assistant" && b["role"] as? String == "assistant"), "\(openAI)")
        }
        #expect((openAI.last?["content"] as? String)?.contains("Call a tool") == true)
        let anthropic = try messages(try AnthropicProvider.body(r, model: "m", maxTokens: 100))
        #expect(anthropic.last?["role"] as? String == "user")
    }

    @Test func aCutOffCallIsReplayedAsJSONByBothProviders() throws {
        var r = simpleRequest
        r.transcript = [
            .assistant(
                text: "", toolCalls: [ToolCall(id: CallID("m1.1"), name: "read_file", arguments: #"{"path": "ca"#)]),
            .toolResult(call: CallID("m1.1"), name: "read_file", ok: false, output: "not run"),
        ]
        let text = String(decoding: try OpenAIProvider.body(r, model: "m"), as: UTF8.self)
        #expect(!text.contains(#"{\"path\": \"ca""#) || text.contains("_unparsed_arguments"), "\(text)")
        let call = try #require(
            (try messages(try OpenAIProvider.body(r, model: "m")).first { $0["tool_calls"] != nil }?["tool_calls"]
                as? [[String: Any]])?.first?["function"] as? [String: Any])
        #expect(JSONText.isObject(call["arguments"] as? String ?? ""))
    }

    @Test func theAnswerCapIsSentAndTheRequestFitsTheWindowWithIt() throws {
        var r = simpleRequest
        // A long shift: 60 turns of 2 KB tool output each, far more than a 8,192-token window holds.
        for n in 0..<60 {
            let id = CallID("m\(n).1")
            r.transcript.append(
                .assistant(text: "", toolCalls: [ToolCall(id: id, name: "read_file", arguments: #"{"path":"a"}"#)]))
            r.transcript.append(
                .toolResult(call: id, name: "read_file", ok: true, output: String(repeating: "x", count: 2048)))
        }
        r.limits = RequestLimits(window: 8192, maxOutput: 1024, bytesPerTokenX100: 400)
        let body = try OpenAIProvider.body(r, model: "m")
        let object = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
        let cap = try #require(object["max_tokens"] as? Int)
        #expect(cap == 1024)
        // The request's own estimate plus the cap fits the window, and the latest turn is still there.
        #expect(body.count / 4 + cap < 8192, "\(body.count) bytes")
        let last = try #require((object["messages"] as? [[String: Any]])?.last)
        #expect(last["tool_call_id"] as? String == "m59.1")
        // Official OpenAI takes max_completion_tokens instead.
        let official = try #require(
            try JSONSerialization.jsonObject(with: try OpenAIProvider.body(r, model: "m", official: true))
                as? [String: Any])
        #expect(official["max_completion_tokens"] as? Int == 1024 && official["max_tokens"] == nil)
        // Nightshift's default cap (nobody set one) goes to servers people run, not to hosted
        // OpenAI, unless fitting had to lower it.
        var small = simpleRequest
        small.limits = RequestLimits(window: 128_000, maxOutput: 8192, configured: false)
        let hosted = try #require(
            try JSONSerialization.jsonObject(with: try OpenAIProvider.body(small, model: "m", official: true))
                as? [String: Any])
        #expect(hosted["max_completion_tokens"] == nil && hosted["max_tokens"] == nil)
        let local = try #require(
            try JSONSerialization.jsonObject(with: try OpenAIProvider.body(small, model: "m")) as? [String: Any])
        #expect(local["max_tokens"] as? Int == 8192)
        var long = simpleRequest
        long.guidance = String(repeating: "Be careful. ", count: 1800)  // about 5,400 tokens
        long.limits = RequestLimits(window: 8192, maxOutput: 4096, bytesPerTokenX100: 400, configured: false)
        let lowered = try #require(
            try JSONSerialization.jsonObject(with: try OpenAIProvider.body(long, model: "m", official: true))
                as? [String: Any])
        let loweredCap = try #require(lowered["max_completion_tokens"] as? Int, "fitting lowered it: sent")
        #expect(loweredCap < 4096 && loweredCap >= 256)
    }

    /// A text is cut by bytes at scalar boundaries: one Character of 32 KB (a letter and 16,000
    /// combining accents, in a file the agent read) still shrinks, and the request still fits.
    @Test func oneHugeCharacterIsCutToo() throws {
        var r = simpleRequest
        let id = CallID("m1.1")
        r.transcript = [
            .assistant(text: "", toolCalls: [ToolCall(id: id, name: "read_file", arguments: #"{"path":"a"}"#)]),
            .toolResult(
                call: id, name: "read_file", ok: true, output: "e" + String(repeating: "\u{301}", count: 16000)),
        ]
        r.limits = RequestLimits(window: 4096, maxOutput: 512, bytesPerTokenX100: 400)
        let body = try OpenAIProvider.body(r, model: "m")
        #expect(body.count / 4 + 512 < 4096, "\(body.count) bytes")
        #expect((try? JSONSerialization.jsonObject(with: body)) != nil, "still valid JSON")
    }

    /// Arguments the grammar allows but strict servers refuse (a lone surrogate) are replayed as
    /// the JSON object that says so, never as they were.
    @Test func argumentsAStrictServerRefusesAreReplayedAsJSON() throws {
        let call = ToolCall(id: CallID("m1.1"), name: "write_file", arguments: #"{"content":"\ud800"}"#)
        let replayed = PromptRenderer.replayedArguments(call)
        #expect(String(decoding: replayed.bytes, as: UTF8.self).contains("_unparsed_arguments"))
    }

    @Test func aRequestThatCannotFitEvenAtItsLeastPausesWithWhatToChange() throws {
        var r = simpleRequest
        r.guidance = String(repeating: "Be careful. ", count: 4000)  // ~48 KB of guidance
        r.limits = RequestLimits(window: 4096, maxOutput: 512, bytesPerTokenX100: 400)
        let error = #expect(throws: ModelError.self) { try OpenAIProvider.body(r, model: "m") }
        #expect(
            error?.code == .tooLarge && error?.needsAttention == true
                && error?.message.contains("context.window") == true)
    }
}

/// The hosted APIs are told from servers that speak their protocol by scheme and host, whatever
/// the trailing slash; and a window's arithmetic never traps, whatever a log holds.
@Suite struct HostedAndBoundsTests {
    @Test func hostedIsByHostNotBySpelling() {
        #expect(ModelSpec.isHosted("https://api.openai.com/v1", ModelSpec.openAIBaseURL))
        #expect(ModelSpec.isHosted("https://API.openai.com/v1/", ModelSpec.openAIBaseURL))
        #expect(!ModelSpec.isHosted("http://127.0.0.1:18080/v1", ModelSpec.openAIBaseURL))
        #expect(!ModelSpec.isHosted("https://api.openai.com.evil.example/v1", ModelSpec.openAIBaseURL))
        #expect(!ModelSpec.isHosted("https://api.openai.com:8443/v1", ModelSpec.openAIBaseURL))
        #expect(ModelSpec.isHosted("https://api.anthropic.com/", ModelSpec.anthropicBaseURL))
    }

    @Test func aWindowTimesAShareSaturates() {
        #expect(Int.max.timesSaturating(85) == Int.max)
        #expect(Int.min.timesSaturating(2) == Int.min)
        #expect(32_000.timesSaturating(85) == 2_720_000)
    }
}

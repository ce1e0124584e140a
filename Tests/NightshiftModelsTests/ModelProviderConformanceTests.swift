import Foundation
import NightshiftCore
import NightshiftModels
import NightshiftTesting
import Testing

/// What every model provider promises the harness, each provider against the loopback replay
/// server speaking its own wire format: a tool call arrives as the model made it; `task_done` is a
/// done claim, never a tool call; a rejected key asks for a person at once, without a retry and
/// without the key in the message; a server error is retried, and the retry is reported.
@Suite(.serialized) struct ModelProviderConformanceTests {
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case openAICompatible, anthropicCompatible
        var testDescription: String { rawValue }
    }

    static let keyText = "sk-conformance-canary-1a2b3c"

    func provider(_ kind: Kind, _ server: ReplayServer, _ http: ModelHTTPClient) -> any ModelProvider {
        switch kind {
        case .openAICompatible:
            OpenAIProvider(
                model: "gpt-4o", baseURL: server.baseURL + "/v1", key: Secret(Self.keyText),
                label: "openai-compatible", http: http)
        case .anthropicCompatible:
            AnthropicProvider(
                model: "claude-sonnet-4-5", baseURL: server.baseURL, key: Secret(Self.keyText),
                label: "anthropic-compatible", http: http)
        }
    }

    /// One streamed answer: `text`, then one call of `tool` with `arguments`.
    func stream(_ kind: Kind, text: String, tool: String, arguments: String) -> [String] {
        let escaped = arguments.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(
            of: "\"", with: "\\\"")
        switch kind {
        case .openAICompatible:
            return [
                openAIChunk(#"{"role":"assistant","content":"\#(text)"}"#),
                openAIChunk(
                    #"{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"\#(tool)","arguments":"\#(escaped)"}}]}"#
                ),
                openAIChunk("{}", finish: "tool_calls"), "data: [DONE]\n\n",
            ]
        case .anthropicCompatible:
            return [
                anthropicEvent(
                    "message_start",
                    #"{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"usage":{"input_tokens":10,"output_tokens":1}}}"#
                ),
                anthropicEvent(
                    "content_block_start",
                    #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
                anthropicEvent(
                    "content_block_delta",
                    #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\#(text)"}}"#),
                anthropicEvent("content_block_stop", #"{"type":"content_block_stop","index":0}"#),
                anthropicEvent(
                    "content_block_start",
                    #"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"\#(tool)","input":{}}}"#
                ),
                anthropicEvent(
                    "content_block_delta",
                    #"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\#(escaped)"}}"#
                ),
                anthropicEvent("content_block_stop", #"{"type":"content_block_stop","index":1}"#),
                anthropicEvent(
                    "message_delta",
                    #"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":12}}"#
                ),
                anthropicEvent("message_stop", #"{"type":"message_stop"}"#),
            ]
        }
    }

    /// A key the server refuses, echoed in its error (as some servers do).
    func rejected(_ kind: Kind) -> ReplayServer.Reply {
        switch kind {
        case .openAICompatible:
            .body(#"{"error":{"message":"Incorrect API key provided: \#(Self.keyText)"}}"#, status: 401)
        case .anthropicCompatible:
            .body(
                #"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key \#(Self.keyText)"}}"#,
                status: 401)
        }
    }

    @Test(arguments: Kind.allCases) func aToolCallArrivesAsTheModelMadeIt(_ kind: Kind) async throws {
        let arguments = #"{"path":"src/a \"b\".txt"}"#
        let server = try ReplayServer([.sse(stream(kind, text: "Reading.", tool: "read_file", arguments: arguments))])
        defer { server.stop() }
        let response = try await withHTTP { try await provider(kind, server, $0).respond(to: simpleRequest) }
        #expect(response.text == "Reading.")
        #expect(response.toolCalls == [ProposedToolCall(name: "read_file", arguments: arguments)])
        #expect(!response.claimsDone)
        #expect(server.requests.count == 1)
    }

    @Test(arguments: Kind.allCases) func taskDoneIsADoneClaimNotAToolCall(_ kind: Kind) async throws {
        let server = try ReplayServer([
            .sse(stream(kind, text: "Done.", tool: "task_done", arguments: #"{"summary":"fixed add"}"#))
        ])
        defer { server.stop() }
        let response = try await withHTTP { try await provider(kind, server, $0).respond(to: simpleRequest) }
        #expect(response.claimsDone && response.summary == "fixed add")
        #expect(response.toolCalls.isEmpty)
    }

    @Test(arguments: Kind.allCases) func aRejectedKeyNeedsAPersonAndIsNeitherRetriedNorLeaked(_ kind: Kind) async throws
    {
        let server = try ReplayServer([rejected(kind)])
        defer { server.stop() }
        let error = await #expect(throws: ModelError.self) {
            try await withHTTP { try await provider(kind, server, $0).respond(to: simpleRequest) }
        }
        #expect(error?.needsAttention == true && error?.code == .rejected, "\(String(describing: error))")
        #expect(error?.message.contains(Self.keyText) == false)
        #expect(server.requests.count == 1)
    }

    @Test(arguments: Kind.allCases) func aServerErrorIsRetriedAndTheRetryReported(_ kind: Kind) async throws {
        let server = try ReplayServer([
            .body(#"{"error":{"message":"overloaded"}}"#, status: 503),
            .sse(stream(kind, text: "Back.", tool: "read_file", arguments: #"{"path":"a"}"#)),
        ])
        defer { server.stop() }
        let retries = Retries()
        let response = try await withHTTP {
            try await provider(kind, server, $0).respond(to: simpleRequest) { await retries.add($0) }
        }
        #expect(response.text == "Back.")
        #expect(await retries.items.count == 1)
        #expect(server.requests.count == 2)
    }
}

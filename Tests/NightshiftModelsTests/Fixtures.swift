import Foundation
import NightshiftCore
import NightshiftModels

/// A request exercising every part of a context: an in-doubt notice, a progress note, feedback
/// from a failed attempt, a transcript whose window starts with an orphaned tool result, a
/// failed tool call, and an attempt notice.
let richRequest = ModelRequest(
    run: RunID("r1"), call: CallID("m7"), role: .worker,
    task: PlanTask(
        id: TaskID("fix-add"), description: "Make add() return the sum.",
        checks: [Check(command: "python3 -m unittest -q tests.test_add")]),
    attempt: 2, turn: 4,
    notices: [
        "The call m5.1 (shell with arguments {\"command\":\"rm -rf build\"}) was interrupted when the process stopped. Its outcome is UNKNOWN: it may or may not have taken effect. Check the workspace before repeating it."
    ],
    progressNote: "Task setup done on attempt 1 after 2 model turns.",
    feedback:
        "Your done claim for task fix-add failed 1 of 1 checks:\n\n$ python3 -m unittest -q tests.test_add\nexit 1 (expected 0)\nAssertionError: -1 != 5\n",
    transcript: [
        .toolResult(call: CallID("m4.2"), name: "read_file", ok: true, output: "def add(a, b):\n    return a - b\n"),
        .notice("Attempt 2 of this task begins."),
        .assistant(
            text: "Fixing the sign.",
            toolCalls: [
                ToolCall(
                    id: CallID("m6.1"), name: "write_file",
                    arguments: #"{"content":"def add(a, b):\n    return a + b\n","path":"calc.py"}"#),
                ToolCall(
                    id: CallID("m6.2"), name: "shell",
                    arguments: #"{"command":"python3 -m unittest -q tests.test_add"}"#),
            ]),
        .toolResult(call: CallID("m6.1"), name: "write_file", ok: true, output: "wrote 30 bytes to calc.py"),
        .toolResult(
            call: CallID("m6.2"), name: "shell", ok: false,
            output: "exit 1\nModuleNotFoundError: No module named 'tests'"),
    ],
    tools: [
        ToolSpec(
            name: "shell", description: "Run a shell command.", idempotent: false,
            parametersSchema: #"{"type":"object","properties":{"command":{"type":"string"}},"required":["command"]}"#)
    ])

let simpleRequest = ModelRequest(
    run: RunID("r1"), call: CallID("m1"), role: .worker,
    task: PlanTask(id: TaskID("t"), description: "Say hello.", checks: []), attempt: 1, turn: 0, notices: [],
    progressNote: nil, feedback: nil, transcript: [],
    tools: [
        ToolSpec(
            name: "read_file", description: "Read a file.", idempotent: true,
            parametersSchema: #"{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}"#)
    ])

func fastSettings() -> ModelHTTPSettings {
    var s = ModelHTTPSettings()
    s.baseDelay = .milliseconds(10)
    s.maxDelay = .milliseconds(50)
    s.jitter = 0
    s.maxAttempts = 3
    s.idleTimeout = .seconds(5)
    s.firstByteTimeout = .seconds(5)
    return s
}

/// Runs `body` with a model HTTP client (fast retries) that is shut down after it, whatever happened.
func withHTTP<T>(_ body: (ModelHTTPClient) async throws -> T) async throws -> T {
    let http = ModelHTTPClient(settings: fastSettings())
    do {
        let r = try await body(http)
        try await http.shutdown()
        return r
    } catch {
        try? await http.shutdown()
        throw error
    }
}

/// Collects retries reported during a call.
actor Retries {
    var items: [ModelRetry] = []
    func add(_ r: ModelRetry) { items.append(r) }
}

func openAIChunk(_ delta: String, finish: String? = nil) -> String {
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":\(delta),\"finish_reason\":\(finish.map { "\"\($0)\"" } ?? "null")}]}\n\n"
}

/// A streamed chat completion with text, two parallel tool calls whose arguments arrive in
/// pieces, a finish reason, a usage chunk with cached tokens, and [DONE] — as the API reference shows.
let openAIToolStream: [String] = [
    openAIChunk(#"{"role":"assistant","content":""}"#),
    openAIChunk(#"{"content":"Reading "}"#),
    openAIChunk(#"{"content":"both files."}"#),
    openAIChunk(
        #"{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"read_file","arguments":""}}]}"#),
    openAIChunk(#"{"tool_calls":[{"index":0,"function":{"arguments":"{\"pa"}}]}"#),
    openAIChunk(#"{"tool_calls":[{"index":0,"function":{"arguments":"th\":\"a.txt\"}"}}]}"#),
    openAIChunk(
        #"{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"b.txt\"}"}}]}"#
    ),
    openAIChunk("{}", finish: "tool_calls"),
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-2024-08-06\",\"choices\":[],\"usage\":{\"prompt_tokens\":1200,\"completion_tokens\":45,\"total_tokens\":1245,\"prompt_tokens_details\":{\"cached_tokens\":1024}}}\n\n",
    "data: [DONE]\n\n",
]

func anthropicEvent(_ type: String, _ json: String) -> String { "event: \(type)\ndata: \(json)\n\n" }

/// A streamed message with a text block and a tool_use block whose input arrives as
/// input_json_delta pieces, cache usage, and the closing events — as the API reference shows.
let anthropicToolStream: [String] = [
    anthropicEvent(
        "message_start",
        #"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"usage":{"input_tokens":30,"cache_creation_input_tokens":1000,"cache_read_input_tokens":2000,"output_tokens":1}}}"#
    ),
    anthropicEvent(
        "content_block_start", #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
    anthropicEvent("ping", #"{"type":"ping"}"#),
    anthropicEvent(
        "content_block_delta",
        #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me "}}"#),
    anthropicEvent(
        "content_block_delta", #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"look."}}"#
    ),
    anthropicEvent("content_block_stop", #"{"type":"content_block_stop","index":0}"#),
    anthropicEvent(
        "content_block_start",
        #"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01","name":"read_file","input":{}}}"#
    ),
    anthropicEvent(
        "content_block_delta",
        #"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}"#),
    anthropicEvent(
        "content_block_delta",
        #"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"path\": \"ca"}}"#
    ),
    anthropicEvent(
        "content_block_delta",
        #"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"lc.py\"}"}}"#),
    anthropicEvent("content_block_stop", #"{"type":"content_block_stop","index":1}"#),
    anthropicEvent(
        "message_delta",
        #"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":64}}"#
    ),
    anthropicEvent("message_stop", #"{"type":"message_stop"}"#),
]

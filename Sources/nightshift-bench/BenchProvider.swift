import ArgumentParser
import Foundation
import NightshiftCLI
import NightshiftCore
import NightshiftHarness
import NightshiftModels
import NightshiftTesting

extension Bench {
    struct Provider: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Model-call overhead: time per call outside the HTTP exchange, and SSE parse throughput.",
            discussion: """
                Overhead per call = building the context from the log window + rendering the request body + parsing \
                the streamed response + assembling the result, for a worker context with a full 48-event transcript \
                (1 KB tool outputs). The loopback round trip against a local replay server is shown for scale.
                """)

        @Option(help: "Calls to time (medians are reported).") var calls: Int = 500
        @Option(help: "Megabytes of SSE to parse for the throughput figure.") var megabytes: Int = 32
        @Flag(help: "Print one JSON object per line instead of a table.") var json = false

        func run() async throws {
            try await reportErrors {
                let out = BenchOutput(json: json)
                let (state, recent) = try benchState()
                let stream = openAIStream()
                for provider in ["openai", "anthropic"] {
                    var build: [Double] = [], render: [Double] = [], parse: [Double] = []
                    for _ in 0..<calls {
                        var t = ContinuousClock.now
                        let request = ContextBuilder.request(
                            state: state, recent: recent, call: CallID("m99"), task: state.activeTask!,
                            attempt: 1, turn: 40, tools: benchTools, window: 48)
                        build.append(ms(ContinuousClock.now - t))
                        t = ContinuousClock.now
                        let body =
                            provider == "openai"
                            ? try OpenAIProvider.body(request, model: "gpt-4o")
                            : try AnthropicProvider.body(request, model: "claude-sonnet-4-5", maxTokens: 8192)
                        render.append(ms(ContinuousClock.now - t))
                        precondition(!body.isEmpty)
                        t = ContinuousClock.now
                        let parsed = try parseStream(provider == "openai" ? stream : anthropicStream())
                        parse.append(ms(ContinuousClock.now - t))
                        precondition(parsed == 1)
                    }
                    let roundTrip = try await loopbackRoundTrip(provider: provider, state: state, recent: recent)
                    let overhead = median(build) + median(render) + median(parse)
                    out.emit(
                        [
                            "workload": "provider", "provider": provider, "calls": calls,
                            "overhead_ms": round3(overhead),
                            "context_ms": round3(median(build)), "render_ms": round3(median(render)),
                            "parse_ms": round3(median(parse)),
                            "loopback_round_trip_ms": round3(roundTrip),
                        ],
                        table: String(
                            format:
                                "%@: overhead per call %.3f ms (context %.3f, render %.3f, parse %.3f; medians of %d) · loopback round trip %.2f ms",
                            provider, overhead, median(build), median(render), median(parse), calls, roundTrip))
                }
                let (mb, seconds, events) = sseThroughput(megabytes: megabytes)
                out.emit(
                    ["workload": "sse", "megabytes": round1(mb), "mb_per_s": round1(mb / seconds), "events": events],
                    table: String(
                        format: "SSE parse + OpenAI chunk decoding: %.1f MB in %.2f s = %.1f MB/s (%d events)", mb,
                        seconds, mb / seconds, events))
            }
        }
    }
}

private let benchTools = [
    ToolSpec(
        name: "shell", description: "Run a shell command.", idempotent: false,
        parametersSchema: #"{"type":"object","properties":{"command":{"type":"string"}}}"#),
    ToolSpec(
        name: "read_file", description: "Read a file.", idempotent: true,
        parametersSchema: #"{"type":"object","properties":{"path":{"type":"string"}}}"#),
]

/// A worker mid-task with a full transcript window of 1 KB tool outputs.
private func benchState() throws -> (RunState, [EventEnvelope]) {
    let run = RunID("bench")
    let plan = Plan(
        title: "b",
        tasks: [
            PlanTask(
                id: TaskID("t"), description: "Refactor the parser and keep the tests green.",
                checks: [Check(command: "swift test")])
        ])
    var state = RunState(run: run)
    var envelopes: [EventEnvelope] = []
    func add(_ e: Event) throws {
        let env = try EventCodec.encode(
            e, run: run, seq: state.lastSeq + 1, time: Timestamp(milliseconds: 0), previousHash: state.lastHash
        ).envelope
        try state.apply(env)
        envelopes.append(env)
    }
    try add(.runCreated(title: "b", workspace: "/tmp", model: "bench", settings: RunSettings()))
    try add(.planSet(plan: plan))
    try add(.taskStarted(task: TaskID("t"), attempt: 1))
    for n in 1...40 {
        let call = RunState.modelCallID(n)
        try add(.modelRequested(call: call, task: TaskID("t"), turn: n - 1, role: .worker))
        try add(
            .modelResponded(
                call: call, text: Payload("Looking at part \(n)."),
                toolCalls: [
                    ToolCall(
                        id: RunState.toolCallID(call, 1), name: "read_file",
                        arguments: Payload(#"{"path":"Sources/Parser/Part\#(n).swift"}"#))
                ], claimsDone: false, summary: nil,
                usage: TokenUsage(input: 5000, output: 50), model: "m", costPicoUSD: nil))
        try add(.toolRequested(call: RunState.toolCallID(call, 1), name: "read_file", idempotent: true))
        try add(.toolStarted(call: RunState.toolCallID(call, 1)))
        try add(
            .toolFinished(
                call: RunState.toolCallID(call, 1),
                result: ToolResult(ok: true, output: Payload(String(repeating: "let x = 1\n", count: 102)))))
    }
    try add(.modelRequested(call: RunState.modelCallID(41), task: TaskID("t"), turn: 40, role: .worker))
    return (state, Array(envelopes.suffix(48)))
}

private func openAIStream() -> [UInt8] {
    Array(OpenAIWire.toolCall("read_file", #"{"path":"Sources/Parser/Part41.swift"}"#).joined().utf8)
}

private func anthropicStream() -> [UInt8] {
    let events = [
        #"{"type":"message_start","message":{"model":"claude-sonnet-4-5","usage":{"input_tokens":30,"cache_read_input_tokens":9000,"output_tokens":1}}}"#,
        #"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"read_file","input":{}}}"#,
        #"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"path\": \"Sources/Par"}}"#,
        #"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"ser/Part41.swift\"}"}}"#,
        #"{"type":"content_block_stop","index":0}"#,
        #"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":40}}"#,
        #"{"type":"message_stop"}"#,
    ]
    return Array(events.map { "data: \($0)\n\n" }.joined().utf8)
}

/// Parses a recorded stream the way a provider does; returns the number of tool calls found.
private func parseStream(_ bytes: [UInt8]) throws -> Int {
    try StreamProbe.toolCalls(in: bytes)
}

private func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

private func loopbackRoundTrip(provider: String, state: RunState, recent: [EventEnvelope]) async throws -> Double {
    let reply =
        provider == "openai"
        ? ReplayServer.Reply.sse(OpenAIWire.toolCall("read_file", #"{"path":"a"}"#))
        : ReplayServer.Reply(
            status: 200, headers: [("Content-Type", "text/event-stream")],
            chunks: [(String(decoding: anthropicStream(), as: UTF8.self), 0)])
    let server = try ReplayServer([reply])
    defer { server.stop() }
    let http = ModelHTTPClient()
    let model: any ModelProvider =
        provider == "openai"
        ? OpenAIProvider(model: "gpt-4o", baseURL: server.baseURL + "/v1", key: nil, label: "bench", http: http)
        : AnthropicProvider(model: "claude-sonnet-4-5", baseURL: server.baseURL, key: nil, label: "bench", http: http)
    var times: [Double] = []
    for _ in 0..<50 {
        let request = ContextBuilder.request(
            state: state, recent: recent, call: CallID("m99"), task: state.activeTask!, attempt: 1, turn: 40,
            tools: benchTools, window: 48)
        let t = ContinuousClock.now
        _ = try await model.respond(to: request)
        times.append(ms(ContinuousClock.now - t))
    }
    try await http.shutdown()
    return median(times)
}

private func sseThroughput(megabytes: Int) -> (Double, Double, Int) {
    let one = openAIStream()
    let copies = max(1, megabytes * 1_048_576 / one.count)
    var total = 0, events = 0
    let start = ContinuousClock.now
    for _ in 0..<copies {
        events += (try? StreamProbe.events(in: one)) ?? 0
        total += one.count
    }
    return (Double(total) / 1_048_576, ms(ContinuousClock.now - start) / 1000, events)
}

import Foundation
import NightshiftCLI
import NightshiftCore

#if canImport(Glibc)
import Glibc
#endif

/// Workload W1 (docs/benchmarks.md): a scripted model (a test double) that calls `echo`
/// K times, then answers. Its choice depends only on the request it is handed.
struct W1Model: ModelProvider {
    let steps: Int
    var label: String { "scripted:w1 (test double)" }
    static let text = String(repeating: "n", count: 165)

    func respond(to request: ModelRequest) async throws -> ModelResponse {
        // Under the loop the harness asks for summaries of older turns and for handoffs: fixed ones will do here.
        if request.role == Role.compactor {
            return ModelResponse(
                text: "Summary (W1 test double): the echo steps so far all returned their text.",
                usage: TokenUsage(input: 200, output: 20), model: "scripted-w1")
        }
        if request.role == Role.handoff {
            return ModelResponse(
                text: "",
                toolCalls: [
                    ProposedToolCall(
                        name: "write_handoff",
                        arguments: #"{"done":"echo steps so far","left":"the remaining echo steps"}"#)
                ],
                usage: TokenUsage(input: 200, output: 20), model: "scripted-w1")
        }
        let i = request.turn  // turns already taken = echo results already handed back
        if i > 0, case let .notice(text)? = request.transcript.last, text.hasPrefix("Summary of the earlier turns") {
            // Just compacted: the previous step's result is in the summary.
        } else if i > 0, request.transcript.isEmpty,
            request.progressNote?.contains("Handoff from the previous shift") == true
        {
            // A new shift: it starts from the handoff note alone.
        } else if i > 0 {
            // The history handed over must end with the previous step's echo (or its in-doubt notice).
            guard case let .toolResult(_, name, _, output)? = request.transcript.last, name == "echo",
                output.hasPrefix("echo#\(i):") || output.hasPrefix("OUTCOME UNKNOWN")
            else {
                throw CLIError(
                    "W1 model: the context does not end with the result of step \(i) (it ends with \(String(describing: request.transcript.last).prefix(120)), \(request.transcript.count) entries)"
                )
            }
        }
        if i >= steps {
            return ModelResponse(
                text: "All \(steps) steps echoed.", claimsDone: true, summary: "echoed \(steps) steps",
                usage: TokenUsage(input: 200, output: 10), model: "scripted-w1")
        }
        let args = "{\"of\":\(steps),\"step\":\(i + 1),\"text\":\"\(W1Model.text)\"}"
        return ModelResponse(
            text: "", toolCalls: [ProposedToolCall(name: "echo", arguments: args)],
            usage: TokenUsage(input: 200, output: 60), model: "scripted-w1")
    }
}

/// W1's `echo` tool: returns `echo#i:165:` and 1,024 characters. Declared non-idempotent; when
/// `effectsFile` is set it appends one line per execution, so W3 can count duplicate effects.
struct W1Tools: ToolRunner {
    /// The echo double answers at once and cannot block: no backstop timer per call (which real
    /// runners get; `bench tools` measures its cost on its own, rather than folding it into W1).
    func deadline(for call: ToolCall) -> Duration? { nil }
    let effectsFile: String?
    static let filler = String(repeating: "x", count: 1024)

    var specs: [ToolSpec] {
        [
            ToolSpec(
                name: "echo", description: "Echo the step back.", idempotent: false,
                parametersSchema:
                    #"{"type":"object","properties":{"step":{"type":"integer"},"of":{"type":"integer"},"text":{"type":"string"}}}"#
            )
        ]
    }

    func run(_ call: ToolCall, workspace: String) async -> ToolResult {
        struct Args: Decodable {
            var step: Int
            var text: String
        }
        guard let args = try? JSONDecoder().decode(Args.self, from: Data(call.arguments.text.utf8)) else {
            return .failure("echo: bad arguments")
        }
        if let effectsFile {
            let fd = open(effectsFile, O_WRONLY | O_APPEND | O_CREAT, 0o644)
            if fd >= 0 {
                let line = "step \(args.step) call \(call.id)\n"
                _ = line.withCString { write(fd, $0, strlen($0)) }
                fsync(fd)
                close(fd)
            }
        }
        return ToolResult(ok: true, output: Payload("echo#\(args.step):\(args.text.count):" + W1Tools.filler))
    }
}

/// W1 has no acceptance checks; this runner is never asked.
struct NoChecks: CheckRunner {
    func run(_ check: Check, workspace: String) async -> CheckResult {
        CheckResult(exitCode: 1, output: "no checks in W1", durationMs: 0)
    }
}

/// The W1 plan: one task whose description is the user message `steps=K`.
func w1Plan(_ steps: Int) -> Plan {
    Plan(title: "W1 steps=\(steps)", tasks: [PlanTask(id: TaskID("w1"), description: "steps=\(steps)", checks: [])])
}

/// Records when each step's result was committed (observer callback).
final class StepClock: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var instants: [ContinuousClock.Instant] = []
    func record(_ e: EventEnvelope) {
        if case .toolFinished = e.event {
            lock.lock()
            instants.append(.now)
            lock.unlock()
        }
    }
    /// Mean ms per step over steps [from, to) (step k's time = commit of k minus commit of k-1).
    func meanStepMs(_ from: Int, _ to: Int) -> Double {
        lock.lock()
        defer { lock.unlock() }
        guard to <= instants.count, from >= 1, to > from else { return .nan }
        return ms(instants[to - 1] - instants[from - 1]) / Double(to - from)
    }
}

func ms(_ d: Duration) -> Double {
    Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
}

func peakRSSMB() -> Double {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return .nan }
    for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? .nan
        return kb / 1024
    }
    return .nan
}

/// W1 is one long attempt: allow every step's turn.
func w1Settings(_ steps: Int) -> RunSettings { RunSettings(maxAttempts: 1, maxTurnsPerAttempt: steps + 1) }

import Foundation
public import NightshiftCore
import Synchronization

/// The tool runner's twin: tools are handlers over the call's arguments, with no process, no disk
/// and no clock. It keeps the port's contract (the conformance suite runs it beside the real tool
/// box): an unknown tool and arguments that are not a JSON object are refusals, never throws or
/// crashes, and every call is remembered in order, so a test can say what ran and how often.
public final class InMemoryToolRunner: ToolRunner, Sendable {
    /// Answers a call from its arguments (the JSON object's text, already checked to be one).
    public typealias Handler = @Sendable (_ arguments: String) -> ToolResult

    public let specs: [ToolSpec]
    private let handlers: [String: Handler]
    private let log = Mutex<[ToolCall]>([])

    public init(_ tools: [(spec: ToolSpec, handler: Handler)]) {
        specs = tools.map(\.spec)
        handlers = Dictionary(tools.map { ($0.spec.name, $0.handler) }, uniquingKeysWith: { a, _ in a })
    }

    /// Every call made, in order.
    public var calls: [ToolCall] { log.withLock { $0 } }

    public func run(_ call: ToolCall, workspace: String) async -> ToolResult {
        log.withLock { $0.append(call) }
        guard let handler = handlers[call.name] else { return .failure("unknown tool '\(call.name)'") }
        guard (try? JSONSerialization.jsonObject(with: Data(call.arguments.text.utf8))) is [String: Any] else {
            return .failure("\(call.name): arguments must be a JSON object, got: \(call.arguments.text.prefix(200))")
        }
        return handler(call.arguments.text)
    }

    /// Its calls cannot block: the harness calls it directly.
    public func deadline(for call: ToolCall) -> Duration? { nil }
}

extension InMemoryToolRunner {
    /// A tool named `name` that answers every call with `output`, `ok`.
    public static func constant(
        _ name: String, output: String = "done", ok: Bool = true, idempotent: Bool = false, traits: ToolTraits = []
    ) -> (spec: ToolSpec, handler: Handler) {
        (
            ToolSpec(
                name: name, description: "\(name) (in-memory twin)", idempotent: idempotent,
                parametersSchema: #"{"type":"object"}"#, traits: traits),
            { _ in ToolResult(ok: ok, output: Payload(output)) }
        )
    }
}

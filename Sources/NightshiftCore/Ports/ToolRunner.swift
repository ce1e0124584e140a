import Foundation

/// A tool as offered to the model and to the decision function.
public struct ToolSpec: Sendable, Equatable {
    public var name: String
    public var description: String
    /// Safe to run again with the same call id after a crash (reads are; shell and writes are not).
    public var idempotent: Bool
    /// JSON Schema of the arguments object.
    public var parametersSchema: String
    /// What the gateway must know about the tool's arguments to judge a call: declared by the
    /// tool, so the core never needs to know a tool by its name.
    public var traits: ToolTraits
    public init(
        name: String, description: String, idempotent: Bool, parametersSchema: String, traits: ToolTraits = []
    ) {
        self.name = name
        self.description = description
        self.idempotent = idempotent
        self.parametersSchema = parametersSchema
        self.traits = traits
    }
}

/// How a tool's arguments bear on the policy: which argument the protected-path ratchet reads.
public struct ToolTraits: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Its `path` argument names a workspace file it writes: protected paths refuse it.
    public static let writesPath = ToolTraits(rawValue: 1 << 0)
    /// Its `command` argument is a shell command: rules with `command:` match it, and a command
    /// that would change a protected path is refused.
    public static let runsCommand = ToolTraits(rawValue: 1 << 1)
}

extension ToolSpec {
    /// Appends a line to the handoff note. Handled by the harness itself (see `RunState.nextAction`):
    /// it touches no workspace, so every run has it, whatever tool runner is configured.
    public static let note = ToolSpec(
        name: "note",
        description: "Append a short line to the handoff note: what you learned, decided or left to do. "
            + "Notes stay in your context for later turns and tasks, and in PROGRESS.md.",
        idempotent: true,
        parametersSchema: #"{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}"#)
    /// Asks for a human: the run pauses with the reason and shows in `nightshift inbox`.
    public static let escalate = ToolSpec(
        name: "escalate",
        description: "Ask a human for help or a decision you must not make alone (the task is mis-specified, "
            + "you need a permission, you are stuck). The run pauses until a human answers; the answer comes back to you.",
        idempotent: true,
        parametersSchema: #"{"type":"object","properties":{"reason":{"type":"string"}},"required":["reason"]}"#)
    /// Characters of one note kept.
    public static let noteLimit = 2000
}

/// Executes tool calls inside a run's workspace. Failures and refusals are results, not throws:
/// the model is told what happened and the run goes on.
public protocol ToolRunner: Sendable {
    var specs: [ToolSpec] { get }
    func run(_ call: ToolCall, workspace: String) async -> ToolResult
    /// Events the runner has to report since it was last asked (an MCP server restarted); the
    /// harness records them with the call's result.
    func takeEvents() async -> [Event]
    /// How long the harness waits for `call` before it stops waiting: a backstop above the tool's
    /// own timeout, for a tool that blocks where no timeout of its own reaches (a pipe, a hung mount).
    /// Nil only for a runner whose calls cannot block (an in-memory double), which is then called directly.
    func deadline(for call: ToolCall) -> Duration?
}

extension ToolRunner {
    public func takeEvents() async -> [Event] { [] }
    /// Defaults to an hour and two minutes: above the longest shell timeout a call may ask for.
    public func deadline(for call: ToolCall) -> Duration? { .seconds(3720) }
}

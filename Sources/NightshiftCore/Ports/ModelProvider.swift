import Foundation

/// What the model is handed for one turn, rebuilt from the log every time.
public struct ModelRequest: Sendable, Equatable {
    public var run: RunID
    public var call: CallID
    public var role: Role
    public var task: PlanTask
    public var attempt: Int
    /// Model turns already taken in this task (this turn's index).
    public var turn: Int
    /// Put first in the context: calls whose outcome is unknown after a crash.
    public var notices: [String]
    public var progressNote: String?
    /// Why the previous attempt was not accepted (failing check output).
    public var feedback: String?
    /// Recent turns of this task, oldest first.
    public var transcript: [TranscriptEntry]
    public var tools: [ToolSpec]
    /// The agent's behavioural guidance (markdown): what it is for, what it must never do, when to escalate.
    public var guidance: String?
    /// What the judge grades (the diff, the check results, the rubric), or what the planner re-plans from.
    public var artifacts: String?
    /// Memories from the bank for this shift: information from earlier work, not instructions.
    public var memories: [ShownMemory] = []
    /// The model's window and this role's output cap: the provider sends the cap and builds a
    /// request that fits the window with it. Nil (a bare harness): no cap is sent, nothing is trimmed.
    public var limits: RequestLimits?
    public init(
        run: RunID, call: CallID, role: Role, task: PlanTask, attempt: Int, turn: Int, notices: [String],
        progressNote: String?, feedback: String?, transcript: [TranscriptEntry], tools: [ToolSpec],
        guidance: String? = nil,
        artifacts: String? = nil
    ) {
        self.guidance = guidance
        self.artifacts = artifacts
        self.run = run
        self.call = call
        self.role = role
        self.task = task
        self.attempt = attempt
        self.turn = turn
        self.notices = notices
        self.progressNote = progressNote
        self.feedback = feedback
        self.transcript = transcript
        self.tools = tools
    }
}

/// How large a request and its answer may be, in tokens.
public struct RequestLimits: Sendable, Equatable {
    /// What the model's context holds: the request and its answer together.
    public var window: Int
    /// The most tokens the answer may take (sent as the request's `max_tokens`).
    public var maxOutput: Int
    /// The provider's bytes of text per token, ×100, for estimating a request's size.
    public var bytesPerTokenX100: Int
    /// Whether a person set the cap (`context.max_output`, `--max-output`). Nightshift's default
    /// is not sent to hosted OpenAI unless fitting needs it lower: its models' own limits (and
    /// reasoning tokens, which count against the cap) are known better there.
    public var configured: Bool
    public init(window: Int, maxOutput: Int, bytesPerTokenX100: Int = 400, configured: Bool = true) {
        self.window = window
        self.maxOutput = maxOutput
        self.bytesPerTokenX100 = bytesPerTokenX100
        self.configured = configured
    }
}

public enum TranscriptEntry: Sendable, Equatable {
    case assistant(text: String, toolCalls: [ToolCall])
    case toolResult(call: CallID, name: String, ok: Bool, output: String)
    case notice(String)
}

/// A model's answer to one request. Tool calls carry names and argument JSON; the harness numbers them.
public struct ModelResponse: Sendable, Equatable {
    public var text: String
    public var toolCalls: [ProposedToolCall]
    /// The worker says the task is done; the harness will run the checks.
    public var claimsDone: Bool
    public var summary: String?
    public var usage: TokenUsage
    public var model: String
    /// The priced cost of `usage` in 10⁻¹² USD; nil when the model has no price.
    public var costPicoUSD: Int64?
    /// What a done claim leaves the next shift besides its summary (left, learned, risks), when the worker said.
    public var handoff: Handoff?
    public init(
        text: String, toolCalls: [ProposedToolCall] = [], claimsDone: Bool = false, summary: String? = nil,
        usage: TokenUsage = TokenUsage(), model: String, costPicoUSD: Int64? = nil, handoff: Handoff? = nil
    ) {
        self.handoff = handoff
        self.text = text
        self.toolCalls = toolCalls
        self.claimsDone = claimsDone
        self.summary = summary
        self.usage = usage
        self.model = model
        self.costPicoUSD = costPicoUSD
    }
}

/// A failed provider attempt that will be retried; the harness records each one as an event.
public struct ModelRetry: Sendable, Equatable {
    public var attempt: Int
    public var reason: String
    public var delayMs: Int64
    public init(attempt: Int, reason: String, delayMs: Int64) {
        self.attempt = attempt
        self.reason = reason
        self.delayMs = delayMs
    }
}

/// Why a model call failed for good. `needsAttention` errors (a rejected key, a bad request)
/// pause the run with the message instead of being retried.
/// Why a model call failed: one line for a person, whether a person must act before a retry can
/// help, and a code a front end can branch on.
public struct ModelError: Error, CustomStringConvertible, Sendable {
    /// A struct over a private enum, so adding a code does not break callers' switches.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case failed, invalidSpec, rejected, unavailable, badResponse, tooLarge
        }
        private let base: Base
        private init(_ b: Base) { base = b }
        /// Anything else the call ran into.
        public static let failed = Code(.failed)
        /// A model spec that names no usable model (`openai:` with no name, a bad URL).
        public static let invalidSpec = Code(.invalidSpec)
        /// The provider refused the request or its key (HTTP 401, 403, 4xx, a refusal mid-stream).
        public static let rejected = Code(.rejected)
        /// The provider stayed unreachable or overloaded through every retry, or asked to wait too long.
        public static let unavailable = Code(.unavailable)
        /// The response cannot be used (too large, cut off in a tool call, impossible usage).
        public static let badResponse = Code(.badResponse)
        /// Even the smallest request for the call does not fit the model's window with room to answer.
        public static let tooLarge = Code(.tooLarge)
        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String
    public var needsAttention: Bool
    public init(_ message: String, code: Code = .failed, needsAttention: Bool = false) {
        self.message = message
        self.code = code
        self.needsAttention = needsAttention
    }
    public var description: String { message }
}

public struct ProposedToolCall: Sendable, Equatable {
    public var name: String
    public var arguments: String
    public init(name: String, arguments: String) {
        self.name = name
        self.arguments = arguments
    }
}

/// A source of model responses (a real provider, or the scripted test double).
public protocol ModelProvider: Sendable {
    /// How runs show this model, e.g. "scripted:demo.yaml (test double)".
    var label: String { get }
    func respond(to request: ModelRequest) async throws -> ModelResponse
    /// Like `respond(to:)`, reporting each retried attempt as it happens.
    func respond(
        to request: ModelRequest, onRetry: @escaping @Sendable (ModelRetry) async -> Void
    ) async throws -> ModelResponse
}

extension ModelProvider {
    public func respond(
        to request: ModelRequest, onRetry: @escaping @Sendable (ModelRetry) async -> Void
    ) async throws -> ModelResponse {
        try await respond(to: request)
    }
}

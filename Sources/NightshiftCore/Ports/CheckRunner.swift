import Foundation

/// Runs a task's acceptance checks in the workspace (the harness's job, never the model's).
public protocol CheckRunner: Sendable {
    func run(_ check: Check, workspace: String) async -> CheckResult
    /// Runs `check` with `arguments` after its command (`"$@"` in it): how a hook is handed the
    /// paths a call changed, as arguments and never as text in the command, whatever they contain.
    func run(_ check: Check, arguments: [String], workspace: String) async -> CheckResult
}

extension CheckRunner {
    /// For runners that cannot pass arguments: the command alone.
    public func run(_ check: Check, arguments: [String], workspace: String) async -> CheckResult {
        await run(check, workspace: workspace)
    }
}

public struct CheckResult: Sendable, Equatable {
    public var exitCode: Int32
    public var output: String
    public var durationMs: Int64
    public init(exitCode: Int32, output: String, durationMs: Int64) {
        self.exitCode = exitCode
        self.output = output
        self.durationMs = durationMs
    }
}

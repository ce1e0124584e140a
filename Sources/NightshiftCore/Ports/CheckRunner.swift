import Foundation

/// Runs a task's acceptance checks in the workspace (the harness's job, never the model's).
public protocol CheckRunner: Sendable {
    func run(_ check: Check, workspace: String) async -> CheckResult
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

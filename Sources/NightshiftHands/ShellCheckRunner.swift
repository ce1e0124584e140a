public import NightshiftCore

/// Runs acceptance checks with `/bin/sh -c` in the workspace, the same allowlisted environment as tools.
public struct ShellCheckRunner: CheckRunner {
    /// Bytes of check output kept. Defaults to 16 KiB.
    public var outputBytes: Int
    public let isolation: Isolation
    public init(isolation: Isolation, outputBytes: Int = 16 * 1024) {
        self.isolation = isolation
        self.outputBytes = outputBytes
    }

    public func run(_ check: Check, workspace: String) async -> CheckResult {
        let outcome = await ProcessRunner.run(
            argv: isolation.argv(["/bin/sh", "-c", check.command], workspace: workspace, cwd: workspace),
            environment: ToolEnvironment.make(workspace: workspace),
            cwd: workspace, timeout: .seconds(max(check.timeoutSeconds, 1)), outputLimit: outputBytes,
            maxProcesses: isolation.maxProcesses)
        return CheckResult(exitCode: outcome.exitCode, output: outcome.output, durationMs: outcome.durationMs)
    }
}

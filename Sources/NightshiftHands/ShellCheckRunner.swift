public import NightshiftCore

/// Runs acceptance checks with `/bin/sh -c` in the workspace, the same allowlisted environment as tools.
public struct ShellCheckRunner: CheckRunner {
    /// Bytes of check output kept. Defaults to 16 KiB.
    public var outputBytes: Int
    public init(outputBytes: Int = 16 * 1024) { self.outputBytes = outputBytes }

    public func run(_ check: Check, workspace: String) async -> CheckResult {
        let outcome = await ProcessRunner.run(argv: ["/bin/sh", "-c", check.command], environment: ToolEnvironment.make(workspace: workspace),
                                              cwd: workspace, timeout: .seconds(max(check.timeoutSeconds, 1)), outputLimit: outputBytes)
        return CheckResult(exitCode: outcome.exitCode, output: outcome.output, durationMs: outcome.durationMs)
    }
}

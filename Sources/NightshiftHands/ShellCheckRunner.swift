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
        await run(check, arguments: [], workspace: workspace)
    }

    public func run(_ check: Check, arguments: [String], workspace: String) async -> CheckResult {
        // `sh -c COMMAND NAME ARGS…`: the arguments are $1… inside the command, never parsed as shell.
        let argv = ["/bin/sh", "-c", check.command] + (arguments.isEmpty ? [] : ["nightshift-hook"] + arguments)
        let outcome = await ProcessRunner.run(
            argv: isolation.argv(argv, workspace: workspace, cwd: workspace),
            environment: ToolEnvironment.make(workspace: workspace),
            cwd: workspace, timeout: .seconds(max(check.timeoutSeconds, 1)), outputLimit: outputBytes,
            maxProcesses: isolation.maxProcesses)
        return CheckResult(exitCode: outcome.exitCode, output: outcome.output, durationMs: outcome.durationMs)
    }
}

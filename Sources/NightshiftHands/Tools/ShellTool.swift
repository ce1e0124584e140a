import Foundation
public import NightshiftCore

#if canImport(Glibc)
import Glibc
#endif

public struct ShellTool: TypedTool {
    let limits: ToolLimits
    let isolation: Isolation
    public init(isolation: Isolation, limits: ToolLimits = ToolLimits()) {
        self.isolation = isolation
        self.limits = limits
    }

    public var spec: ToolSpec {
        ToolSpec(
            name: "shell",
            description: "Run a shell command (/bin/sh -c) in the workspace. Returns exit status and output.",
            idempotent: false,
            parametersSchema: """
                {"type":"object","properties":{"command":{"type":"string"},"timeout_seconds":{"type":"integer"},"cwd":{"type":"string","description":"directory relative to the workspace"}},"required":["command"]}
                """,
            traits: .runsCommand)
    }

    /// The command's own timeout (as the call asks, within this tool's limits) plus a minute to
    /// stop it and collect its output.
    public func deadline(for call: ToolCall) -> Duration {
        .seconds(min(max(call.parsed.timeoutSeconds ?? limits.defaultTimeoutSeconds, 1), limits.maxTimeoutSeconds) + 60)
    }

    public struct Args: Decodable {
        var command: String
        var timeout_seconds: Int?
        var cwd: String?
    }

    public func run(_ args: Args, workspace: Workspace, call: CallID) async -> ToolResult {
        var cwd = workspace.root
        if let rel = args.cwd {
            do { cwd = try workspace.resolve(rel) } catch { return .failure("shell: \(error.message)") }
        }
        let timeout = min(max(args.timeout_seconds ?? limits.defaultTimeoutSeconds, 1), limits.maxTimeoutSeconds)
        let outcome = await ProcessRunner.run(
            argv: isolation.argv(["/bin/sh", "-c", args.command], workspace: workspace.root, cwd: cwd),
            environment: ToolEnvironment.make(workspace: workspace.root),
            cwd: cwd, timeout: .seconds(timeout), outputLimit: limits.outputBytes,
            maxProcesses: isolation.maxProcesses)
        var text = outcome.output
        if outcome.timedOut { text += "\n(the command was killed after \(timeout) s)" }
        return ToolResult(
            ok: outcome.exitCode == 0, output: Payload("exit \(outcome.exitCode)\n" + text), exitCode: outcome.exitCode)
    }
}

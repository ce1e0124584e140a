import Foundation
public import NightshiftCore

/// The model's view of version control: status, diff, log, and commit on the run's own branch.
/// Fixed argv (no flags from the model), hooks disabled, no push, no other branch.
public struct GitTool: TypedTool {
    let limits: ToolLimits
    let git: GitWorkspace
    public init(limits: ToolLimits = ToolLimits(), git: GitWorkspace = GitWorkspace()) {
        self.limits = limits
        self.git = git
    }

    /// Its four commands at most, each bounded by git's own timeouts.
    public func deadline(for call: ToolCall) -> Duration { .seconds(300) }

    public var spec: ToolSpec {
        ToolSpec(
            name: "git",
            description:
                "Version control of the workspace: status, diff (against the last commit), log, or commit (with message) on the run's own branch. Never pushes.",
            idempotent: false,
            parametersSchema: """
                {"type":"object","properties":{"command":{"type":"string","enum":["status","diff","log","commit"]},"message":{"type":"string"}},"required":["command"]}
                """)
    }

    public struct Args: Decodable {
        var command: String
        var message: String?
    }

    public func run(_ args: Args, workspace: Workspace, call: CallID) async -> ToolResult {
        guard git.location(workspace: workspace.root) != nil else {
            return .failure("git: the workspace is not a git repository that Nightshift set up for this run")
        }
        func cap(_ o: ProcessOutcome?) -> ToolResult {
            guard let o else { return .failure("git: the workspace is not a git repository") }
            return ToolResult(
                ok: o.exitCode == 0, output: Payload(o.output.isEmpty ? "(no output)" : o.output), exitCode: o.exitCode)
        }
        switch args.command {
        case "status": return cap(await git.run(["status", "--short", "--branch"], workspace: workspace.root))
        case "diff":
            return cap(await git.run(["diff", "--no-ext-diff", "--no-textconv", "HEAD"], workspace: workspace.root))
        case "log":
            return cap(
                await git.run(["log", "--no-show-signature", "--oneline", "-n", "20"], workspace: workspace.root))
        case "commit":
            guard let message = args.message, !message.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                return .failure("git: commit needs a message")
            }
            let branch =
                (await git.run(["rev-parse", "--abbrev-ref", "HEAD"], workspace: workspace.root))?.output
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            guard branch.hasPrefix("nightshift/") else {
                return .failure(
                    "git: refused: commits go only to the run's own nightshift/ branch, and this checkout is on '\(branch)'"
                )
            }
            let result = await git.commit(workspace: workspace.root, message: message)
            return result.commit.map {
                ToolResult(ok: true, output: Payload("committed \($0.prefix(12)) on \(branch)"))
            }
                ?? .failure("git: \(result.detail)")
        default:
            return .failure("git: unknown command '\(args.command)'; use status, diff, log or commit")
        }
    }
}

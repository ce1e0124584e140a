public import NightshiftCore
import Foundation

/// Git for run workspaces: a dedicated worktree on its own branch per run (parallel runs never
/// share a checkout), reattached after a restart and never silently recreated, and a commit to
/// that branch after each finished task. It never pushes and never touches other branches.
public struct GitWorkspace: WorkspaceVCS {
    public init() {}

    public struct Provisioned: Sendable, Equatable {
        public var path: String
        public var branch: String
        public var base: String
    }

    static func git(_ args: [String], in dir: String) async -> ProcessOutcome {
        var env = ToolEnvironment.make(workspace: dir)
        env["GIT_TERMINAL_PROMPT"] = "0"
        return await ProcessRunner.run(argv: ["/usr/bin/git", "-c", "user.name=Nightshift", "-c", "user.email=nightshift@localhost",
                                              "-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null"] + args,
                                       environment: env, cwd: dir, timeout: .seconds(60), outputLimit: 16 * 1024)
    }

    /// Makes `dir` a repository with everything in it committed (the demo's sample project). Best effort.
    public static func initialCommit(_ dir: String, message: String) async {
        for args in [["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", message]] { _ = await git(args, in: dir) }
    }

    /// The top of the git work tree containing `dir`, or nil when it is not in one.
    public static func repositoryRoot(_ dir: String) async -> String? {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/git") else { return nil }
        let r = await git(["rev-parse", "--show-toplevel"], in: dir)
        return r.exitCode == 0 ? r.output.trimmingCharacters(in: .whitespacesAndNewlines) : nil
    }

    /// Creates (or reattaches) the worktree `worktreesRoot/RUN` on branch `nightshift/RUN` from the repository's HEAD.
    /// - Throws: ``WorkspaceError`` when git fails or the path holds something else.
    public static func provision(repository: String, run: RunID, worktreesRoot: String) async throws(WorkspaceError) -> Provisioned {
        let path = plannedPath(run: run, worktreesRoot: worktreesRoot)
        let branch = "nightshift/\(run.rawValue)"
        if FileManager.default.fileExists(atPath: path) {
            return try await reattach(path: path, branch: branch)
        }
        do { try FileManager.default.createDirectory(atPath: worktreesRoot, withIntermediateDirectories: true) } catch {
            throw WorkspaceError("cannot create \(worktreesRoot): \(error.localizedDescription)")
        }
        let head = await git(["rev-parse", "HEAD"], in: repository)
        guard head.exitCode == 0 else {
            throw WorkspaceError("the repository \(repository) has no commit yet; commit once, or pass --no-worktree to work in it directly")
        }
        let base = head.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let add = await git(["worktree", "add", "-b", branch, path, base], in: repository)
        guard add.exitCode == 0 else { throw WorkspaceError("git worktree add failed: \(add.output.prefix(300))") }
        return Provisioned(path: path, branch: branch, base: base)
    }

    /// Makes the run's worktree again from scratch, for a run that died while it was being made:
    /// nothing was recorded as done in it (tools wait for `workspace_provisioned`), so a half
    /// checked-out folder and the run's own branch are removed and made anew. Anything at the
    /// path that is not a worktree of this repository is left alone and reported.
    public static func remake(repository: String, run: RunID, worktreesRoot: String) async throws(WorkspaceError) -> Provisioned {
        let path = plannedPath(run: run, worktreesRoot: worktreesRoot)
        if FileManager.default.fileExists(atPath: path) {
            let removed = await git(["worktree", "remove", "--force", "--force", path], in: repository)
            guard removed.exitCode == 0 else {
                throw WorkspaceError("\(path) exists but is not a worktree of \(repository); move it away and resume again")
            }
        }
        _ = await git(["worktree", "prune"], in: repository)
        _ = await git(["branch", "-D", "nightshift/\(run.rawValue)"], in: repository)
        return try await provision(repository: repository, run: run, worktreesRoot: worktreesRoot)
    }

    /// Where `provision` puts the run's worktree (known before it is made, so a run can be created first).
    public static func plannedPath(run: RunID, worktreesRoot: String) -> String {
        URL(fileURLWithPath: worktreesRoot).appendingPathComponent(run.rawValue).standardizedFileURL.path
    }

    /// Checks that `path` is still the run's worktree on its branch.
    public static func reattach(path: String, branch: String) async throws(WorkspaceError) -> Provisioned {
        let current = await git(["rev-parse", "--abbrev-ref", "HEAD"], in: path)
        guard current.exitCode == 0, current.output.trimmingCharacters(in: .whitespacesAndNewlines) == branch else {
            throw WorkspaceError("\(path) exists but is not the worktree of branch \(branch); move it away or pass --no-worktree")
        }
        let base = await git(["rev-parse", "HEAD"], in: path)
        return Provisioned(path: path, branch: branch, base: base.output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The uncommitted change of the workspace, new files included, for the judge. Read-only: the
    /// index is not touched (the workspace may be the user's own checkout with --no-worktree).
    public func diff(workspace: String) async -> String? {
        guard await Self.git(["rev-parse", "--is-inside-work-tree"], in: workspace).exitCode == 0 else { return nil }
        // The views Nightshift writes from the log are not the worker's change.
        let views = [":(exclude)PROGRESS.md", ":(exclude)PLAN.md", ":(exclude)REPORT.md"]
        var out = (await Self.git(["diff", "HEAD", "--stat", "--", "."] + views, in: workspace)).output
        out += (await Self.git(["diff", "HEAD", "--", "."] + views, in: workspace)).output
        let untracked = (await Self.git(["ls-files", "--others", "--exclude-standard", "--", "."] + views, in: workspace)).output
            .split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        for file in untracked.prefix(50) {
            out += (await Self.git(["diff", "--no-index", "--", "/dev/null", file], in: workspace)).output
        }
        if untracked.count > 50 { out += "\n[… and \(untracked.count - 50) more new files]\n" }
        return out
    }

    public func diffSummary(workspace: String) async -> String? {
        guard await Self.git(["rev-parse", "--is-inside-work-tree"], in: workspace).exitCode == 0 else { return nil }
        let views = [":(exclude)PROGRESS.md", ":(exclude)PLAN.md", ":(exclude)REPORT.md"]
        let stat = (await Self.git(["diff", "HEAD", "--stat", "--", "."] + views, in: workspace)).output
        let untracked = (await Self.git(["ls-files", "--others", "--exclude-standard", "--", "."] + views, in: workspace)).output
            .split(separator: "\n").filter { !$0.isEmpty }
        guard !stat.isEmpty || !untracked.isEmpty else { return "no uncommitted changes" }
        return stat + (untracked.isEmpty ? "" : "new files: " + untracked.prefix(30).joined(separator: ", ")
                       + (untracked.count > 30 ? " and \(untracked.count - 30) more" : "") + "\n")
    }

    public func commit(workspace: String, message: String) async -> (commit: String?, detail: String) {
        let add = await Self.git(["add", "-A"], in: workspace)
        guard add.exitCode == 0 else { return (nil, "git add failed: \(add.output.prefix(300))") }
        let status = await Self.git(["status", "--porcelain"], in: workspace)
        if status.exitCode == 0, status.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            return (nil, "nothing to commit")
        }
        let commit = await Self.git(["commit", "-q", "-m", message], in: workspace)
        guard commit.exitCode == 0 else { return (nil, "git commit failed: \(commit.output.prefix(300))") }
        let head = await Self.git(["rev-parse", "HEAD"], in: workspace)
        return (head.output.trimmingCharacters(in: .whitespacesAndNewlines), "committed")
    }
}

/// The model's view of version control: status, diff, log, and commit on the run's own branch.
/// Fixed argv (no flags from the model), hooks disabled, no push, no other branch.
public struct GitTool: TypedTool {
    let limits: ToolLimits
    public init(limits: ToolLimits = ToolLimits()) { self.limits = limits }

    public var spec: ToolSpec {
        ToolSpec(name: "git", description: "Version control of the workspace: status, diff (against the last commit), log, or commit (with message) on the run's own branch. Never pushes.",
                 idempotent: false, parametersSchema: """
                 {"type":"object","properties":{"command":{"type":"string","enum":["status","diff","log","commit"]},"message":{"type":"string"}},"required":["command"]}
                 """)
    }

    public struct Args: Decodable { var command: String; var message: String? }

    public func run(_ args: Args, workspace: Workspace, call: CallID) async -> ToolResult {
        guard await GitWorkspace.repositoryRoot(workspace.root) != nil else {
            return .failure("git: the workspace is not a git repository")
        }
        func cap(_ o: ProcessOutcome) -> ToolResult {
            ToolResult(ok: o.exitCode == 0, output: Payload(o.output.isEmpty ? "(no output)" : o.output), exitCode: o.exitCode)
        }
        switch args.command {
        case "status": return cap(await GitWorkspace.git(["status", "--short", "--branch"], in: workspace.root))
        case "diff": return cap(await GitWorkspace.git(["diff", "HEAD"], in: workspace.root))
        case "log": return cap(await GitWorkspace.git(["log", "--oneline", "-n", "20"], in: workspace.root))
        case "commit":
            guard let message = args.message, !message.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                return .failure("git: commit needs a message")
            }
            let branch = await GitWorkspace.git(["rev-parse", "--abbrev-ref", "HEAD"], in: workspace.root).output
                .trimmingCharacters(in: .whitespacesAndNewlines)
            guard branch.hasPrefix("nightshift/") else {
                return .failure("git: refused: commits go only to the run's own nightshift/ branch, and this checkout is on '\(branch)'")
            }
            let result = await GitWorkspace().commit(workspace: workspace.root, message: message)
            return result.commit.map { ToolResult(ok: true, output: Payload("committed \($0.prefix(12)) on \(branch)")) }
                ?? .failure("git: \(result.detail)")
        default:
            return .failure("git: unknown command '\(args.command)'; use status, diff, log or commit")
        }
    }
}

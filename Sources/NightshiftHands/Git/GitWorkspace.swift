import Foundation
public import NightshiftCore

/// Git for run workspaces: a dedicated worktree on its own branch per run (parallel runs never
/// share a checkout), reattached after a restart and never silently recreated, and a commit to
/// that branch after each finished task. It never pushes and never touches other branches.
///
/// Git runs outside the sandbox, as Nightshift's user, and git executes commands named in its
/// configuration (`core.fsmonitor`, filters, external diffs, pagers, hooks…). So every git this
/// type runs reads no configuration the agent could have written: an empty private `HOME` and
/// `XDG_CONFIG_HOME`, no system or global file, `-c` overrides for every key that executes, and,
/// for the run's own workspace, a git directory fixed from what was true before any tool ran
/// (``Trust``), never one discovered in the agent's folder (an agent could make a `.git` there).
public struct GitWorkspace: WorkspaceVCS {
    /// Which git directory Nightshift's git may use for a run's workspace.
    public enum Trust: Sendable, Equatable {
        /// A worktree Nightshift made: its `.git` file names the git directory inside the user's
        /// repository. The agent cannot change that file (the sandbox binds it read-only and file
        /// tools refuse `.git`), and the directory it names must lie outside the workspace.
        case worktree
        /// A repository that existed before the run started (`--no-worktree`), recorded in the
        /// run's settings: its git directory and the top of its work tree.
        case repository(RunSettings.GitLocation)
        /// Not under git: Nightshift runs no git there (no diff for the judge, no commits).
        case none
    }

    public let trust: Trust
    /// Workspace-relative paths of Nightshift's configuration that commits leave out (besides any
    /// `.nightshift` folder, always left out): the agent may not put configuration on a branch.
    public let sealed: [String]

    public init(trust: Trust = .worktree, sealed: [String] = []) {
        self.trust = trust
        self.sealed = sealed
    }

    public struct Provisioned: Sendable, Equatable {
        public var path: String
        public var branch: String
        public var base: String
    }

    /// An empty folder of Nightshift's own, for HOME, XDG_CONFIG_HOME and the hooks path.
    static let emptyHome: String = {
        guard let dir = PrivateFolder.path else { return "/nonexistent" }
        let home = dir + "/git-home"
        _ = mkdir(home, 0o700)
        return home
    }()

    /// Overrides for every configuration key that makes git run a command or a pager, so even a
    /// repository configuration that sets them executes nothing.
    static let safetyOverrides: [String] = [
        "core.fsmonitor=false", "core.hooksPath=\(emptyHome)/no-hooks", "core.pager=cat", "core.editor=:",
        "core.sshCommand=false", "core.askPass=", "core.gitProxy=", "core.alternateRefsCommand=", "credential.helper=",
        "diff.external=", "log.showSignature=false", "commit.gpgSign=false", "tag.gpgSign=false", "gpg.program=false",
        "protocol.allow=never", "submodule.recurse=false", "core.untrackedCache=false", "uploadpack.packObjectsHook=",
        "user.name=Nightshift", "user.email=nightshift@localhost",
    ]

    /// The environment of every git Nightshift runs: nothing inherited, no configuration file but
    /// the repository's own.
    static var environment: [String: String] {
        [
            "PATH": "/usr/bin:/bin", "HOME": emptyHome, "XDG_CONFIG_HOME": emptyHome, "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_ATTR_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat",
            "PAGER": "cat", "GIT_OPTIONAL_LOCKS": "0", "GIT_NO_REPLACE_OBJECTS": "1", "LANG": "C.UTF-8",
        ]
    }

    /// Runs git in `dir` with the safe environment and overrides; `location` fixes the git
    /// directory and work tree instead of letting git discover them from `dir`.
    static func git(
        _ args: [String], in dir: String, location: RunSettings.GitLocation? = nil, outputLimit: Int = 16 * 1024
    ) async -> ProcessOutcome {
        var argv = ["/usr/bin/git"]
        for o in safetyOverrides { argv += ["-c", o] }
        if let location { argv += ["--git-dir=\(location.gitDir)", "--work-tree=\(location.workTree)"] }
        // A stop (a cancelled drive) ends git with SIGTERM, on which git removes its locks (an
        // index.lock left behind would fail every later commit), and SIGKILL only if it lingers.
        return await ProcessRunner.run(
            argv: argv + args, environment: environment, cwd: dir, timeout: .seconds(60), outputLimit: outputLimit)
    }

    /// The git directory and work tree to use for `workspace`, by ``trust``; nil: run no git there.
    public func location(workspace: String) -> RunSettings.GitLocation? {
        switch trust {
        case .none: return nil
        case let .repository(location): return location
        case .worktree: return Self.worktreeLocation(workspace)
        }
    }

    /// Reads a worktree's `.git` file ("gitdir: PATH", relative to the worktree or absolute).
    /// Refuses a link, a folder, or a git directory inside the workspace: none of those is what
    /// `git worktree add` wrote.
    static func worktreeLocation(_ workspace: String) -> RunSettings.GitLocation? {
        let dotGit = workspace + "/.git"
        var st = stat()
        guard lstat(dotGit, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size < 4096,
            let text = try? String(contentsOfFile: dotGit, encoding: .utf8), text.hasPrefix("gitdir: ")
        else { return nil }
        var gitDir = text.dropFirst("gitdir: ".count).trimmingCharacters(in: .whitespacesAndNewlines)
        if !gitDir.hasPrefix("/") { gitDir = workspace + "/" + gitDir }
        guard let real = Workspace.realPath(gitDir), let root = Workspace.realPath(workspace),
            real != root, !real.hasPrefix(root + "/")
        else { return nil }
        return RunSettings.GitLocation(gitDir: real, workTree: root)
    }

    /// Where `dir`'s repository keeps its git directory and work tree, found by git itself, for a
    /// run started with `--no-worktree` (before any tool ran, so the agent has written nothing yet).
    public static func discover(_ dir: String) async -> RunSettings.GitLocation? {
        let r = await git(["rev-parse", "--absolute-git-dir", "--show-toplevel"], in: dir)
        let lines = r.output.split(separator: "\n").map(String.init)
        guard r.exitCode == 0, lines.count == 2 else { return nil }
        return RunSettings.GitLocation(gitDir: lines[0], workTree: lines[1])
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

    /// Creates (or reattaches) the worktree `worktreesRoot/RUN` on branch `nightshift/RUN` from the
    /// repository's HEAD, or from `from` (a branch: a sub-agent starts from its parent's work).
    /// - Throws: ``WorkspaceError`` when git fails or the path holds something else.
    public static func provision(
        repository: String, run: RunID, worktreesRoot: String, from: String? = nil
    ) async throws(WorkspaceError) -> Provisioned {
        let path = plannedPath(run: run, worktreesRoot: worktreesRoot)
        let branch = "nightshift/\(run.rawValue)"
        if FileManager.default.fileExists(atPath: path) {
            return try await reattach(path: path, branch: branch)
        }
        do { try FileManager.default.createDirectory(atPath: worktreesRoot, withIntermediateDirectories: true) } catch {
            throw WorkspaceError("cannot create \(worktreesRoot): \(error.localizedDescription)", code: .git)
        }
        let head = await git(
            ["rev-parse", "--verify", "--quiet", (from.map { "refs/heads/" + $0 } ?? "HEAD") + "^{commit}"],
            in: repository)
        if let from, head.exitCode != 0 {
            throw WorkspaceError("the branch \(from) to start from does not exist in \(repository)", code: .git)
        }
        guard head.exitCode == 0 else {
            throw WorkspaceError(
                "the repository \(repository) has no commit yet; commit once, or pass --no-worktree to work in it directly",
                code: .git)
        }
        let base = head.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let add = await WorktreeLock.shared.serialized {
            await git(["worktree", "add", "-b", branch, path, base], in: repository)
        }
        guard add.exitCode == 0 else {
            throw WorkspaceError("git worktree add failed: \(add.output.prefix(300))", code: .git)
        }
        return Provisioned(path: path, branch: branch, base: base)
    }

    /// Makes the run's worktree again from scratch, for a run that died while it was being made:
    /// nothing was recorded as done in it (tools wait for `workspace_provisioned`), so a half
    /// checked-out folder and the run's own branch are removed and made anew. Anything at the
    /// path that is not a worktree of this repository is left alone and reported.
    public static func remake(
        repository: String, run: RunID, worktreesRoot: String, from: String? = nil
    ) async throws(WorkspaceError) -> Provisioned {
        let path = plannedPath(run: run, worktreesRoot: worktreesRoot)
        let branch = "nightshift/\(run.rawValue)"
        let cleared: Bool = await WorktreeLock.shared.serialized {
            if FileManager.default.fileExists(atPath: path) {
                let removed = await git(["worktree", "remove", "--force", "--force", path], in: repository)
                guard removed.exitCode == 0 else { return false }
            }
            // Only what an earlier attempt left: the registration of this path, if its folder is gone
            // (nothing else is pruned: another host's worktree, or one on a disk not mounted, stays).
            if await git(["rev-parse", "--verify", "-q", "refs/heads/\(branch)"], in: repository).exitCode == 0 {
                _ = await git(["worktree", "remove", "--force", "--force", path], in: repository)
                _ = await git(["branch", "-D", branch], in: repository)
            }
            return true
        }
        guard cleared else {
            throw WorkspaceError(
                "\(path) exists but is not a worktree of \(repository); move it away and resume again", code: .git)
        }
        return try await provision(repository: repository, run: run, worktreesRoot: worktreesRoot, from: from)
    }

    /// Makes a run's worktree again at `path`, from its branch as the repository holds it (the
    /// work committed so far), for a process whose workspace home is not where the run last was
    /// (another host, another folder), or whose worktree folder is gone. The branch must still hold
    /// every commit the run recorded. Something already at `path` is taken only if it is a worktree
    /// of `repository` registered there on that branch (a move a crash interrupted: nothing was
    /// recorded in it, so it is made again); anything else is left alone and refused. Nothing else
    /// in the repository is pruned: a registration of the worktree that is gone stays for its host.
    /// Returns the commit.
    /// - Throws: ``WorkspaceError`` when the branch is missing or rewritten, the path holds
    ///   something else, or git fails.
    public static func materialise(
        repository: String, branch: String, path: String, holding commits: [String]
    ) async throws(WorkspaceError) -> String {
        let tip = await git(["rev-parse", "--verify", "--quiet", "refs/heads/\(branch)^{commit}"], in: repository)
        guard tip.exitCode == 0 else {
            throw WorkspaceError(
                "the run's branch \(branch) is not in \(repository): its work cannot be found there (a branch that "
                    + "exists only as a remote's can be made local with git branch \(branch) origin/\(branch))",
                code: .git)
        }
        let head = tip.output.trimmingCharacters(in: .whitespacesAndNewlines)
        for commit in commits {
            let held = await git(["merge-base", "--is-ancestor", commit, head], in: repository)
            guard held.exitCode == 0 else {
                throw WorkspaceError(
                    "the branch \(branch) in \(repository) no longer holds commit \(commit.prefix(12)), which the run "
                        + "recorded: it was reset or rewritten; restore it, then resume", code: .git)
            }
        }
        var info = stat()
        if lstat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR,
                await isRegisteredWorktree(path, branch: branch, repository: repository)
            else {
                throw WorkspaceError(
                    "\(path) exists but is not a worktree of \(repository) on branch \(branch); move it away and resume",
                    code: .git)
            }
            let removed = await WorktreeLock.shared.serialized {
                await git(["worktree", "remove", "--force", "--force", path], in: repository)
            }
            guard removed.exitCode == 0 else {
                throw WorkspaceError("git worktree remove failed: \(removed.output.prefix(300))", code: .git)
            }
        }
        do {
            try FileManager.default.createDirectory(
                atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path, withIntermediateDirectories: true)
        } catch {
            throw WorkspaceError(
                "cannot create the workspace home \(URL(fileURLWithPath: path).deletingLastPathComponent().path): "
                    + "\((error as NSError).localizedFailureReason ?? "\(error)")", code: .git)
        }
        // A checkout of the branch that is here and alive (a person's, or another worktree) is
        // never doubled: the run's commits would move the branch under it.
        if let live = await registeredWorktrees(repository).first(where: {
            $0.branch == branch && Workspace.canonical($0.path) != Workspace.canonical(path)
                && FileManager.default.fileExists(atPath: $0.path)
        }) {
            throw WorkspaceError(
                "the run's branch \(branch) is checked out at \(live.path); switch that checkout to another branch "
                    + "(or remove it), then resume", code: .git)
        }
        // Forced: the branch may still be registered to the worktree that is gone (here, or on
        // another host's path), possibly locked by an add a kill interrupted.
        let add = await WorktreeLock.shared.serialized {
            await git(["worktree", "add", "--force", "--force", path, branch], in: repository)
        }
        guard add.exitCode == 0 else {
            throw WorkspaceError("git worktree add failed: \(add.output.prefix(300))", code: .git)
        }
        return head
    }

    /// The worktrees `repository` has registered, as its own list says (nothing found in a folder
    /// is believed): each one's path and branch. (Line-separated: the process runner keeps no
    /// NUL bytes. A path with a line break in it could read as two entries, but `worktree remove`
    /// checks the folder's own link back to the repository before it removes anything.)
    static func registeredWorktrees(_ repository: String) async -> [(path: String, branch: String?)] {
        let list = await git(["worktree", "list", "--porcelain"], in: repository)
        guard list.exitCode == 0 else { return [] }
        var found: [(path: String, branch: String?)] = []
        for field in list.output.split(separator: "\n") {
            if field.hasPrefix("worktree ") {
                found.append((String(field.dropFirst(9)), nil))
            } else if field.hasPrefix("branch refs/heads/"), !found.isEmpty {
                found[found.count - 1].branch = String(field.dropFirst(18))
            }
        }
        return found
    }

    /// Whether `repository` has a worktree registered at `path` on `branch`.
    static func isRegisteredWorktree(_ path: String, branch: String, repository: String) async -> Bool {
        let wanted = Workspace.canonical(path)
        return await registeredWorktrees(repository).contains {
            Workspace.canonical($0.path) == wanted && $0.branch == branch
        }
    }

    /// Where `provision` puts the run's worktree (known before it is made, so a run can be created first).
    public static func plannedPath(run: RunID, worktreesRoot: String) -> String {
        URL(fileURLWithPath: worktreesRoot).appendingPathComponent(run.rawValue).standardizedFileURL.path
    }

    /// Checks that `path` is still the run's worktree on its branch.
    public static func reattach(path: String, branch: String) async throws(WorkspaceError) -> Provisioned {
        let current = await git(["rev-parse", "--abbrev-ref", "HEAD"], in: path)
        guard current.exitCode == 0, current.output.trimmingCharacters(in: .whitespacesAndNewlines) == branch else {
            throw WorkspaceError(
                "\(path) exists but is not the worktree of branch \(branch); move it away or pass --no-worktree",
                code: .git)
        }
        let base = await git(["rev-parse", "HEAD"], in: path)
        return Provisioned(
            path: path, branch: branch, base: base.output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The work committed on a run's `branch` since its `base` in the person's `repository`
    /// (`git diff base branch`, with a summary first), at most `limit` bytes: a run's diff for a
    /// person to read. Both come from the run's log, never from the workspace; nil when git
    /// cannot read them.
    public static func committedDiff(
        repository: String, base: String, branch: String, limit: Int = 200_000
    ) async -> String? {
        guard !base.isEmpty, base.allSatisfy(\.isHexDigit), !branch.isEmpty, !branch.hasPrefix("-") else {
            return nil
        }
        let diff = ["diff", "--no-ext-diff", "--no-textconv", "--no-color"]
        let stat = await git(diff + ["--stat", "--end-of-options", base, branch, "--"], in: repository)
        guard stat.exitCode == 0 else { return nil }
        let full = await git(diff + ["--end-of-options", base, branch, "--"], in: repository, outputLimit: limit + 1)
        guard full.exitCode == 0 else { return nil }
        let text = stat.output + "\n" + full.output
        guard text.utf8.count > limit else { return text }
        return String(decoding: Array(text.utf8.prefix(limit)), as: UTF8.self)
            + "\n[… cut at \(limit) bytes: git diff \(base) \(branch) in \(repository) shows the rest]\n"
    }

    /// The uncommitted change of the workspace, new files included, for the judge. Read-only: the
    /// index is not touched (the workspace may be the user's own checkout with --no-worktree).
    /// git for the run's workspace, with the trusted git directory; nil when the workspace is not under git.
    func run(_ args: [String], workspace: String) async -> ProcessOutcome? {
        guard let location = location(workspace: workspace) else { return nil }
        return await Self.git(args, in: workspace, location: location)
    }

    public func diff(workspace: String) async -> String? {
        guard let probe = await run(["rev-parse", "--verify", "-q", "HEAD"], workspace: workspace), probe.exitCode == 0
        else { return nil }
        // The views Nightshift writes from the log are not the worker's change.
        let views = [":(exclude)PROGRESS.md", ":(exclude)PLAN.md", ":(exclude)REPORT.md"]
        let diff = ["diff", "--no-ext-diff", "--no-textconv"]
        var out = (await run(diff + ["HEAD", "--stat", "--", "."] + views, workspace: workspace))?.output ?? ""
        out += (await run(diff + ["HEAD", "--", "."] + views, workspace: workspace))?.output ?? ""
        let untracked =
            ((await run(["ls-files", "--others", "--exclude-standard", "--", "."] + views, workspace: workspace))?
            .output ?? "")
            .split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        for file in untracked.prefix(50) {
            out += (await run(diff + ["--no-index", "--", "/dev/null", file], workspace: workspace))?.output ?? ""
        }
        if untracked.count > 50 { out += "\n[… and \(untracked.count - 50) more new files]\n" }
        return out
    }

    public func diffSummary(workspace: String) async -> String? {
        guard let probe = await run(["rev-parse", "--verify", "-q", "HEAD"], workspace: workspace), probe.exitCode == 0
        else { return nil }
        let views = [":(exclude)PROGRESS.md", ":(exclude)PLAN.md", ":(exclude)REPORT.md"]
        let stat =
            (await run(
                ["diff", "--no-ext-diff", "--no-textconv", "HEAD", "--stat", "--", "."] + views, workspace: workspace))?
            .output ?? ""
        let untracked =
            ((await run(["ls-files", "--others", "--exclude-standard", "--", "."] + views, workspace: workspace))?
            .output ?? "")
            .split(separator: "\n").filter { !$0.isEmpty }
        guard !stat.isEmpty || !untracked.isEmpty else { return "no uncommitted changes" }
        return stat
            + (untracked.isEmpty
                ? ""
                : "new files: " + untracked.prefix(30).joined(separator: ", ")
                    + (untracked.count > 30 ? " and \(untracked.count - 30) more" : "") + "\n")
    }

    /// The views Nightshift writes from the log: never part of the work (not diffed, not committed,
    /// so two workers' branches never conflict over them).
    static let viewExclusions = [":(exclude)PROGRESS.md", ":(exclude)PLAN.md", ":(exclude)REPORT.md"]

    /// Nightshift's configuration, left out of every commit Nightshift makes: any `.nightshift`
    /// folder (in any case, at any depth) and the run's sealed paths. A configuration file the agent
    /// wrote stays in the workspace, uncommitted, and never reaches a branch a person merges.
    var configurationExclusions: [String] {
        [":(exclude,glob,icase)**/.nightshift", ":(exclude,glob,icase)**/.nightshift/**"]
            + sealed.filter { !$0.isEmpty && $0 != ".nightshift" }.flatMap {
                [":(exclude,literal)\($0)", ":(exclude,glob)\(Self.globEscaped($0))/**"]
            }
    }

    /// `path` with git's glob characters escaped.
    static func globEscaped(_ path: String) -> String {
        var out = ""
        for c in path {
            if "*?[]\\".contains(c) { out.append("\\") }
            out.append(c)
        }
        return out
    }

    public func commit(workspace: String, message: String) async -> (commit: String?, detail: String) {
        guard
            let add = await run(
                ["add", "-A", "--", "."] + Self.viewExclusions + configurationExclusions, workspace: workspace)
        else {
            return (nil, "not a git repository that Nightshift set up for this run")
        }
        guard add.exitCode == 0 else { return (nil, "git add failed: \(add.output.prefix(300))") }
        // Nothing staged (exit 0): nothing to commit, unless this very commit was made before the
        // process stopped and was not recorded: HEAD is it (its message names the task).
        if let staged = await run(["diff", "--cached", "--quiet"], workspace: workspace), staged.exitCode == 0 {
            if let last = await run(["log", "-1", "--format=%B", "HEAD"], workspace: workspace), last.exitCode == 0,
                last.output.trimmingCharacters(in: .whitespacesAndNewlines)
                    == message.trimmingCharacters(in: .whitespacesAndNewlines),
                let head = await run(["rev-parse", "HEAD"], workspace: workspace), head.exitCode == 0
            {
                return (
                    head.output.trimmingCharacters(in: .whitespacesAndNewlines), "committed before the process stopped"
                )
            }
            return (nil, "nothing to commit")
        }
        guard let commit = await run(["commit", "-q", "--no-verify", "-m", message], workspace: workspace),
            commit.exitCode == 0
        else {
            return (nil, "git commit failed")
        }
        let head = await run(["rev-parse", "HEAD"], workspace: workspace)
        return (head?.output.trimmingCharacters(in: .whitespacesAndNewlines), "committed")
    }

    // MARK: - The merge queue

    /// Where a workspace's merges are made: a worktree beside it, of its own name (no run's id ends so).
    static func scratchPath(_ workspace: String) -> String { workspace + ".merge" }

    public func prepareMerge(branch: String, workspace: String, message: String) async throws -> MergePrepared {
        guard let location = location(workspace: workspace) else {
            throw WorkspaceError("\(workspace) is not a git worktree Nightshift set up", code: .git)
        }
        func git(_ args: [String]) async -> ProcessOutcome { await Self.git(args, in: workspace, location: location) }
        func text(_ r: ProcessOutcome) -> String { r.output.trimmingCharacters(in: .whitespacesAndNewlines) }
        let head = await git(["rev-parse", "--verify", "-q", "HEAD^{commit}"])
        guard head.exitCode == 0 else { throw WorkspaceError("the run's branch has no commit", code: .git) }
        let tip = await git(["rev-parse", "--verify", "-q", "refs/heads/\(branch)^{commit}"])
        guard tip.exitCode == 0 else { return .rejected("the branch \(branch) does not exist") }
        // A scratch worktree a crash left (after the branch moved, say) goes first, whatever comes next:
        // cleaning up is part of the merge, which runs again after a crash until it is recorded.
        let scratch = Self.scratchPath(workspace)
        await discardMerge(scratch: scratch, workspace: workspace)
        // Already in the branch: merged before a crash, or the worker committed nothing.
        if await git(["merge-base", "--is-ancestor", text(tip), text(head)]).exitCode == 0 {
            return .alreadyMerged(head: text(head))
        }
        let headCommit = text(head)
        let add = await WorktreeLock.shared.serialized {
            await Self.git(["worktree", "add", "--detach", scratch, headCommit], in: workspace, location: location)
        }
        guard add.exitCode == 0 else {
            throw WorkspaceError("git worktree add for the merge failed: \(add.output.prefix(300))", code: .git)
        }
        guard let scratchLocation = Self.worktreeLocation(scratch) else {
            await discardMerge(scratch: scratch, workspace: workspace)
            throw WorkspaceError("the merge worktree \(scratch) is not one git made", code: .git)
        }
        func inScratch(_ args: [String]) async -> ProcessOutcome {
            await Self.git(args, in: scratch, location: scratchLocation)
        }
        let merge = await inScratch(["merge", "--no-ff", "--no-edit", "-m", message, text(tip)])
        guard merge.exitCode == 0 else {
            let conflicted = text(await inScratch(["diff", "--name-only", "--diff-filter=U"]))
            await discardMerge(scratch: scratch, workspace: workspace)
            let files = conflicted.split(separator: "\n").prefix(50).joined(separator: ", ")
            return .rejected(
                (files.isEmpty ? "" : "conflicting files: \(files)\n") + String(merge.output.suffix(1500)))
        }
        let merged = await inScratch(["rev-parse", "HEAD"])
        guard merged.exitCode == 0 else {
            await discardMerge(scratch: scratch, workspace: workspace)
            throw WorkspaceError("reading the merge commit failed", code: .git)
        }
        return .ready(scratch: scratch, base: text(head), merged: text(merged))
    }

    public func advance(workspace: String, from base: String, to merged: String) async throws -> Bool {
        guard let location = location(workspace: workspace) else {
            throw WorkspaceError("\(workspace) is not a git worktree Nightshift set up", code: .git)
        }
        let ref = await Self.git(["symbolic-ref", "-q", "HEAD"], in: workspace, location: location)
        let name = ref.output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard ref.exitCode == 0, name.hasPrefix("refs/heads/") else {
            throw WorkspaceError("the run's workspace is not on a branch", code: .git)
        }
        // The compare-and-swap: git moves the ref only if it still names `base`.
        let update = await Self.git(
            ["update-ref", "-m", "nightshift: merge queue", name, merged, base], in: workspace, location: location)
        guard update.exitCode == 0 else { return false }
        TestStop.at(.mergeAdvanced)
        // The run's own checkout follows its branch (nothing of the parent's own is in it to lose).
        let reset = await Self.git(["reset", "-q", "--hard", merged], in: workspace, location: location)
        guard reset.exitCode == 0 else {
            throw WorkspaceError(
                "the branch moved, but its checkout did not follow: \(reset.output.prefix(300))", code: .git)
        }
        return true
    }

    public func discardMerge(scratch: String, workspace: String) async {
        guard let location = location(workspace: workspace) else { return }
        await WorktreeLock.shared.serialized { await removeScratch(scratch, workspace: workspace, location: location) }
    }

    private func removeScratch(_ scratch: String, workspace: String, location: RunSettings.GitLocation) async {
        if FileManager.default.fileExists(atPath: scratch) {
            _ = await Self.git(
                ["worktree", "remove", "--force", "--force", scratch], in: workspace, location: location)
        }
        // Left half made by a crash (git does not know it): the folder is the queue's own.
        if FileManager.default.fileExists(atPath: scratch), scratch == Self.scratchPath(workspace) {
            try? FileManager.default.removeItem(atPath: scratch)
        }
        // The scratch's own registration, whose folder is gone now: only it is forgotten (a prune
        // would also drop other hosts' worktrees, and ones on a disk not mounted).
        _ = await Self.git(["worktree", "remove", "--force", "--force", scratch], in: workspace, location: location)
    }
}

/// Serialises this process's changes to worktrees (add, remove, prune): git does not, and a prune
/// or an add running beside another add can read or remove that one's half-written entry.
actor WorktreeLock {
    static let shared = WorktreeLock()
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func serialized<T: Sendable>(_ body: @Sendable () async -> T) async -> T {
        await acquire()
        let result = await body()
        release()
        return result
    }

    private func acquire() async {
        if !busy {
            busy = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    private func release() {
        if waiting.isEmpty {
            busy = false
        } else {
            waiting.removeFirst().resume()  // handed on: still busy
        }
    }
}

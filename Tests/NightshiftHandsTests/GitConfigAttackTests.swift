import Foundation
import NightshiftCore
import NightshiftHands
import Testing

/// Nightshift's own git runs on the host, as Nightshift's user. An agent that writes git
/// configuration into its workspace (where `HOME` pointed) or makes a `.git` of its own must not
/// get a command run by it: not by the harness's task commit, the judge's diff, the git tool, or
/// a human reading `nightshift inbox`.
@Suite struct GitConfigAttackTests {
    /// Runs the host's git for the test's own set-up (never through Nightshift).
    @discardableResult
    func hostGit(_ args: [String], in dir: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        p.arguments = ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"] + args
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        p.environment = ["PATH": "/usr/bin:/bin", "HOME": dir, "GIT_CONFIG_NOSYSTEM": "1"]
        // To a file, not a pipe: a process another test starts meanwhile could hold the pipe open.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ns-host-git-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: file) }
        FileManager.default.createFile(atPath: file, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        defer { try? out.close() }
        p.standardOutput = out
        p.standardError = out
        try p.run()
        p.waitUntilExit()
        return (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
    }

    /// Everything an agent can plant in its workspace that git would execute: a `.gitconfig` and an
    /// XDG config (HOME used to be the workspace), attributes naming a filter and a diff driver.
    func plant(in ws: String, sentinels: String) throws {
        let config = """
            [core]
            \tfsmonitor = "touch \(sentinels)/fsmonitor"
            \tpager = "touch \(sentinels)/pager"
            \thooksPath = \(ws)/hooks
            [diff]
            \texternal = "touch \(sentinels)/external"
            [diff "evil"]
            \ttextconv = "touch \(sentinels)/textconv"
            [filter "evil"]
            \tclean = "touch \(sentinels)/clean"
            \tsmudge = "touch \(sentinels)/smudge"
            [log]
            \tshowSignature = true
            [gpg]
            \tprogram = "touch \(sentinels)/gpg"
            [alias]
            \tstatus = "!touch \(sentinels)/alias"

            """
        try config.write(toFile: ws + "/.gitconfig", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: ws + "/.config/git", withIntermediateDirectories: true)
        try config.write(toFile: ws + "/.config/git/config", atomically: true, encoding: .utf8)
        try "* filter=evil diff=evil\n".write(toFile: ws + "/.gitattributes", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: ws + "/hooks", withIntermediateDirectories: true)
        for hook in ["pre-commit", "post-commit", "commit-msg"] {
            try "#!/bin/sh\ntouch \(sentinels)/hook-\(hook)\n".write(
                toFile: ws + "/hooks/" + hook, atomically: true, encoding: .utf8)
            chmod(ws + "/hooks/" + hook, 0o755)
        }
        try "changed\n".write(toFile: ws + "/README.md", atomically: true, encoding: .utf8)
        try "new\n".write(toFile: ws + "/new.txt", atomically: true, encoding: .utf8)
    }

    func fired(_ sentinels: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: sentinels)) ?? []).sorted()
    }

    func everyOperation(_ git: GitWorkspace, ws: String) async -> [String] {
        var notes: [String] = []
        notes.append(await git.diff(workspace: ws) ?? "nil")
        notes.append(await git.diffSummary(workspace: ws) ?? "nil")
        let tools = ToolBox.standard(isolation: .none(reason: "host git under test"), git: git)
        for command in ["status", "diff", "log"] {
            let r = await tools.run(
                ToolCall(id: CallID("m1.1"), name: "git", arguments: Payload(#"{"command":"\#(command)"}"#)),
                workspace: ws)
            notes.append(r.output.text)
        }
        notes.append(await git.commit(workspace: ws, message: "task done").detail)
        return notes
    }

    /// A fresh folder with a repository of one commit (`name`) and an empty folder for sentinels.
    func repository(named name: String) throws -> (root: String, repo: String, sentinels: String) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ns-gitattack-\(UUID().uuidString)")
            .path
        let repo = root + "/" + name, sentinels = root + "/fired"
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: sentinels, withIntermediateDirectories: true)
        try hostGit(["init", "-q"], in: repo)
        try "# project\n".write(toFile: repo + "/README.md", atomically: true, encoding: .utf8)
        try hostGit(["add", "-A"], in: repo)
        try hostGit(["commit", "-q", "-m", "init"], in: repo)
        return (root, repo, sentinels)
    }

    @Test func configurationPlantedInAWorktreeRunsNothing() async throws {
        let (root, repo, sentinels) = try repository(named: "repo")
        let wt = try await GitWorkspace.provision(
            repository: repo, run: RunID("atk"), worktreesRoot: root + "/worktrees")
        try plant(in: wt.path, sentinels: sentinels)
        let git = GitWorkspace(trust: .worktree)
        let notes = await everyOperation(git, ws: wt.path)
        #expect(fired(sentinels).isEmpty, "ran: \(fired(sentinels)) — \(notes)")
        // The work still happened: the diff shows the change, and the commit landed on the run's branch.
        #expect(notes[0].contains("+changed"), "\(notes[0])")
        #expect(notes.last == "committed", "\(notes)")
        #expect(try hostGit(["log", "--oneline", "nightshift/atk"], in: repo).contains("task done"))
    }

    /// A workspace that was not a repository when the run started: the agent makes a `.git` with a
    /// configuration of its own. Nightshift's git never treats it as the run's repository.
    @Test func aGitFolderTheAgentMadeIsNeverUsed() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ns-gitattack-\(UUID().uuidString)")
            .path
        let ws = root + "/ws", sentinels = root + "/fired"
        try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: sentinels, withIntermediateDirectories: true)
        try hostGit(["init", "-q"], in: ws)
        try hostGit(["commit", "-q", "--allow-empty", "-m", "agent's"], in: ws)
        try plant(in: ws, sentinels: sentinels)
        // The agent's repository configuration, too (it made the whole `.git`).
        try FileManager.default.copyItem(atPath: ws + "/.gitconfig", toPath: ws + "/.git/config.agent")
        let agentConfig =
            try String(contentsOfFile: ws + "/.git/config", encoding: .utf8)
            + String(contentsOfFile: ws + "/.gitconfig", encoding: .utf8)
        try agentConfig.write(toFile: ws + "/.git/config", atomically: true, encoding: .utf8)
        for trust in [GitWorkspace.Trust.none, .worktree] {
            let notes = await everyOperation(GitWorkspace(trust: trust), ws: ws)
            #expect(fired(sentinels).isEmpty, "\(trust) ran: \(fired(sentinels))")
            #expect(notes.last?.contains("not a git repository") == true, "\(trust): \(notes)")
        }
        // A `.git` file naming a git directory inside the workspace is not a worktree Nightshift made.
        try FileManager.default.moveItem(atPath: ws + "/.git", toPath: ws + "/evil")
        try "gitdir: \(ws)/evil\n".write(toFile: ws + "/.git", atomically: true, encoding: .utf8)
        #expect(GitWorkspace(trust: .worktree).location(workspace: ws) == nil)
        _ = await everyOperation(GitWorkspace(trust: .worktree), ws: ws)
        #expect(fired(sentinels).isEmpty, "ran: \(fired(sentinels))")
    }

    /// The repository of a `--no-worktree` run, fixed before any tool ran: its own configuration
    /// (the user's) is read, but keys that execute are overridden all the same.
    @Test func executingKeysAreOverriddenEvenInTheRepositorysOwnConfiguration() async throws {
        let (_, ws, sentinels) = try repository(named: "ws")
        let location = try #require(await GitWorkspace.discover(ws))
        try hostGit(["checkout", "-q", "-b", "nightshift/x"], in: ws)
        // From here on only Nightshift's git runs in this repository (the test's own would obey these).
        try hostGit(["config", "core.fsmonitor", "touch \(sentinels)/fsmonitor"], in: ws)
        try hostGit(["config", "core.pager", "touch \(sentinels)/pager"], in: ws)
        try hostGit(["config", "diff.external", "touch \(sentinels)/external"], in: ws)
        try hostGit(["config", "core.hooksPath", ws + "/hooks"], in: ws)
        try FileManager.default.createDirectory(atPath: ws + "/hooks", withIntermediateDirectories: true)
        try "#!/bin/sh\ntouch \(sentinels)/hook\n".write(
            toFile: ws + "/hooks/pre-commit", atomically: true, encoding: .utf8)
        chmod(ws + "/hooks/pre-commit", 0o755)
        try "changed\n".write(toFile: ws + "/README.md", atomically: true, encoding: .utf8)
        let notes = await everyOperation(GitWorkspace(trust: .repository(location)), ws: ws)
        #expect(fired(sentinels).isEmpty, "ran: \(fired(sentinels)) — \(notes)")
        #expect(notes.last == "committed", "\(notes)")
    }

    /// A run's committed diff, for a person: from the base and branch the log recorded, with no
    /// external diff or text conversion the repository's attributes could name; a branch or base
    /// written as an option is refused; a long diff is cut.
    @Test func aRunsCommittedDiffRunsNoCommandAndTakesNoOption() async throws {
        let repo = FileManager.default.temporaryDirectory.appendingPathComponent("ns-diff-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        try hostGit(["init", "-q"], in: repo)
        try "a\n".write(toFile: repo + "/a.txt", atomically: true, encoding: .utf8)
        try hostGit(["add", "-A"], in: repo)
        try hostGit(["commit", "-q", "-m", "base"], in: repo)
        let base = try hostGit(["rev-parse", "HEAD"], in: repo).trimmingCharacters(in: .whitespacesAndNewlines)
        try hostGit(["checkout", "-q", "-b", "nightshift/r1"], in: repo)
        // The agent's commit asks for a diff driver and a text conversion that would run a command.
        let marker = repo + "/pwned"
        try "*.txt diff=evil\n".write(toFile: repo + "/.gitattributes", atomically: true, encoding: .utf8)
        try hostGit(["config", "diff.evil.command", "touch \(marker)"], in: repo)
        try hostGit(["config", "diff.evil.textconv", "touch \(marker); cat"], in: repo)
        try "a\nb <b>bold</b>\n".write(toFile: repo + "/a.txt", atomically: true, encoding: .utf8)
        try hostGit(["add", "-A"], in: repo)
        try hostGit(["commit", "-q", "-m", "work"], in: repo)
        let diff = try #require(await GitWorkspace.committedDiff(repository: repo, base: base, branch: "nightshift/r1"))
        #expect(diff.contains("+b <b>bold</b>") && diff.contains("2 files changed"), "\(diff)")
        #expect(!FileManager.default.fileExists(atPath: marker), "a diff driver ran")
        #expect(await GitWorkspace.committedDiff(repository: repo, base: base, branch: "--output=/tmp/x") == nil)
        #expect(await GitWorkspace.committedDiff(repository: repo, base: "HEAD~1", branch: "nightshift/r1") == nil)
        #expect(await GitWorkspace.committedDiff(repository: repo, base: base, branch: "nope") == nil)
        let cut = try #require(
            await GitWorkspace.committedDiff(repository: repo, base: base, branch: "nightshift/r1", limit: 40))
        #expect(cut.contains("[… cut at 40 bytes"))
        // A diff longer than git's usual output cap comes whole, its middle included.
        let lines = (0..<2000).map { $0 == 1000 ? "the middle line" : "line \($0) of a long file" }
        try (lines.joined(separator: "\n") + "\n").write(toFile: repo + "/long.txt", atomically: true, encoding: .utf8)
        try hostGit(["add", "-A"], in: repo)
        try hostGit(["commit", "-q", "-m", "long"], in: repo)
        let long = try #require(await GitWorkspace.committedDiff(repository: repo, base: base, branch: "nightshift/r1"))
        #expect(long.utf8.count > 40_000 && long.contains("+the middle line") && long.contains("+line 1999 of"))
    }
}

import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftTesting
import Testing

/// The workspace provider's contract, on git worktrees and on the twin: a run's worktree is made
/// in a home and found again; another home (another host) makes it again from the branch, which
/// must still hold the run's work; a sub-agent starts from its parent's branch.
@Suite struct WorkspaceProviderConformanceTests {
    enum Kind: String, CaseIterable { case git, twin }

    /// One repository every home reaches, two homes, and what a test does to them.
    struct Fixture {
        var repository: String
        var a: any WorkspaceProvider
        var b: any WorkspaceProvider
        /// Commits a change in the worktree at `path` on its branch; the new commit.
        var commit: (_ path: String) throws -> String
        /// The worktree's folder is gone (removed, or on a host this one is not).
        var remove: (_ path: String) throws -> Void
        /// Points `branch` back at `main` (a reset: the run's commits are gone from it).
        var reset: (_ branch: String) throws -> Void
    }

    func make(_ kind: Kind) throws -> Fixture {
        switch kind {
        case .git:
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("ns-wsp-\(UUID().uuidString)").path
            let repo = root + "/repo"
            try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
            try "# project\n".write(toFile: repo + "/README.md", atomically: true, encoding: .utf8)
            for args in [["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "init"]] { _ = try git(args, in: repo) }
            return Fixture(
                repository: repo, a: GitWorkspaceProvider(home: root + "/home-a"),
                b: GitWorkspaceProvider(home: root + "/home-b"),
                commit: { path in
                    try UUID().uuidString.write(toFile: path + "/work.txt", atomically: true, encoding: .utf8)
                    _ = try git(["add", "-A"], in: path)
                    _ = try git(["commit", "-q", "-m", "work"], in: path)
                    return try git(["rev-parse", "HEAD"], in: path).trimmingCharacters(in: .whitespacesAndNewlines)
                },
                remove: { path in
                    try FileManager.default.removeItem(atPath: path)
                    _ = try git(["worktree", "prune"], in: repo)
                },
                reset: { branch in _ = try git(["branch", "-f", branch, "main"], in: repo) })
        case .twin:
            let repositories = InMemoryWorkspaceProvider.Repositories()
            repositories.create("/repo")
            let a = InMemoryWorkspaceProvider(home: "/home-a", repositories: repositories)
            let b = InMemoryWorkspaceProvider(home: "/home-b", repositories: repositories)
            return Fixture(
                repository: "/repo", a: a, b: b,
                commit: { path in
                    let commit = "c-\(UUID().uuidString.prefix(8))"
                    let run = String(path.split(separator: "/").last ?? "")
                    repositories.commit("/repo", branch: "nightshift/\(run)", commit)
                    return commit
                },
                remove: { path in
                    a.remove(path)
                    b.remove(path)
                },
                reset: { branch in repositories.reset("/repo", branch: branch, to: "main") })
        }
    }

    /// Host git for the set-up (its own configuration: a test's, not Nightshift's hardened one).
    /// Its output goes to a file, not a pipe: a pipe's reader waits for every copy of the write end
    /// to close, and a process another test starts meanwhile may hold one for minutes, blocking a
    /// thread of the concurrency pool the whole test process shares.
    func git(_ args: [String], in dir: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        p.arguments = ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"] + args
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        p.environment = ["PATH": "/usr/bin:/bin", "HOME": dir, "GIT_CONFIG_NOSYSTEM": "1"]
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ns-git-\(UUID().uuidString)").path
        FileManager.default.createFile(atPath: file, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        defer { try? out.close() }
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
    }

    @Test(arguments: Kind.allCases) func aWorktreeIsMadeInTheHomeAndFoundAgain(_ kind: Kind) async throws {
        let f = try make(kind)
        let run = RunID("r1")
        let made = try await f.a.provision(repository: f.repository, run: run, from: nil, remake: false)
        #expect(made.path == f.a.path(of: run) && made.path.hasPrefix(f.a.home + "/"))
        #expect(made.branch == "nightshift/r1" && !made.commit.isEmpty)
        #expect(f.a.isPresent(made.path) && !f.b.isPresent(f.b.path(of: run)))
        #expect(try await f.a.reattach(path: made.path, branch: made.branch).commit == made.commit)
        await #expect(throws: (any Error).self) { try await f.a.reattach(path: made.path, branch: "nightshift/other") }
        // Made again (not remade): the same worktree.
        #expect(try await f.a.provision(repository: f.repository, run: run, from: nil, remake: false).path == made.path)
    }

    @Test(arguments: Kind.allCases) func anotherHomeMakesItAgainFromTheBranchHoldingTheWork(_ kind: Kind) async throws {
        let f = try make(kind)
        let run = RunID("r1")
        let made = try await f.a.provision(repository: f.repository, run: run, from: nil, remake: false)
        let work = try f.commit(made.path)
        try f.remove(made.path)
        let again = try await f.b.materialise(
            repository: f.repository, branch: made.branch, run: run, holding: [work])
        #expect(again.path == f.b.path(of: run) && again.branch == made.branch && again.commit == work)
        #expect(f.b.isPresent(again.path))
        // A move a crash interrupted: the worktree already there is taken as it is.
        #expect(
            try await f.b.materialise(repository: f.repository, branch: made.branch, run: run, holding: [work])
                .path == again.path)
    }

    @Test(arguments: Kind.allCases) func aBranchThatNoLongerHoldsTheWorkIsRefused(_ kind: Kind) async throws {
        let f = try make(kind)
        let run = RunID("r1")
        let made = try await f.a.provision(repository: f.repository, run: run, from: nil, remake: false)
        let work = try f.commit(made.path)
        try f.remove(made.path)
        try f.reset(made.branch)
        await #expect(throws: (any Error).self) {
            try await f.b.materialise(repository: f.repository, branch: made.branch, run: run, holding: [work])
        }
        #expect(!f.b.isPresent(f.b.path(of: run)))
        await #expect(throws: (any Error).self) {
            try await f.b.materialise(repository: f.repository, branch: "nightshift/none", run: RunID("x"), holding: [])
        }
    }

    @Test(arguments: Kind.allCases) func aSubAgentStartsFromItsParentsBranch(_ kind: Kind) async throws {
        let f = try make(kind)
        let parent = try await f.a.provision(repository: f.repository, run: RunID("p"), from: nil, remake: false)
        let work = try f.commit(parent.path)
        let child = try await f.a.provision(
            repository: f.repository, run: RunID("p.w1"), from: parent.branch, remake: true)
        #expect(child.commit == work && child.branch == "nightshift/p.w1")
        await #expect(throws: (any Error).self) {
            try await f.a.provision(repository: f.repository, run: RunID("p.w2"), from: "nightshift/none", remake: true)
        }
    }
}

/// A stop ends Nightshift's own git with SIGTERM, on which git removes its lock: a git killed
/// mid-write would leave an index.lock that fails every later commit of the run. And a commit made
/// before the stop but never recorded is found again by the next commit, not lost.
@Suite struct OwnGitStopTests {
    @Test func aStoppedCommitLeavesNoLockAndTheWorkIsCommittedOnce() async throws {
        let f = try WorkspaceProviderConformanceTests().make(.git)
        let made = try await f.a.provision(repository: f.repository, run: RunID("r1"), from: nil, remake: false)
        // Enough files that `git add` takes longer than a stop takes to reach a command (50 ms).
        try FileManager.default.createDirectory(atPath: made.path + "/work", withIntermediateDirectories: true)
        for n in 0..<4000 {
            try "work \(n)\n".write(toFile: made.path + "/work/\(n).txt", atomically: false, encoding: .utf8)
        }
        let vcs = GitWorkspace(trust: .worktree)
        let stopped = await Task {
            withUnsafeCurrentTask { $0?.cancel() }  // the drive was stopped as git started
            return await vcs.commit(workspace: made.path, message: "nightshift: task a done")
        }.value
        #expect(!FileManager.default.fileExists(atPath: f.repository + "/.git/worktrees/r1/index.lock"))
        // Resumed, the task's commit is made (or found, when the stopped one got through): once.
        let resumed = await vcs.commit(workspace: made.path, message: "nightshift: task a done")
        let commit = try #require(resumed.commit, "\(stopped) then \(resumed)")
        if let first = stopped.commit { #expect(first == commit) }
        let log = try WorkspaceProviderConformanceTests().git(["log", "--format=%s", "HEAD"], in: made.path)
        #expect(log.components(separatedBy: "nightshift: task a done").count == 2, "\(log)")
    }
}

/// What `materialise` takes at the path it makes a worktree at: only a worktree of the run's
/// repository registered there on its branch; anything else (a folder or a link someone put
/// there, with a `.git` of its own) is left alone and refused. Nothing else is pruned.
@Suite struct MaterialiseTests {
    func fixture() throws -> (WorkspaceProviderConformanceTests.Fixture, WorkspaceProviderConformanceTests) {
        let suite = WorkspaceProviderConformanceTests()
        return (try suite.make(.git), suite)
    }

    @Test func somethingElseAtThePathIsRefusedAndLeftAlone() async throws {
        let (f, _) = try fixture()
        let made = try await f.a.provision(repository: f.repository, run: RunID("r1"), from: nil, remake: false)
        try f.remove(made.path)
        let planted = f.b.path(of: RunID("r1"))
        try FileManager.default.createDirectory(atPath: planted, withIntermediateDirectories: true)
        try "gitdir: /elsewhere/evil.git\n".write(toFile: planted + "/.git", atomically: true, encoding: .utf8)
        await #expect(throws: WorkspaceError.self) {
            try await f.b.materialise(repository: f.repository, branch: made.branch, run: RunID("r1"), holding: [])
        }
        #expect(try String(contentsOfFile: planted + "/.git", encoding: .utf8) == "gitdir: /elsewhere/evil.git\n")
        // A link there is refused too, whatever it points at.
        try FileManager.default.removeItem(atPath: planted)
        try FileManager.default.createSymbolicLink(atPath: planted, withDestinationPath: f.repository)
        await #expect(throws: WorkspaceError.self) {
            try await f.b.materialise(repository: f.repository, branch: made.branch, run: RunID("r1"), holding: [])
        }
    }

    @Test func aWorktreeOfTheRunAtThePathIsMadeAgainAndOthersAreNotPruned() async throws {
        let (f, suite) = try fixture()
        let run = RunID("r1")
        let made = try await f.a.provision(repository: f.repository, run: run, from: nil, remake: false)
        let work = try f.commit(made.path)
        // Another run's worktree whose folder is gone (on a disk not mounted, another host's): kept.
        let other = try await f.a.provision(repository: f.repository, run: RunID("r2"), from: nil, remake: false)
        try FileManager.default.removeItem(atPath: other.path)
        try FileManager.default.removeItem(atPath: made.path)
        // A move a crash interrupted: the worktree is at the new path, registered, half made.
        _ = try suite.git(["worktree", "add", "--force", f.b.path(of: run), made.branch], in: f.repository)
        try "stray\n".write(toFile: f.b.path(of: run) + "/stray.txt", atomically: true, encoding: .utf8)
        let again = try await f.b.materialise(repository: f.repository, branch: made.branch, run: run, holding: [work])
        #expect(again.commit == work)
        #expect(!FileManager.default.fileExists(atPath: again.path + "/stray.txt"))  // made anew
        let list = try suite.git(["worktree", "list", "--porcelain"], in: f.repository)
        #expect(list.contains(other.path), "\(list)")
        // Remaking a run whose worktree a crash left half made forgets only that one's registration.
        let third = try await f.a.provision(repository: f.repository, run: RunID("r3"), from: nil, remake: false)
        try FileManager.default.removeItem(atPath: third.path)
        _ = try await f.a.provision(repository: f.repository, run: RunID("r3"), from: nil, remake: true)
        let after = try suite.git(["worktree", "list", "--porcelain"], in: f.repository)
        #expect(after.contains(other.path) && after.contains(third.path), "\(after)")
    }

    /// A checkout of the run's branch that is here and alive (a person looking at the run's work
    /// in their own checkout) is never doubled: the run's commits would move the branch under it.
    @Test func aLiveCheckoutOfTheBranchIsNotDoubled() async throws {
        let (f, suite) = try fixture()
        let run = RunID("r1")
        let made = try await f.a.provision(repository: f.repository, run: run, from: nil, remake: false)
        try FileManager.default.removeItem(atPath: made.path)
        _ = try suite.git(["checkout", "-q", "--ignore-other-worktrees", made.branch], in: f.repository)
        let refused = await #expect(throws: WorkspaceError.self) {
            try await f.b.materialise(repository: f.repository, branch: made.branch, run: run, holding: [])
        }
        #expect(refused?.message.contains("is checked out at") == true, "\(String(describing: refused))")
        #expect(!FileManager.default.fileExists(atPath: f.b.path(of: run)))
    }
}

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
    func git(_ args: [String], in dir: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        p.arguments = ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"] + args
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        p.environment = ["PATH": "/usr/bin:/bin", "HOME": dir, "GIT_CONFIG_NOSYSTEM": "1"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
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

import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftTesting
import Testing

/// The contracts of the tool runner, check runner and version-control ports, each run over the
/// real adapter and its in-memory twin: a test that uses a twin relies on exactly these.
@Suite struct ToolRunnerConformanceTests {
    enum Kind: String, CaseIterable { case toolBox, twin }

    func make(_ kind: Kind) -> any ToolRunner {
        switch kind {
        case .toolBox: ToolBox.standard(isolation: .none(reason: "conformance"))
        case .twin: InMemoryToolRunner([InMemoryToolRunner.constant("read_file", idempotent: true)])
        }
    }

    func workspace() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ns-tools-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "hello\n".write(toFile: dir + "/a.txt", atomically: true, encoding: .utf8)
        return dir
    }

    @Test(arguments: Kind.allCases) func anUnknownToolIsARefusalThatNamesIt(_ kind: Kind) async throws {
        let result = await make(kind).run(
            ToolCall(id: CallID("m1.1"), name: "launch_rockets", arguments: "{}"), workspace: try workspace())
        #expect(!result.ok)
        #expect(result.output.text.contains("launch_rockets"))
    }

    @Test(arguments: Kind.allCases) func argumentsThatAreNoJSONObjectAreARefusal(_ kind: Kind) async throws {
        let ws = try workspace()
        for bad in ["not json", "[1,2]", "\"a.txt\"", "", String(repeating: "{", count: 10_000), "{\"path\":\u{0}}"] {
            let result = await make(kind).run(
                ToolCall(id: CallID("m1.1"), name: "read_file", arguments: Payload(bad)), workspace: ws)
            #expect(!result.ok, "\(bad.prefix(20))")
            #expect(result.output.text.hasPrefix("read_file"), "\(result.output.text.prefix(100))")
        }
    }

    @Test(arguments: Kind.allCases) func specsAreUniqueAndDescribeAnObject(_ kind: Kind) throws {
        let specs = make(kind).specs
        #expect(!specs.isEmpty)
        #expect(Set(specs.map(\.name)).count == specs.count)
        for spec in specs {
            let schema = try JSONSerialization.jsonObject(with: Data(spec.parametersSchema.utf8)) as? [String: Any]
            #expect(schema?["type"] as? String == "object", "\(spec.name)")
        }
    }

    @Test(arguments: Kind.allCases) func nothingToReportBeforeAnyCall(_ kind: Kind) async {
        #expect(await make(kind).takeEvents().isEmpty)
    }

    /// The real box needs a backstop (its calls can block); the twin's calls cannot, so it has none.
    @Test func onlyARunnerThatCanBlockHasADeadline() {
        let call = ToolCall(id: CallID("m1.1"), name: "read_file", arguments: "{}")
        #expect(make(.toolBox).deadline(for: call) != nil)
        #expect(make(.twin).deadline(for: call) == nil)
    }
}

@Suite struct CheckRunnerConformanceTests {
    enum Kind: String, CaseIterable { case shell, twin }
    static let big = String(repeating: "x", count: 3000) + "END"

    func make(_ kind: Kind) -> any CheckRunner {
        switch kind {
        case .shell: ShellCheckRunner(isolation: .none(reason: "conformance"), outputBytes: 1000)
        case .twin:
            InMemoryCheckRunner(
                [
                    "echo hello": .init(exitCode: 0, output: "hello\n"), "exit 3": .init(exitCode: 3),
                    "printf 'x%.0s' $(seq 1 3000); printf END": .init(exitCode: 0, output: Self.big),
                ], outputBytes: 1000)
        }
    }

    func check(_ command: String) -> Check { Check(command: command, expectExit: 0) }

    @Test(arguments: Kind.allCases) func theExitStatusAndOutputAreTheCommands(_ kind: Kind) async {
        let runner = make(kind)
        let hello = await runner.run(check("echo hello"), workspace: NSTemporaryDirectory())
        #expect(hello.exitCode == 0 && hello.output == "hello\n", "\(hello)")
        #expect(hello.durationMs >= 0)
        let three = await runner.run(check("exit 3"), workspace: NSTemporaryDirectory())
        #expect(three.exitCode == 3)
    }

    @Test(arguments: Kind.allCases) func aMissingCommandIsStatus127(_ kind: Kind) async {
        let r = await make(kind).run(check("nightshift-no-such-command-xyz"), workspace: NSTemporaryDirectory())
        #expect(r.exitCode == 127)
        #expect(r.output.contains("not found"), "\(r.output)")
    }

    @Test(arguments: Kind.allCases) func longOutputKeepsItsStartAndItsEnd(_ kind: Kind) async {
        let r = await make(kind).run(
            check("printf 'x%.0s' $(seq 1 3000); printf END"), workspace: NSTemporaryDirectory())
        #expect(r.exitCode == 0)
        #expect(r.output.hasPrefix("xxxx") && r.output.hasSuffix("END"), "\(r.output.suffix(40))")
        #expect(r.output.contains("bytes of output cut"))
        #expect(r.output.utf8.count < 1200)
    }
}

@Suite struct WorkspaceVCSConformanceTests {
    enum Kind: String, CaseIterable { case git, twin }

    /// A workspace under version control with one committed file, and how to change a file in it.
    struct Fixture {
        var vcs: any WorkspaceVCS
        var workspace: String
        var write: (String, String) throws -> Void
        /// The files the last commit holds.
        var committed: () throws -> [String]
    }

    func make(_ kind: Kind, sealed: [String] = []) async throws -> Fixture {
        switch kind {
        case .git:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ns-vcs-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try "# project\n".write(toFile: dir + "/README.md", atomically: true, encoding: .utf8)
            for args in [["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "init"]] { try hostGit(args, in: dir) }
            let location = try #require(await GitWorkspace.discover(dir))
            return Fixture(
                vcs: GitWorkspace(trust: .repository(location), sealed: sealed), workspace: dir,
                write: { path, text in
                    let file = dir + "/" + path
                    try FileManager.default.createDirectory(
                        atPath: URL(fileURLWithPath: file).deletingLastPathComponent().path,
                        withIntermediateDirectories: true)
                    try text.write(toFile: file, atomically: true, encoding: .utf8)
                },
                committed: {
                    try hostGitOutput(["ls-tree", "-r", "--name-only", "HEAD"], in: dir).split(separator: "\n")
                        .map(String.init)
                })
        case .twin:
            let vcs = InMemoryVCS(sealed: sealed)
            vcs.initialise("/ws", files: ["README.md": "# project\n"])
            return Fixture(
                vcs: vcs, workspace: "/ws", write: { path, text in vcs.write("/ws", path, text) },
                committed: { vcs.committedFiles("/ws").keys.sorted() })
        }
    }

    func hostGitOutput(_ args: [String], in dir: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        p.environment = ["PATH": "/usr/bin:/bin", "HOME": dir, "GIT_CONFIG_NOSYSTEM": "1"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    /// Configuration an agent wrote (a `.nightshift` folder at any depth and in any case, the
    /// sealed profiles folder) is never committed: it cannot reach a branch a person merges.
    @Test(arguments: Kind.allCases) func configurationIsNeverCommitted(_ kind: Kind) async throws {
        let f = try await make(kind, sealed: ["agents", ".nightshift"])
        for path in [
            ".nightshift/config.yaml", "src/.nightshift/config.yaml", "src/.NightShift/config.yaml", "agents/w.yaml",
        ] {
            try f.write(path, "sandbox: {unsandboxed: true}\n")
        }
        try f.write("src/work.py", "print(1)\n")
        let commit = await f.vcs.commit(workspace: f.workspace, message: "work")
        #expect(commit.commit != nil, "\(commit)")
        #expect(try f.committed().sorted() == ["README.md", "src/work.py"])
        // What is left is configuration only: nothing more to commit.
        let again = await f.vcs.commit(workspace: f.workspace, message: "again")
        #expect(again.commit == nil && again.detail == "nothing to commit", "\(again)")
    }

    func hostGit(_ args: [String], in dir: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        p.arguments = ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"] + args
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        p.environment = ["PATH": "/usr/bin:/bin", "HOME": dir, "GIT_CONFIG_NOSYSTEM": "1"]
        try p.run()
        p.waitUntilExit()
    }

    @Test(arguments: Kind.allCases) func aChangeIsSeenCommittedOnceAndThenNothingIsLeft(_ kind: Kind) async throws {
        let f = try await make(kind)
        #expect(await f.vcs.diffSummary(workspace: f.workspace) == "no uncommitted changes")
        #expect(await f.vcs.commit(workspace: f.workspace, message: "nothing").commit == nil)
        try f.write("calc.py", "def add(a, b):\n    return a + b\n")
        let summary = try #require(await f.vcs.diffSummary(workspace: f.workspace))
        #expect(summary.contains("calc.py"), "\(summary)")
        let diff = try #require(await f.vcs.diff(workspace: f.workspace))
        #expect(diff.contains("calc.py") && diff.contains("+    return a + b"), "\(diff)")
        let first = await f.vcs.commit(workspace: f.workspace, message: "task done")
        #expect(first.commit != nil && first.detail == "committed", "\(first)")
        // The same commit asked for again (made before a stop, never recorded) is found, once.
        let again = await f.vcs.commit(workspace: f.workspace, message: "task done")
        #expect(again.commit == first.commit && again.detail == "committed before the process stopped", "\(again)")
        let other = await f.vcs.commit(workspace: f.workspace, message: "another task done")
        #expect(other.commit == nil && other.detail == "nothing to commit", "\(other)")
        try f.write("calc.py", "def add(a, b):\n    return b + a\n")
        let second = await f.vcs.commit(workspace: f.workspace, message: "again")
        #expect(second.commit != nil && second.commit != first.commit)
    }

    @Test(arguments: Kind.allCases) func theViewsNightshiftWritesAreNotTheWork(_ kind: Kind) async throws {
        let f = try await make(kind)
        try f.write("PROGRESS.md", "# progress\n")
        #expect(await f.vcs.diffSummary(workspace: f.workspace) == "no uncommitted changes")
        #expect(await f.vcs.diff(workspace: f.workspace)?.contains("PROGRESS.md") == false)
        // Nor committed: two workers' branches would otherwise conflict over them at every merge.
        let commit = await f.vcs.commit(workspace: f.workspace, message: "views only")
        #expect(commit.commit == nil && commit.detail == "nothing to commit", "\(commit)")
    }

    @Test func aWorkspaceThatIsNoRepositoryHasNoDiffAndNoCommit() async throws {
        let plain = FileManager.default.temporaryDirectory.appendingPathComponent("ns-novcs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: plain, withIntermediateDirectories: true)
        for (vcs, ws) in [(GitWorkspace(trust: .none) as any WorkspaceVCS, plain), (InMemoryVCS(), "/nowhere")] {
            #expect(await vcs.diff(workspace: ws) == nil)
            #expect(await vcs.commit(workspace: ws, message: "m").commit == nil)
        }
    }
}

/// The merge queue's half of the version-control port, against real git and the twin: a
/// worker's branch merges into the run's branch once, a conflict changes nothing, and the branch
/// moves only from the commit the merge was made on.
@Suite struct MergeQueueConformanceTests {
    enum Kind: String, CaseIterable { case git, twin }

    /// A run's workspace on its branch, and a worker's worktree on a branch started from it.
    struct Fixture {
        var vcs: any WorkspaceVCS
        var parent: String
        var worker: String
        var branch: String
        var write: (String, String, String) throws -> Void
        var files: (String) -> [String: String]
    }

    func make(_ kind: Kind) async throws -> Fixture {
        switch kind {
        case .git:
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("ns-merge-\(UUID().uuidString)")
                .path
            let repo = root + "/repo"
            try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
            try "# project\n".write(toFile: repo + "/README.md", atomically: true, encoding: .utf8)
            let vcsTests = WorkspaceVCSConformanceTests()
            for args in [["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "init"]] {
                try vcsTests.hostGit(args, in: repo)
            }
            let parent = try await GitWorkspace.provision(
                repository: repo, run: RunID("P"), worktreesRoot: root + "/worktrees")
            let worker = try await GitWorkspace.provision(
                repository: repo, run: RunID("P.w1"), worktreesRoot: root + "/worktrees", from: parent.branch)
            return Fixture(
                vcs: GitWorkspace(trust: .worktree), parent: parent.path, worker: worker.path, branch: worker.branch,
                write: { ws, path, text in try text.write(toFile: ws + "/" + path, atomically: true, encoding: .utf8) },
                files: { ws in
                    var out: [String: String] = [:]
                    for name in (try? FileManager.default.contentsOfDirectory(atPath: ws)) ?? [] where name != ".git" {
                        out[name] = try? String(contentsOfFile: ws + "/" + name, encoding: .utf8)
                    }
                    return out
                })
        case .twin:
            let vcs = InMemoryVCS()
            vcs.initialise("/p", files: ["README.md": "# project\n"], branch: "nightshift/P")
            vcs.provision("/p.w1", branch: "nightshift/P.w1", from: "/p")
            return Fixture(
                vcs: vcs, parent: "/p", worker: "/p.w1", branch: "nightshift/P.w1",
                write: { ws, path, text in vcs.write(ws, path, text) }, files: { vcs.committedFiles($0) })
        }
    }

    func commit(_ f: Fixture, _ ws: String, _ path: String, _ text: String) async throws {
        try f.write(ws, path, text)
        #expect(await f.vcs.commit(workspace: ws, message: "edit \(path)").commit != nil)
    }

    @Test(arguments: Kind.allCases) func aWorkersBranchMergesOnceAndTheCheckoutFollows(_ kind: Kind) async throws {
        let f = try await make(kind)
        try await commit(f, f.worker, "a.txt", "from the worker\n")
        try await commit(f, f.parent, "b.txt", "merged meanwhile\n")
        let prepared = try await f.vcs.prepareMerge(branch: f.branch, workspace: f.parent, message: "merge")
        guard case let .ready(scratch, base, merged) = prepared else {
            Issue.record("expected a merge ready for its checks, got \(prepared)")
            return
        }
        if kind == .git {
            // The merged tree is checked out in the scratch worktree; the run's checkout is untouched.
            #expect(FileManager.default.fileExists(atPath: scratch + "/a.txt"))
            #expect(!FileManager.default.fileExists(atPath: f.parent + "/a.txt"))
        }
        #expect(try await f.vcs.advance(workspace: f.parent, from: base, to: merged))
        await f.vcs.discardMerge(scratch: scratch, workspace: f.parent)
        #expect(f.files(f.parent)["a.txt"] == "from the worker\n")
        #expect(f.files(f.parent)["b.txt"] == "merged meanwhile\n")
        #expect(await f.vcs.diffSummary(workspace: f.parent) == "no uncommitted changes")
        if kind == .git { #expect(!FileManager.default.fileExists(atPath: scratch)) }
        // Asked again (a crash after the branch moved): found merged, at the same commit.
        #expect(
            try await f.vcs.prepareMerge(branch: f.branch, workspace: f.parent, message: "merge")
                == .alreadyMerged(head: merged))
    }

    @Test(arguments: Kind.allCases) func aConflictIsRejectedNamingTheFileAndChangesNothing(_ kind: Kind) async throws {
        let f = try await make(kind)
        try await commit(f, f.worker, "README.md", "# the worker's title\n")
        try await commit(f, f.parent, "README.md", "# another worker's title\n")
        let prepared = try await f.vcs.prepareMerge(branch: f.branch, workspace: f.parent, message: "merge")
        guard case let .rejected(why) = prepared else {
            Issue.record("expected a conflict, got \(prepared)")
            return
        }
        #expect(why.contains("README.md"), "\(why)")
        #expect(f.files(f.parent)["README.md"] == "# another worker's title\n")
        #expect(await f.vcs.diffSummary(workspace: f.parent) == "no uncommitted changes")
        if kind == .git { #expect(!FileManager.default.fileExists(atPath: f.parent + ".merge")) }
    }

    @Test(arguments: Kind.allCases) func theBranchMovesOnlyFromTheCommitTheMergeWasMadeOn(_ kind: Kind) async throws {
        let f = try await make(kind)
        try await commit(f, f.worker, "a.txt", "from the worker\n")
        let prepared = try await f.vcs.prepareMerge(branch: f.branch, workspace: f.parent, message: "merge")
        guard case let .ready(scratch, base, merged) = prepared else {
            Issue.record("expected a merge ready for its checks, got \(prepared)")
            return
        }
        try await commit(f, f.parent, "c.txt", "someone else moved the branch\n")
        #expect(try await f.vcs.advance(workspace: f.parent, from: base, to: merged) == false)
        await f.vcs.discardMerge(scratch: scratch, workspace: f.parent)
        #expect(f.files(f.parent)["a.txt"] == nil)
    }

    @Test(arguments: Kind.allCases) func aWorkerThatCommittedNothingIsAlreadyMerged(_ kind: Kind) async throws {
        let f = try await make(kind)
        let prepared = try await f.vcs.prepareMerge(branch: f.branch, workspace: f.parent, message: "merge")
        guard case .alreadyMerged = prepared else {
            Issue.record("expected nothing to merge, got \(prepared)")
            return
        }
        #expect(
            try await f.vcs.prepareMerge(branch: "nightshift/none", workspace: f.parent, message: "m")
                == .rejected("the branch nightshift/none does not exist"))
    }
}

/// Worktrees made at once in one repository (a coding fleet's workers are made eight at a time),
/// some over what an earlier, interrupted attempt left: every one is made, on its own branch.
@Suite struct ConcurrentWorktreeTests {
    @Test func manyWorktreesMadeAtOnceAreAllMade() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ns-wt-\(UUID().uuidString)").path
        let repo = root + "/repo"
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        try "# p\n".write(toFile: repo + "/README.md", atomically: true, encoding: .utf8)
        let host = WorkspaceVCSConformanceTests()
        for args in [["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "init"]] { try host.hostGit(args, in: repo) }
        let parent = try await GitWorkspace.provision(repository: repo, run: RunID("P"), worktreesRoot: root + "/wt")
        // Half of them have a branch left by an attempt that died before its log existed.
        for k in stride(from: 1, through: 12, by: 2) { try host.hostGit(["branch", "nightshift/P.w\(k)"], in: repo) }
        let made = try await withThrowingTaskGroup(of: GitWorkspace.Provisioned.self) { group in
            for k in 1...12 {
                group.addTask {
                    try await GitWorkspace.remake(
                        repository: repo, run: RunID("P.w\(k)"), worktreesRoot: root + "/wt", from: parent.branch)
                }
            }
            var all: [GitWorkspace.Provisioned] = []
            for try await p in group { all.append(p) }
            return all
        }
        #expect(made.count == 12)
        for p in made {
            #expect(GitWorkspace(trust: .worktree).location(workspace: p.path) != nil, "\(p.path) is not a worktree")
            let again = try await GitWorkspace.reattach(path: p.path, branch: p.branch)
            #expect(again.base == parent.base)
        }
    }
}

/// The workspace files port over the real files and its twin: views written are there whole, a
/// workspace that is gone is skipped, and the ratchet's evidence is the SHA-256 of exactly the
/// files the globs name (never `.git`'s).
@Suite struct WorkspaceFilesConformanceTests {
    enum Kind: String, CaseIterable { case local, twin }

    /// A workspace holding `files` (relative path → content), made as the kind needs it.
    func make(_ kind: Kind, files: [String: String]) async throws -> (any WorkspaceFiles, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ns-files-\(UUID().uuidString)").path
        switch kind {
        case .local:
            for (path, text) in files {
                let full = dir + "/" + path
                try FileManager.default.createDirectory(
                    atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try text.write(toFile: full, atomically: true, encoding: .utf8)
            }
            return (LocalWorkspaceFiles(), dir)
        case .twin:
            let twin = InMemoryWorkspaceFiles()
            await twin.setFiles(files.mapValues { Payload($0).sha256Hex }, workspace: dir)
            return (twin, dir)
        }
    }

    /// What a view holds after `write`, read the way the kind keeps it.
    func view(_ kind: Kind, _ files: any WorkspaceFiles, workspace: String, name: String) async -> String? {
        switch kind {
        case .local: try? String(contentsOfFile: workspace + "/" + name, encoding: .utf8)
        case .twin: await (files as! InMemoryWorkspaceFiles).views[workspace]?[name]
        }
    }

    @Test(arguments: Kind.allCases) func viewsAreWrittenWholeAndReplaced(_ kind: Kind) async throws {
        let (files, ws) = try await make(kind, files: ["keep.txt": "k\n"])
        await files.write([WorkspaceView(name: "PROGRESS.md", text: "one\n")], workspace: ws)
        await files.write([WorkspaceView(name: "PROGRESS.md", text: "two\n")], workspace: ws)
        #expect(await view(kind, files, workspace: ws, name: "PROGRESS.md") == "two\n")
    }

    @Test(arguments: Kind.allCases) func theEvidenceIsTheHashOfExactlyTheFilesNamed(_ kind: Kind) async throws {
        let (files, ws) = try await make(
            kind, files: ["tests/test_a.py": "assert 1\n", "tests/helper.txt": "h\n", "src/a.py": "a = 1\n"])
        let hashes = await files.hashes(workspace: ws, globs: ["tests/*.py"])
        #expect(hashes == ["tests/test_a.py": Payload("assert 1\n").sha256Hex])
        #expect(await files.hashes(workspace: ws, globs: []).isEmpty)
    }

    @Test func aWorkspaceThatIsGoneIsSkippedAndGitIsNotEvidence() async throws {
        let files = LocalWorkspaceFiles()
        await files.write([WorkspaceView(name: "PROGRESS.md", text: "x")], workspace: "/nonexistent/ns-\(UUID())")
        let (local, ws) = try await make(.local, files: [".git/config": "[core]\n", "a.py": "1\n"])
        #expect(await local.hashes(workspace: ws, globs: ["**", "*", ".git/*"]).keys.sorted() == ["a.py"])
    }
}

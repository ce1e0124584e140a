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
    }

    func make(_ kind: Kind) async throws -> Fixture {
        switch kind {
        case .git:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ns-vcs-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try "# project\n".write(toFile: dir + "/README.md", atomically: true, encoding: .utf8)
            for args in [["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "init"]] { try hostGit(args, in: dir) }
            let location = try #require(await GitWorkspace.discover(dir))
            return Fixture(vcs: GitWorkspace(trust: .repository(location)), workspace: dir) { path, text in
                try text.write(toFile: dir + "/" + path, atomically: true, encoding: .utf8)
            }
        case .twin:
            let vcs = InMemoryVCS()
            vcs.initialise("/ws", files: ["README.md": "# project\n"])
            return Fixture(vcs: vcs, workspace: "/ws") { path, text in vcs.write("/ws", path, text) }
        }
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
        let again = await f.vcs.commit(workspace: f.workspace, message: "task done")
        #expect(again.commit == nil && again.detail == "nothing to commit", "\(again)")
        try f.write("calc.py", "def add(a, b):\n    return b + a\n")
        let second = await f.vcs.commit(workspace: f.workspace, message: "again")
        #expect(second.commit != nil && second.commit != first.commit)
    }

    @Test(arguments: Kind.allCases) func theViewsNightshiftWritesAreNotTheWork(_ kind: Kind) async throws {
        let f = try await make(kind)
        try f.write("PROGRESS.md", "# progress\n")
        #expect(await f.vcs.diffSummary(workspace: f.workspace) == "no uncommitted changes")
        #expect(await f.vcs.diff(workspace: f.workspace)?.contains("PROGRESS.md") == false)
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

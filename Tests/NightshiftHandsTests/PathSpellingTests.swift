import Foundation
import NightshiftCore
import NightshiftHands
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The policy gateway judges a file tool's `path` argument without touching the disk; the tool
/// then opens a file. For a rule to hold, every spelling of one file must reach the gateway as the
/// same path, and a spelling that names another file than it seems must be refused by the tool.
@Suite struct PathSpellingTests {
    /// What the built-in tools declare, from their own specs.
    static let traits = ToolCatalog(ToolBox.standard(isolation: .none(reason: "test")).specs).traits
    static let policy = Policy(
        rules: [
            PolicyRule(
                effect: .deny, tool: "read_file", path: "secrets/**", reason: "secrets stay secret",
                origin: "policy.yaml:2")
        ],
        protectedPaths: ["tests/**"])

    func spellings(_ root: String) -> [String] {
        [
            "secrets/token.txt", "./secrets/token.txt", "secrets//token.txt", "secrets/./token.txt",
            "docs/../secrets/token.txt",
            "./docs/./../secrets/token.txt", "docs/sub/../../secrets/token.txt", "secrets/x/../token.txt",
            "\(root)/secrets/token.txt", "\(root)//secrets/token.txt", "\(root)/./secrets/token.txt",
            "\(root)/docs/../secrets/token.txt",
        ]
    }

    func setup() throws -> (root: String, tools: ToolBox) {
        let (root, _) = try makeWorkspace()
        for dir in ["secrets/x", "docs/sub", "tests"] {
            try FileManager.default.createDirectory(atPath: root + "/" + dir, withIntermediateDirectories: true)
        }
        try "TOKEN-123".write(toFile: root + "/secrets/token.txt", atomically: true, encoding: .utf8)
        try "def test(): pass\n".write(toFile: root + "/tests/test_a.py", atomically: true, encoding: .utf8)
        return (root, ToolBox.standard(isolation: .none(reason: "path tests")))
    }

    @Test func everySpellingOfADeniedFileIsDenied() throws {
        let (root, _) = try setup()
        for spelling in spellings(root) {
            let args = String(decoding: try JSONSerialization.data(withJSONObject: ["path": spelling]), as: UTF8.self)
            let verdict = Self.policy.decide(
                tool: "read_file", arguments: args, traits: Self.traits["read_file"] ?? [], workspace: root)
            #expect(verdict.effect == .deny, "\(spelling) → \(verdict)")
        }
    }

    /// The property the gateway relies on: the file the tool opens is the path the gateway judged.
    @Test func theGatewaysPathIsTheFileTheToolOpens() throws {
        let (root, _) = try setup()
        let ws = try Workspace(root)
        for spelling in spellings(root) + ["tests/../tests/test_a.py", "a/b/../../docs", "."] {
            let opened = ws.relative(try ws.resolve(spelling))
            #expect(opened == Policy.normalize(spelling, workspace: root), "\(spelling)")
        }
    }

    @Test func everySpellingOfAProtectedFileIsProtected() throws {
        let (root, _) = try setup()
        for spelling in [
            "tests/test_a.py", "./tests/test_a.py", "docs/../tests/test_a.py", "\(root)/tests/test_a.py",
            "tests//test_a.py",
        ] {
            let args = String(
                decoding: try JSONSerialization.data(withJSONObject: ["path": spelling, "content": "x"]), as: UTF8.self)
            #expect(
                Self.policy.decide(
                    tool: "write_file", arguments: args, traits: Self.traits["write_file"] ?? [], workspace: root
                ).effect == .deny, "\(spelling)")
            let command = String(
                decoding: try JSONSerialization.data(withJSONObject: ["command": "rm \(spelling)"]), as: UTF8.self)
            #expect(
                Self.policy.decide(
                    tool: "shell", arguments: command, traits: Self.traits["shell"] ?? [], workspace: root
                ).effect == .deny, "rm \(spelling)"
            )
        }
    }

    /// A link is the one spelling the gateway cannot see through: the tool refuses it.
    @Test func aLinkToADeniedFileIsRefusedByTheTool() async throws {
        let (root, tools) = try setup()
        try FileManager.default.createSymbolicLink(atPath: root + "/docs/link", withDestinationPath: "../secrets")
        try FileManager.default.createSymbolicLink(
            atPath: root + "/token", withDestinationPath: root + "/secrets/token.txt")
        for path in ["docs/link/token.txt", "token"] {
            let args = #"{"path":"\#(path)"}"#
            // looks harmless…
            #expect(
                Self.policy.decide(
                    tool: "read_file", arguments: args, traits: Self.traits["read_file"] ?? [], workspace: root
                ).effect == .allow)
            let r = await tools.run(
                ToolCall(id: CallID("m1.1"), name: "read_file", arguments: Payload(args)), workspace: root)
            #expect(!r.ok)  // …and is refused
            #expect(!r.output.text.contains("TOKEN-123"), "\(r.output.text)")
            #expect(r.output.text.contains("symbolic link"), "\(r.output.text)")
        }
    }

    /// A workspace named through a link: absolute paths by its real name are refused, since the
    /// gateway strips the name the run recorded.
    @Test func absolutePathsThroughAnotherNameOfTheWorkspaceAreRefused() async throws {
        let (root, tools) = try setup()
        let alias = root + "-alias"
        try FileManager.default.createSymbolicLink(atPath: alias, withDestinationPath: root)
        let r = await tools.run(
            ToolCall(
                id: CallID("m1.1"), name: "read_file", arguments: Payload(#"{"path":"\#(root)/secrets/token.txt"}"#)),
            workspace: alias)
        #expect(!r.ok)
        #expect(!r.output.text.contains("TOKEN-123"))
    }
}

/// The file tools never touch git's metadata: a hook or `core.fsmonitor` written there would run on
/// the host at Nightshift's next git command.
@Suite struct GitMetadataToolTests {
    @Test func noSpellingOfDotGitIsWritableOrReadable() async throws {
        let (root, _) = try makeWorkspace()
        try FileManager.default.createDirectory(atPath: root + "/.git/hooks", withIntermediateDirectories: true)
        try "[core]\n".write(toFile: root + "/.git/config", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: root + "/g", withDestinationPath: ".git")
        let tools = ToolBox.standard(isolation: .none(reason: ".git tests"))
        let paths = [
            ".git/config", ".git/hooks/pre-commit", "./.git/config", "a/../.git/config",
            ".git/../.git/hooks/post-commit",
            ".GIT/config", ".Git/hooks/pre-commit", "\(root)/.git/config", "g/config", "g/hooks/pre-commit", ".git",
            "sub/.git/config",
        ]
        for path in paths {
            for (tool, extra) in [
                ("write_file", #","content":"[core]\n\tfsmonitor = touch /tmp/pwned""#),
                ("edit_file", #","old_string":"[core]","new_string":"[core]\n\tfsmonitor = x""#),
                ("read_file", ""), ("list_files", ""),
            ] {
                let r = await tools.run(
                    ToolCall(id: CallID("m1.1"), name: tool, arguments: Payload(#"{"path":"\#(path)"\#(extra)}"#)),
                    workspace: root)
                #expect(!r.ok, "\(tool) \(path) was allowed: \(r.output.text)")
            }
        }
        #expect(try String(contentsOfFile: root + "/.git/config", encoding: .utf8) == "[core]\n")
        #expect(!FileManager.default.fileExists(atPath: root + "/.git/hooks/pre-commit"))
        #expect(!FileManager.default.fileExists(atPath: root + "/.git/hooks/post-commit"))
        #expect(!FileManager.default.fileExists(atPath: root + "/sub/.git"))
        // Listing and searching the workspace skip it in any case.
        try FileManager.default.createDirectory(atPath: root + "/.GIT", withIntermediateDirectories: true)
        try "needle\n".write(toFile: root + "/.GIT/x", atomically: true, encoding: .utf8)
        let list = await tools.run(ToolCall(id: CallID("m1.1"), name: "list_files", arguments: "{}"), workspace: root)
        #expect(!list.output.text.lowercased().contains(".git/"), "\(list.output.text)")
        let grep = await tools.run(
            ToolCall(id: CallID("m1.1"), name: "grep", arguments: #"{"pattern":"needle|core"}"#), workspace: root)
        #expect(grep.output.text == "no matches", "\(grep.output.text)")
    }

    /// Nightshift's own folder in the workspace (the database's) is refused to every file tool.
    @Test func hiddenPathsAreRefusedAndNotListed() async throws {
        let (root, _) = try makeWorkspace()
        try FileManager.default.createDirectory(atPath: root + "/.nightshift", withIntermediateDirectories: true)
        try "SQLite format 3".write(toFile: root + "/.nightshift/nightshift.db", atomically: true, encoding: .utf8)
        let tools = ToolBox(
            tools: ToolBox.standard(isolation: .none(reason: "hidden tests")).tools, hidden: [root + "/.nightshift"])
        for (tool, args) in [
            ("read_file", #"{"path":".nightshift/nightshift.db"}"#),
            ("read_file", #"{"path":"x/../.nightshift/nightshift.db"}"#),
            ("write_file", #"{"path":".nightshift/nightshift.db","content":"x"}"#),
            ("write_file", #"{"path":".nightshift/new","content":"x"}"#), ("list_files", #"{"path":".nightshift"}"#),
            ("grep", #"{"pattern":"SQLite","path":".nightshift"}"#),
        ] {
            let r = await tools.run(ToolCall(id: CallID("m1.1"), name: tool, arguments: Payload(args)), workspace: root)
            #expect(!r.ok, "\(tool) \(args): \(r.output.text)")
            #expect(!r.output.text.contains("SQLite format"), "\(tool) \(args)")
        }
        let grep = await tools.run(
            ToolCall(id: CallID("m1.1"), name: "grep", arguments: #"{"pattern":"SQLite"}"#), workspace: root)
        #expect(grep.output.text == "no matches", "\(grep.output.text)")
        let list = await tools.run(ToolCall(id: CallID("m1.1"), name: "list_files", arguments: "{}"), workspace: root)
        #expect(!list.output.text.contains(".nightshift"), "\(list.output.text)")
        #expect(try String(contentsOfFile: root + "/.nightshift/nightshift.db", encoding: .utf8) == "SQLite format 3")
    }
}

/// A named pipe, socket or device in the workspace never blocks a file tool.
@Suite struct SpecialFileTests {
    @Test func aNamedPipeIsRefusedAtOnce() async throws {
        let (root, _) = try makeWorkspace()
        #expect(mkfifo(root + "/pipe", 0o644) == 0)
        try "needle\n".write(toFile: root + "/a.txt", atomically: true, encoding: .utf8)
        let tools = ToolBox.standard(isolation: .none(reason: "fifo tests"))
        let start = ContinuousClock.now
        for (tool, args) in [
            ("read_file", #"{"path":"pipe"}"#), ("edit_file", #"{"path":"pipe","old_string":"a","new_string":"b"}"#),
            ("grep", #"{"pattern":"x","path":"pipe"}"#),
        ] {
            let r = await tools.run(ToolCall(id: CallID("m1.1"), name: tool, arguments: Payload(args)), workspace: root)
            #expect(!r.ok, "\(tool): \(r.output.text)")
            #expect(
                r.output.text.contains("named pipe") || r.output.text.contains("not a regular file"),
                "\(tool): \(r.output.text)")
        }
        // A search over the folder passes the pipe by and finds the rest.
        let grep = await tools.run(
            ToolCall(id: CallID("m1.1"), name: "grep", arguments: #"{"pattern":"needle"}"#), workspace: root)
        #expect(grep.output.text.contains("a.txt:1: needle"), "\(grep.output.text)")
        // Opening the pipe would block until the tools' 60 s deadline, for each of the four calls.
        #expect(ContinuousClock.now - start < .seconds(40))
    }

    @Test func deadlinesAreAboveEachToolsOwnTimeout() {
        let tools = ToolBox.standard(isolation: .none(reason: "deadline tests"))
        func call(_ name: String, _ args: String) -> ToolCall {
            ToolCall(id: CallID("m1.1"), name: name, arguments: Payload(args))
        }
        #expect(tools.deadline(for: call("shell", #"{"command":"true","timeout_seconds":30}"#)) == .seconds(90))
        #expect(tools.deadline(for: call("shell", #"{"command":"true","timeout_seconds":999999}"#)) == .seconds(3660))
        #expect(tools.deadline(for: call("shell", #"{"command":"true"}"#)) == .seconds(180))
        #expect(tools.deadline(for: call("read_file", #"{"path":"a"}"#)) == .seconds(60))
    }
}

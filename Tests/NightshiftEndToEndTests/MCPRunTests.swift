import Foundation
import NightshiftCore
import NightshiftSQLite
import NightshiftTesting
import Testing

/// MCP tools in a whole run through the executable: offered, called, recorded like any tool
/// call, and the servers started again by `resume`. Uses the Python test server of the hands
/// tests and the venv .ci/run makes (required in CI).
enum MCPFixture {
    static let testsRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let script = testsRoot.appendingPathComponent("NightshiftHandsTests/MCPServer/test_server.py").path
    static let packageRoot = testsRoot.deletingLastPathComponent().path

    static let python = TestPython.venv(packageRoot: packageRoot, importing: "mcp.server.fastmcp")

}

@Suite(.enabled(if: MCPFixture.python != nil || ProcessInfo.processInfo.environment["CI"] != nil))
struct MCPRunTests {
    static let plan = """
        title: mcp
        tasks:
          - id: sum
            description: ask the add tool for 40 + 2 and write the answer to sum.txt
            checks:
              - grep -qx 42 sum.txt
          - id: again
            description: write again.txt
            checks:
              - test -f again.txt
        """
    static let firstTask = """
        tasks:
          sum:
            - tools:
                - mcp__t__add: {a: 40, b: 2}
                - mcp__t__big: {kilobytes: 256}
                - mcp__t__fail: {message: deliberately broken}
            - tools:
                - write_file: {path: sum.txt, content: "42"}
              done: the add tool said 42
        """
    static let bothTasks =
        firstTask + """

              again:
                - tools:
                    - mcp__t__add: {a: 1, b: 1}
                    - write_file: {path: again.txt, content: "2"}
                  done: wrote again
            """

    func setup() throws -> (root: String, args: [String]) {
        let python = try #require(
            MCPFixture.python, "the venv with the Python mcp SDK is missing: bash .ci/run creates it")
        let root = tempDir("ns-mcp-run")
        try FileManager.default.createDirectory(atPath: root + "/ws", withIntermediateDirectories: true)
        try Self.plan.write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        try Self.firstTask.write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
        let scriptDir = URL(fileURLWithPath: MCPFixture.script).deletingLastPathComponent().path
        try """
        servers:
          - name: t
            command: \(python.executable)
            args: [\(MCPFixture.script)]
            read_only: [\(MCPFixture.packageRoot)/.venv, \(python.basePrefix), \(scriptDir)]
            timeout_seconds: 20
        """.write(toFile: root + "/mcp.yaml", atomically: true, encoding: .utf8)
        return (
            root,
            [
                "--workspace", root + "/ws", "--db", root + "/ns.db", "--plan", root + "/plan.yaml",
                "--model", "scripted:\(root)/scenario.yaml", "--mcp", root + "/mcp.yaml",
            ]
        )
    }

    @Test func mcpToolsAreCalledRecordedAndRestartedOnResume() async throws {
        let (root, args) = try setup()
        let first = try await nightshift(["run", "--id", "m"] + args)
        #expect(first.status == 3, "\(first.stdout)\(first.stderr)")  // the scenario ends after task one
        #expect(first.stdout.contains("mcp server t started"))

        let store = try SQLiteEventStore(path: root + "/ns.db")
        var events = try await store.readAll(RunID("m")).map(\.event)
        var results: [String: ToolResult] = [:]
        var names: [CallID: String] = [:]
        for e in events {
            if case let .toolRequested(call, name, _) = e { names[call] = name }
            if case let .toolFinished(call, result) = e, let name = names[call] { results[name] = result }
        }
        #expect(results["mcp__t__add"]?.ok == true && results["mcp__t__add"]?.output.text == "42")
        #expect(results["mcp__t__big"]?.output.text.contains("bytes of output cut") == true)
        #expect(
            results["mcp__t__fail"]?.ok == false
                && results["mcp__t__fail"]?.output.text.contains("deliberately broken") == true)
        // The read-only tool was declared idempotent; the failing one was not.
        #expect(events.contains { if case .toolRequested(_, "mcp__t__big", true) = $0 { true } else { false } })
        #expect(events.contains { if case .toolRequested(_, "mcp__t__fail", false) = $0 { true } else { false } })
        guard case let .runCreated(_, _, _, settings)? = events.first else {
            Issue.record("no run_created")
            return
        }
        #expect(settings.toolServers?.first?.name == "t")

        // Resume starts the recorded server again, and the second task uses it.
        try Self.bothTasks.write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
        let resumed = try await nightshift(["resume", "m", "--db", root + "/ns.db"])
        #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
        events = try await store.readAll(RunID("m")).map(\.event)
        let starts = events.filter { if case .toolServerStarted = $0 { true } else { false } }
        #expect(starts.count == 2)
        #expect(try await nightshift(["audit", "verify", "m", "--db", root + "/ns.db"]).status == 0)
    }

    @Test func aBadMCPFileSaysWhereAndStartsNothing() async throws {
        let (root, args) = try setup()
        try "servers:\n  - name: bad_name\n    command: /bin/true\n".write(
            toFile: root + "/mcp.yaml", atomically: true, encoding: .utf8)
        let r = try await nightshift(["run", "--id", "x"] + args)
        #expect(r.status == 1)
        #expect(r.stderr.contains("mcp.yaml:2"), "\(r.stderr)")
        #expect(r.stderr.contains("letters, digits or '-'"))
        try "servers:\n  - name: gone\n    command: no-such-program-anywhere\n".write(
            toFile: root + "/mcp.yaml", atomically: true, encoding: .utf8)
        let missing = try await nightshift(["run", "--id", "x"] + args)
        #expect(missing.status == 1 && missing.stderr.contains("not on PATH"), "\(missing.stderr)")
        // A server that exits at start: a clear error, and no run was created.
        try "servers:\n  - name: quits\n    command: /bin/sh\n    args: [-c, 'echo cannot work >&2; exit 1']\n".write(
            toFile: root + "/mcp.yaml", atomically: true, encoding: .utf8)
        let quits = try await nightshift(["run", "--id", "x"] + args)
        #expect(quits.status == 1 && quits.stderr.contains("cannot work"), "\(quits.stderr)")
        if FileManager.default.fileExists(atPath: root + "/ns.db") {
            #expect(try await SQLiteEventStore(path: root + "/ns.db").summary(of: RunID("x")) == nil)
        }
    }
}

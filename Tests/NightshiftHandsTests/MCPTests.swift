import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The test MCP server (MCPServer/test_server.py, official Python SDK), run with the venv that
/// .ci/run creates. Required in CI; elsewhere the suite is skipped when the venv lacks `mcp`.
enum MCPTestServer {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "MCPServer/test_server.py"
    ).path
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// The venv's python and the interpreter's own prefix (the venv links to it), when `mcp` imports.
    static let python = TestPython.venv(packageRoot: packageRoot, importing: "mcp.server.fastmcp")

    static var available: Bool { python != nil }

    static func config(name: String = "t", timeout: Int = 10, env: [String] = []) throws -> ToolServer {
        let python = try #require(python, "the venv with the Python mcp SDK is missing: bash .ci/run creates it")
        return ToolServer(
            name: name, command: python.executable, args: [script], env: env,
            readOnly: [
                packageRoot + "/.venv", python.basePrefix,
                URL(fileURLWithPath: script).deletingLastPathComponent().path,
            ],
            // The suite starts while the whole test run is at its busiest (its first server start
            // took 27–33 s there, against 3–4 s alone): the window a slow first start can be given.
            timeoutSeconds: timeout, startupSeconds: 120)
    }
}

@Suite(.enabled(if: MCPTestServer.available || ProcessInfo.processInfo.environment["CI"] != nil), .serialized)
struct MCPTests {
    func isolation() throws -> Isolation {
        try #require(SandboxProbe.isolation, "bubblewrap does not work here; CI installs it")
    }

    func started(
        _ server: ToolServer? = nil, isolation: Isolation? = nil
    ) async throws -> (MCPToolRunner, [Event], String) {
        let (root, _) = try makeWorkspace()
        let (runner, events) = try await MCPToolRunner.start(
            [try server ?? MCPTestServer.config()],
            builtin: ToolBox.standard(isolation: try isolation ?? self.isolation()),
            isolation: try isolation ?? self.isolation(), workspace: root)
        return (runner, events, root)
    }

    func run(_ runner: MCPToolRunner, _ tool: String, _ args: String, in root: String) async -> ToolResult {
        await runner.run(
            ToolCall(id: CallID("m1.1"), name: "mcp__t__\(tool)", arguments: Payload(args)), workspace: root)
    }

    @Test func toolsAreListedUnderNamespacedNamesWithSchemasAndIdempotency() async throws {
        let (runner, events, _) = try await started()
        defer { Task { await runner.shutdown() } }
        let names = runner.specs.map(\.name)
        #expect(names.contains("shell") && names.contains("read_file"))  // built-ins stay
        for t in ["add", "slow", "fail", "big", "env", "read", "write", "crash"] {
            #expect(names.contains("mcp__t__\(t)"))
        }
        let add = try #require(runner.specs.first { $0.name == "mcp__t__add" })
        #expect(add.idempotent)  // readOnlyHint
        #expect(add.parametersSchema.contains(#""required":["a","b"]"#))
        #expect(add.description.hasPrefix("[MCP server t]"))
        #expect(runner.specs.first { $0.name == "mcp__t__write" }?.idempotent == false)
        guard case let .toolServerStarted(name, tools, detail)? = events.first else {
            Issue.record("no start event")
            return
        }
        #expect(name == "t" && tools.contains("mcp__t__add") && detail.contains("sandboxed"))
    }

    @Test func callsReturnResultsErrorsAndCutLargeOutput() async throws {
        let (runner, _, root) = try await started()
        defer { Task { await runner.shutdown() } }
        let sum = await run(runner, "add", #"{"a":2,"b":40}"#, in: root)
        #expect(sum.ok && sum.output.text == "42", "\(sum.output.text)")

        let failed = await run(runner, "fail", #"{"message":"the widget is broken"}"#, in: root)
        #expect(!failed.ok)
        #expect(failed.output.text.contains("the widget is broken"))

        let big = await run(runner, "big", #"{"kilobytes":2048}"#, in: root)  // 2 MiB of text
        #expect(big.ok)
        #expect(big.output.text.utf8.count < 20_000)
        #expect(big.output.text.contains("bytes of output cut"))

        let bad = await run(runner, "add", #"[1,2]"#, in: root)
        #expect(!bad.ok && bad.output.text.contains("not a complete JSON object"))
        let wrongType = await run(runner, "add", #"{"a":"two","b":1}"#, in: root)
        #expect(!wrongType.ok)  // the server validates against its schema
        let unknown = await runner.run(
            ToolCall(id: CallID("m1.1"), name: "mcp__nope__x", arguments: "{}"), workspace: root)
        #expect(!unknown.ok && unknown.output.text.contains("unknown tool"))

        // The server still answers after all that.
        let again = await run(runner, "add", #"{"a":1,"b":1}"#, in: root)
        #expect(again.ok && again.output.text == "2")
    }

    @Test func aSlowCallTimesOutAndTheServerIsRestarted() async throws {
        let (runner, _, root) = try await started(try MCPTestServer.config(timeout: 2))
        defer { Task { await runner.shutdown() } }
        let start = ContinuousClock.now
        let slow = await run(runner, "slow", #"{"seconds":600}"#, in: root)
        #expect(ContinuousClock.now - start < .seconds(120))  // far from the 600 s the answer would take
        #expect(!slow.ok && slow.output.text.contains("no answer within 2 s"))
        let fast = await run(runner, "slow", #"{"seconds":0.1}"#, in: root)
        #expect(fast.ok, "\(fast.output.text)")
        #expect(fast.output.text.contains("restarted"))
        let events = await runner.takeEvents()
        #expect(events.count == 1)
        guard case let .toolServerStarted(_, _, detail)? = events.first else {
            Issue.record("expected a tool_server_started event for the restart, got \(events)")
            return
        }
        #expect(detail.contains("start 2"))
    }

    @Test func aServerThatDiesIsRestartedOnTheNextCall() async throws {
        let (runner, _, root) = try await started()
        defer { Task { await runner.shutdown() } }
        let before = await run(runner, "pid", "{}", in: root)
        let crash = await run(runner, "crash", "{}", in: root)
        #expect(!crash.ok)
        #expect(crash.output.text.contains("exited with status"), "\(crash.output.text)")
        let after = await run(runner, "add", #"{"a":3,"b":4}"#, in: root)
        #expect(after.ok && after.output.text.hasSuffix("7"))
        #expect(after.output.text.contains("restarted"))
        #expect(before.ok)
    }

    /// A server that sends one enormous message does not make Nightshift buffer it: the call fails
    /// truthfully and the server is restarted for the next one.
    @Test func anOversizedMessageEndsTheCallNotNightshift() async throws {
        let (root, _) = try makeWorkspace()
        let connection = MCPServerConnection(
            server: try MCPTestServer.config(), isolation: try isolation(), workspace: root,
            maxMessageBytes: 256 * 1024)
        _ = try await connection.start()
        let big = await connection.call("mcp__t__big", arguments: #"{"kilobytes":1024}"#)
        #expect(!big.ok && big.output.text.contains("over 262144 bytes"), "\(big.output.text)")
        let after = await connection.call("mcp__t__add", arguments: #"{"a":1,"b":2}"#)
        #expect(after.ok && after.output.text.hasSuffix("3"), "\(after.output.text)")
        await connection.shutdown()
    }

    @Test func theServerRunsInTheSandbox() async throws {
        let (runner, _, root) = try await started()
        defer { Task { await runner.shutdown() } }
        // Host secrets are not there; writes outside the workspace fail; inside they land.
        let shadow = await run(runner, "read", #"{"path":"/etc/shadow"}"#, in: root)
        #expect(!shadow.ok)
        // Outside the workspace: a host folder beside it, and the sandbox's read-only root. (Its private
        // /tmp is writable, and a checkout may live under /tmp, so that is not where to test.)
        let outside = URL(fileURLWithPath: root).deletingLastPathComponent().appendingPathComponent("outside").path
        let beside = await run(runner, "write", #"{"path":"\#(outside)/escaped.txt","text":"x"}"#, in: root)
        #expect(!beside.ok)
        #expect(!FileManager.default.fileExists(atPath: outside + "/escaped.txt"))
        let rootfs = await run(runner, "write", #"{"path":"/escaped.txt","text":"x"}"#, in: root)
        #expect(!rootfs.ok && rootfs.output.text.contains("Read-only file system"), "\(rootfs.output.text)")
        let inside = await run(runner, "write", #"{"path":"\#(root)/made-by-mcp.txt","text":"hello"}"#, in: root)
        #expect(inside.ok, "\(inside.output.text)")
        #expect((try? String(contentsOfFile: root + "/made-by-mcp.txt", encoding: .utf8)) == "hello")
        // Its own PID namespace: the server is a low pid, not the host's.
        let pid = await run(runner, "pid", "{}", in: root)
        #expect(Int(pid.output.text).map { $0 < 10 } == true, "pid \(pid.output.text)")
    }

    @Test func onlyAllowlistedVariablesReachTheServer() async throws {
        setenv("NIGHTSHIFT_MCP_CANARY", "canary-7f3a", 1)
        setenv("NIGHTSHIFT_MCP_PASSED", "passed-value", 1)
        defer {
            unsetenv("NIGHTSHIFT_MCP_CANARY")
            unsetenv("NIGHTSHIFT_MCP_PASSED")
        }
        let (runner, events, root) = try await started(try MCPTestServer.config(env: ["NIGHTSHIFT_MCP_PASSED"]))
        defer { Task { await runner.shutdown() } }
        let canary = await run(runner, "env", #"{"name":"NIGHTSHIFT_MCP_CANARY"}"#, in: root)
        #expect(canary.output.text == "<unset>")
        let passed = await run(runner, "env", #"{"name":"NIGHTSHIFT_MCP_PASSED"}"#, in: root)
        #expect(passed.output.text == "passed-value")
        // The log records the variable's name, never its value.
        guard case let .toolServerStarted(_, _, detail)? = events.first else {
            Issue.record("no start event")
            return
        }
        #expect(detail.contains("NIGHTSHIFT_MCP_PASSED") && !detail.contains("passed-value"))
    }

    @Test func aServerThatCannotStartIsAClearError() async throws {
        let (root, _) = try makeWorkspace()
        let isolation = try isolation()
        // The interpreter is not bound into the sandbox: it cannot even start.
        var server = try MCPTestServer.config()
        server.readOnly = []
        do {
            _ = try await MCPToolRunner.start(
                [server], builtin: ToolBox.standard(isolation: isolation), isolation: isolation, workspace: root)
            Issue.record("a server without its interpreter started")
        } catch {
            #expect(error.message.contains("MCP server t"))
            #expect(error.message.contains("read_only"))
        }
        // A server that exits at once.
        let quits = ToolServer(name: "q", command: "/bin/sh", args: ["-c", "echo going away >&2; exit 5"])
        do {
            _ = try await MCPToolRunner.start(
                [quits], builtin: ToolBox.standard(isolation: isolation), isolation: isolation, workspace: root)
            Issue.record("a server that exits started")
        } catch {
            #expect(error.message.contains("going away"), "\(error.message)")
        }
    }
}

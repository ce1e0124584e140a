import Foundation
import MCP
public import NightshiftCore

/// One MCP stdio server as a source of tools: started inside the sandbox, its tools listed and
/// offered under `mcp__SERVER__TOOL`, each call bounded by the server's timeout. A server that
/// dies or times out is stopped and started again on the next call; every start is reported as a
/// `tool_server_started` event for the log.
public actor MCPServerConnection {
    public let server: ToolServer
    let isolation: Isolation
    let workspace: String
    let limits: ToolLimits
    /// Seconds a start (spawn, initialize, list tools) may take. Defaults to 30.
    let startTimeout: Duration
    /// The longest JSON-RPC message accepted from the server. Defaults to 32 MiB.
    let maxMessageBytes: Int

    private var process: StdioServerProcess?
    private var client: Client?
    private var transport: PipeTransport?
    private var remoteName: [String: String] = [:]
    private var events: [Event] = []
    private var starts = 0
    /// The tools as offered to the model, fixed at the first start (the catalog the decision function uses).
    public private(set) var specs: [ToolSpec] = []

    public init(
        server: ToolServer, isolation: Isolation, workspace: String, limits: ToolLimits = ToolLimits(),
        startTimeout: Duration? = nil, maxMessageBytes: Int = 32 << 20
    ) {
        self.server = server
        self.isolation = isolation
        self.workspace = workspace
        self.limits = limits
        self.startTimeout = startTimeout ?? .seconds(server.startupSeconds ?? ToolServer.defaultStartupSeconds)
        self.maxMessageBytes = maxMessageBytes
    }

    /// The namespaced name the model sees for `tool` of `server`.
    public static func offeredName(server: String, tool: String) -> String { "mcp__\(server)__\(tool)" }

    /// Starts the server and lists its tools.
    /// - Returns: the `tool_server_started` event to record.
    /// - Throws: why it could not start, with the tail of its stderr.
    public func start() async throws(MCPSourceError) -> Event {
        await shutdown()
        starts += 1
        let argv = sandboxedArgv()
        var environment = ToolEnvironment.make(workspace: workspace)
        let host = ProcessInfo.processInfo.environment
        for name in server.env { if let v = host[name] { environment[name] = v } }
        let stderrPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("nightshift-mcp-\(getpid())-\(server.name)-\(starts).log").path
        let process = try StdioServerProcess.start(
            argv: argv, environment: environment, cwd: workspace, stderrPath: stderrPath)
        self.process = process
        let client = Client(name: "nightshift", version: "0.1")
        self.client = client
        let transport = PipeTransport(
            readFD: process.readFD, writeFD: process.writeFD, maxMessageBytes: maxMessageBytes)
        self.transport = transport
        let listed = await Race.run(timeout: startTimeout, died: { Self.gone(process, transport) }) {
            try await client.connect(transport: transport)
            var tools: [MCP.Tool] = []
            var cursor: String?
            for _ in 0..<100 {  // pages; a server that never stops paging is cut off here
                let page = try await client.listTools(cursor: cursor)
                tools += page.tools
                cursor = page.nextCursor
                if cursor == nil { break }
            }
            return tools
        }
        let tools: [MCP.Tool]
        switch listed {
        case let .value(t): tools = t
        case let .failed(error): throw await startFailure("failed during initialize or tools/list: \(error)")
        case .timedOut: throw await startFailure("did not answer initialize and tools/list within \(startTimeout)")
        case let .died(why): throw await startFailure("\(why) before it finished starting")
        }
        var offered: [ToolSpec] = [], skipped: [String] = []
        remoteName = [:]
        for tool in tools {
            let name = Self.offeredName(server: server.name, tool: tool.name)
            guard name.count <= 64,
                tool.name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") })
            else {
                skipped.append(tool.name)
                continue
            }
            remoteName[name] = tool.name
            let idempotent = tool.annotations.readOnlyHint == true || tool.annotations.idempotentHint == true
            offered.append(
                ToolSpec(
                    name: name, description: "[MCP server \(server.name)] " + (tool.description ?? tool.name),
                    idempotent: idempotent, parametersSchema: Self.schemaText(tool.inputSchema)))
        }
        if specs.isEmpty { specs = offered }
        var detail =
            "\(argv.first == server.command ? "" : "sandboxed: ")\(([server.command] + server.args).joined(separator: " "))"
        detail += "; start \(starts)"
        if !server.env.isEmpty { detail += "; environment variables passed: \(server.env.joined(separator: ", "))" }
        if !skipped.isEmpty {
            detail += "; not offered (names must be letters, digits, '_' or '-'): \(skipped.joined(separator: ", "))"
        }
        return .toolServerStarted(name: server.name, tools: offered.map(\.name), detail: detail)
    }

    /// Calls one of this server's tools; failures, timeouts and a dead server are results, not throws.
    public func call(_ offered: String, arguments: String) async -> ToolResult {
        guard let remote = remoteName[offered] else {
            return .failure("\(offered): MCP server \(server.name) no longer offers this tool")
        }
        let args: [String: Value]
        do {
            let text = arguments.isEmpty ? "{}" : arguments
            args = try JSONDecoder().decode([String: Value].self, from: Data(text.utf8))
        } catch {
            return .failure(notAnObject(offered, arguments))
        }
        var restarted = ""
        if client == nil || process.flatMap({ Self.gone($0, transport) }) != nil {
            let why =
                process.flatMap { Self.gone($0, transport) }.map { "its previous process \($0)" } ?? "it was stopped"
            do {
                events.append(try await start())
                restarted = "[MCP server \(server.name) was restarted: \(why)]\n"
            } catch {
                return .failure(
                    "\(offered): MCP server \(server.name) is not running and could not be restarted: \(error.message)")
            }
        }
        guard let client, let process, let transport else {
            return .failure("\(offered): MCP server \(server.name) is not running")
        }
        let timeout = Duration.seconds(server.timeoutSeconds)
        let outcome = await Race.run(timeout: timeout, died: { Self.gone(process, transport) }) {
            try await client.callTool(name: remote, arguments: args)
        }
        switch outcome {
        case let .value(result):
            let text = restarted + Self.render(result.content, limit: limits.outputBytes)
            return ToolResult(ok: result.isError != true, output: Payload(text))
        case let .failed(error):
            return .failure(restarted + "\(offered): the MCP call failed: \(error)")
        case .timedOut:
            await shutdown(grace: .zero)
            return .failure(
                restarted
                    + "\(offered): no answer within \(server.timeoutSeconds) s; the MCP server was stopped and will be restarted on the next call"
            )
        case let .died(why):
            let tail = process.stderrTail(600)
            await shutdown(grace: .zero)
            return .failure(
                restarted + "\(offered): the MCP server \(why) during the call; it will be restarted on the next call"
                    + (tail.isEmpty ? "" : "\nits stderr ends with:\n\(tail)"))
        }
    }

    /// Events to record (restarts) since the last call.
    public func takeEvents() -> [Event] {
        defer { events = [] }
        return events
    }

    /// Disconnects and stops the server process: stdin closed, `grace` to exit, then the group killed.
    public func shutdown(grace: Duration = .seconds(2)) async {
        if let client { await client.disconnect() }
        client = nil
        transport = nil
        if let process { await process.stop(grace: grace) }
        process = nil
    }

    /// Why the server can no longer answer, or nil while it can.
    static func gone(_ process: StdioServerProcess, _ transport: PipeTransport?) -> String? {
        if let status = process.exited { return "exited with status \(status)" }
        return transport?.ended
    }

    private func startFailure(_ what: String) async -> MCPSourceError {
        let tail = process?.stderrTail() ?? ""
        await shutdown()
        var message = "MCP server \(server.name) (\(([server.command] + server.args).joined(separator: " "))) \(what)"
        if !tail.isEmpty { message += "\nits stderr ends with:\n\(tail)" }
        if case .bubblewrap = isolation {
            message +=
                "\n(it runs in the sandbox: the command, its interpreter and its files must be under /usr or listed in read_only)"
        }
        return MCPSourceError(message)
    }

    /// The server's command, isolated like every tool command, with these differences: no CPU-time
    /// limit (a server lives for the whole run), its `read_only` paths bound, and the environment
    /// passed through bubblewrap's own (so values never sit on a command line).
    private func sandboxedArgv() -> [String] {
        guard case .bubblewrap(let path, var limits) = isolation else { return [server.command] + server.args }
        limits.cpuSeconds = 0
        limits.readOnlyPaths += server.readOnly
        return Isolation.bubblewrap(path: path, limits: limits)
            .argv([server.command] + server.args, workspace: workspace, cwd: workspace, keepSpawnEnvironment: true)
    }

    static func schemaText(_ schema: Value) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(schema), case .object = schema else {
            return #"{"type":"object","properties":{}}"#
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Text as is; images, audio and binary resources summarised; the whole cut to `limit` bytes
    /// (head and tail kept) with a marker saying how much was cut.
    static func render(_ content: [MCP.Tool.Content], limit: Int) -> String {
        var parts: [String] = []
        for item in content {
            switch item {
            case let .text(text, _, _): parts.append(text)
            case let .image(data, mime, _, _): parts.append("[image \(mime), \(data.count * 3 / 4) bytes, not shown]")
            case let .audio(data, mime, _, _): parts.append("[audio \(mime), \(data.count * 3 / 4) bytes, not shown]")
            case let .resource(resource, _, _):
                if let text = resource.text {
                    parts.append("[resource \(resource.uri)]\n\(text)")
                } else {
                    parts.append(
                        "[resource \(resource.uri)\(resource.mimeType.map { ", \($0)" } ?? ""), \((resource.blob?.count ?? 0) * 3 / 4) bytes of binary, not shown]"
                    )
                }
            case let .resourceLink(uri, name, _, _, _, _): parts.append("[link \(name): \(uri)]")
            }
        }
        let text = parts.joined(separator: "\n")
        let bytes = Array(text.utf8)
        guard bytes.count > limit else { return text }
        let half = max(limit / 2, 1)
        return String(decoding: bytes.prefix(half), as: UTF8.self)
            + "\n[… \(bytes.count - 2 * half) bytes of output cut …]\n"
            + String(decoding: bytes.suffix(half), as: UTF8.self)
    }
}

public struct MCPSourceError: Error, CustomStringConvertible, Sendable {
    public var message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}

import Foundation
public import NightshiftCore

/// The built-in tools plus the tools of a run's MCP servers, behind one `ToolRunner`. Calls
/// named `mcp__SERVER__TOOL` go to that server; everything else to the built-in tools.
public struct MCPToolRunner: ToolRunner {
    let builtin: any ToolRunner
    let servers: [String: MCPServerConnection]
    public let specs: [ToolSpec]

    /// Starts every server (in order) and lists its tools.
    /// - Returns: the runner and the `tool_server_started` events to record.
    /// - Throws: ``MCPSourceError`` naming the first server that did not start; the ones already
    ///   started are stopped again.
    public static func start(
        _ servers: [ToolServer], builtin: any ToolRunner, isolation: Isolation, workspace: String,
        limits: ToolLimits = ToolLimits()
    ) async throws(MCPSourceError) -> (MCPToolRunner, [Event]) {
        var connections: [String: MCPServerConnection] = [:]
        var specs = builtin.specs
        var events: [Event] = []
        for server in servers {
            let connection = MCPServerConnection(
                server: server, isolation: isolation, workspace: workspace, limits: limits)
            do {
                events.append(try await connection.start())
            } catch {
                for c in connections.values { await c.shutdown() }
                throw error
            }
            connections[server.name] = connection
            specs += await connection.specs
        }
        return (MCPToolRunner(builtin: builtin, servers: connections, specs: specs), events)
    }

    public func run(_ call: ToolCall, workspace: String) async -> ToolResult {
        guard call.name.hasPrefix("mcp__") else { return await builtin.run(call, workspace: workspace) }
        let rest = call.name.dropFirst("mcp__".count)
        guard let end = rest.range(of: "__"), let server = servers[String(rest[..<end.lowerBound])] else {
            return .failure("unknown tool '\(call.name)'")
        }
        return await server.call(call.name, arguments: call.arguments.text)
    }

    public func deadline(for call: ToolCall) -> Duration? {
        call.name.hasPrefix("mcp__") ? .seconds(3720) : builtin.deadline(for: call)
    }

    public func takeEvents() async -> [Event] {
        var events: [Event] = []
        for name in servers.keys.sorted() { events += await servers[name]!.takeEvents() }
        return events
    }

    /// Stops every server (stdin closed, then the process group killed after a grace period).
    public func shutdown() async {
        for c in servers.values { await c.shutdown() }
    }
}

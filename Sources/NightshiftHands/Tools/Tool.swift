import Foundation
public import NightshiftCore

#if canImport(Glibc)
import Glibc
#endif

/// One tool the model may call.
public protocol Tool: Sendable {
    var spec: ToolSpec { get }
    func run(arguments: String, workspace: Workspace, call: CallID) async -> ToolResult
    /// How long the harness waits for this call before it gives up on it (see `ToolDeadline`):
    /// each tool answers from its own limits. Defaults to a minute, for a tool that never waits on
    /// anything but the disk.
    func deadline(for call: ToolCall) -> Duration
}

extension Tool {
    public func deadline(for call: ToolCall) -> Duration { .seconds(60) }
}

/// A tool whose arguments decode into a `Decodable` type; decoding errors become one plain
/// sentence for the model, and `run(_:workspace:call:)` only ever sees valid arguments.
public protocol TypedTool: Tool {
    associatedtype Args: Decodable
    func run(_ args: Args, workspace: Workspace, call: CallID) async -> ToolResult
}

extension TypedTool {
    public func run(arguments: String, workspace: Workspace, call: CallID) async -> ToolResult {
        switch decodeArguments(Args.self, arguments.isEmpty ? "{}" : arguments, tool: spec.name) {
        case .success(let args): return await run(args, workspace: workspace, call: call)
        case .failure(let error): return .failure(error.message)
        }
    }
}

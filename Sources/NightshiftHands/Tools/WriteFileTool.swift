import Foundation
public import NightshiftCore

#if canImport(Glibc)
import Glibc
#endif

public struct WriteFileTool: TypedTool {
    public init() {}

    public var spec: ToolSpec {
        ToolSpec(
            name: "write_file",
            description: "Write (create or replace) a text file in the workspace. Parent folders are created.",
            idempotent: false,
            parametersSchema: """
                {"type":"object","properties":{"path":{"type":"string"},"content":{"type":"string"}},"required":["path","content"]}
                """,
            traits: .writesPath)
    }

    public struct Args: Decodable {
        var path: String
        var content: String
    }

    public func run(_ args: Args, workspace: Workspace, call: CallID) async -> ToolResult {
        let path: String
        do { path = try workspace.resolve(args.path) } catch { return .failure("write_file: \(error.message)") }
        switch FileAccess.writeAtomically(path, Data(args.content.utf8), workspace: workspace) {
        case .success:
            return ToolResult(
                ok: true, output: Payload("wrote \(args.content.utf8.count) bytes to \(workspace.relative(path))"))
        case .failure(let e): return .failure("write_file: \(args.path): \(e.message)")
        }
    }
}

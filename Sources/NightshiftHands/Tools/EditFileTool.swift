import Foundation
public import NightshiftCore

#if canImport(Glibc)
import Glibc
#endif

/// Replaces one exact occurrence of a string. Refuses when the string is missing or appears more
/// than once (unless `replace_all`), so an edit never lands in the wrong place.
public struct EditFileTool: TypedTool {
    let limits: ToolLimits
    public init(limits: ToolLimits = ToolLimits()) { self.limits = limits }

    public var spec: ToolSpec {
        ToolSpec(
            name: "edit_file",
            description:
                "Replace an exact string in a workspace file. Fails if old_string is missing, or appears more than once without replace_all.",
            idempotent: false,
            parametersSchema: """
                {"type":"object","properties":{"path":{"type":"string"},"old_string":{"type":"string"},"new_string":{"type":"string"},"replace_all":{"type":"boolean"}},"required":["path","old_string","new_string"]}
                """,
            traits: .writesPath)
    }

    public struct Args: Decodable {
        var path: String
        var old_string: String
        var new_string: String
        var replace_all: Bool?
    }

    public func run(_ args: Args, workspace: Workspace, call: CallID) async -> ToolResult {
        guard !args.old_string.isEmpty else {
            return .failure("edit_file: old_string is empty; use write_file to create a file")
        }
        let path: String
        do { path = try workspace.resolve(args.path) } catch { return .failure("edit_file: \(error.message)") }
        let data: Data
        switch FileAccess.readRegularFile(path, limit: limits.readBytes) {
        case .success(let d): data = d
        case .failure(let e): return .failure("edit_file: \(args.path): \(e.message)")
        }
        guard !data.contains(0) else { return .failure("edit_file: \(args.path) is a binary file") }
        let text = String(decoding: data, as: UTF8.self)
        let count = text.components(separatedBy: args.old_string).count - 1
        guard count > 0 else {
            return .failure(
                "edit_file: \(args.path): old_string was not found; read the file and copy the text exactly")
        }
        guard count == 1 || args.replace_all == true else {
            return .failure(
                "edit_file: \(args.path): old_string appears \(count) times; add surrounding lines to make it unique, or pass replace_all"
            )
        }
        let edited = text.replacingOccurrences(of: args.old_string, with: args.new_string)
        switch FileAccess.writeAtomically(path, Data(edited.utf8), workspace: workspace) {
        case .success:
            return ToolResult(
                ok: true,
                output: Payload("replaced \(count) occurrence\(count == 1 ? "" : "s") in \(workspace.relative(path))"))
        case .failure(let e): return .failure("edit_file: \(args.path): \(e.message)")
        }
    }
}

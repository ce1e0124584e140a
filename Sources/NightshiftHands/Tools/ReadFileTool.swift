import Foundation
public import NightshiftCore

#if canImport(Glibc)
import Glibc
#endif

public struct ReadFileTool: TypedTool {
    let limits: ToolLimits
    public init(limits: ToolLimits = ToolLimits()) { self.limits = limits }

    public var spec: ToolSpec {
        ToolSpec(
            name: "read_file",
            description:
                "Read a text file in the workspace, optionally lines start_line…end_line (1-based, inclusive).",
            idempotent: true,
            parametersSchema: """
                {"type":"object","properties":{"path":{"type":"string"},"start_line":{"type":"integer"},"end_line":{"type":"integer"}},"required":["path"]}
                """)
    }

    public struct Args: Decodable {
        var path: String
        var start_line: Int?
        var end_line: Int?
    }

    public func run(_ args: Args, workspace: Workspace, call: CallID) async -> ToolResult {
        let path: String
        do { path = try workspace.resolve(args.path) } catch { return .failure("read_file: \(error.message)") }
        let data: Data
        switch FileAccess.readRegularFile(path, limit: limits.readBytes) {
        case .success(let d): data = d
        case .failure(let e): return .failure("read_file: \(args.path): \(e.message)")
        }
        if data.contains(0) {
            return ToolResult(ok: true, output: Payload("[binary file: \(data.count) bytes; not shown]"))
        }
        var text = String(decoding: data, as: UTF8.self)
        if args.start_line != nil || args.end_line != nil {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            let from = max(args.start_line ?? 1, 1)
            let to = min(args.end_line ?? lines.count, lines.count)
            guard from <= to else {
                return .failure("read_file: line range \(from)…\(to) is empty (the file has \(lines.count) lines)")
            }
            text = lines[(from - 1)..<to].joined(separator: "\n")
        }
        if text.utf8.count > limits.outputBytes {
            let kept = String(decoding: Array(text.utf8.prefix(limits.outputBytes)), as: UTF8.self)
            text = kept + "\n[… cut at \(limits.outputBytes) bytes; use start_line/end_line to read the rest …]"
        }
        return ToolResult(ok: true, output: Payload(text))
    }
}

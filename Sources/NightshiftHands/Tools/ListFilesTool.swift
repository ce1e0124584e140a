import Foundation
public import NightshiftCore

#if canImport(Glibc)
import Glibc
#endif

public struct ListFilesTool: TypedTool {
    let limits: ToolLimits
    public init(limits: ToolLimits = ToolLimits()) { self.limits = limits }

    public var spec: ToolSpec {
        ToolSpec(
            name: "list_files",
            description: "List files under a folder of the workspace (default: the whole workspace), skipping .git.",
            idempotent: true,
            parametersSchema: """
                {"type":"object","properties":{"path":{"type":"string"},"recursive":{"type":"boolean"}}}
                """)
    }

    public struct Args: Decodable {
        var path: String?
        var recursive: Bool?
    }

    public func run(_ args: Args, workspace: Workspace, call: CallID) async -> ToolResult {
        let base: String
        do { base = try workspace.resolve(args.path ?? ".") } catch { return .failure("list_files: \(error.message)") }
        var entries: [String] = []
        var truncated = false
        func walk(_ dir: String) {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
            for name in names.sorted() where !Workspace.isGitMetadata(name) {
                if entries.count >= limits.listEntries {
                    truncated = true
                    return
                }
                let full = dir + "/" + name
                if workspace.isHidden(full) { continue }
                var st = stat()
                guard lstat(full, &st) == 0 else { continue }
                let isDir = (st.st_mode & S_IFMT) == S_IFDIR
                entries.append(workspace.relative(full) + (isDir ? "/" : ""))
                if isDir, args.recursive ?? true { walk(full) }
            }
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: base, isDirectory: &isDir), isDir.boolValue else {
            return .failure("list_files: \(args.path ?? ".") is not a folder in the workspace")
        }
        walk(base)
        var text = entries.joined(separator: "\n")
        if truncated { text += "\n[… stopped at \(limits.listEntries) entries …]" }
        return ToolResult(ok: true, output: Payload(text.isEmpty ? "(empty)" : text))
    }
}

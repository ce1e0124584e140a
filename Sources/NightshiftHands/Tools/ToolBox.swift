import Foundation
public import NightshiftCore

#if canImport(Glibc)
import Glibc
#endif

/// The built-in tools, confined to the run's workspace: file tools resolve every path inside it
/// and follow no link; commands run in the run's isolation (bubblewrap unless the run says
/// otherwise); the environment is an allowlist, never inherited.
public struct ToolBox: ToolRunner {
    public let tools: [any Tool]
    /// Absolute paths inside the workspace that the file tools may read but never write (the run's
    /// own policy and guidance); the sandbox keeps them read-only for commands.
    public let sealed: Set<String>
    /// Nightshift's own files or folders that lie inside the workspace (the database's folder, a
    /// key file): no file tool may read, list or write them; the sandbox hides them from commands.
    public let hidden: [String]

    public init(tools: [any Tool], sealed: Set<String> = [], hidden: [String] = []) {
        self.tools = tools
        self.sealed = sealed
        self.hidden = hidden
    }

    /// shell, read_file, write_file, edit_file, list_files, grep, git. Commands run with `isolation`;
    /// Nightshift's own git runs with `git` (see ``GitWorkspace``).
    public static func standard(
        isolation: Isolation, limits: ToolLimits = ToolLimits(), sealed: Set<String> = [],
        hidden: [String] = [], git: GitWorkspace = GitWorkspace()
    ) -> ToolBox {
        ToolBox(
            tools: [
                ShellTool(isolation: isolation, limits: limits), ReadFileTool(limits: limits), WriteFileTool(),
                EditFileTool(limits: limits), ListFilesTool(limits: limits), GrepTool(limits: limits),
                GitTool(limits: limits, git: git),
            ],
            sealed: sealed, hidden: hidden)
    }

    public var specs: [ToolSpec] { tools.map(\.spec) }

    /// The tool's own deadline (each answers from its own limits); a minute for a name no tool has.
    public func deadline(for call: ToolCall) -> Duration? {
        tools.first(where: { $0.spec.name == call.name })?.deadline(for: call) ?? .seconds(60)
    }

    /// Whether `path` (absolute, in the workspace `root`) is sealed configuration: a sealed file or
    /// anything under a sealed folder, or anything under a `.nightshift` folder at any depth (in any
    /// case: a project's configuration folder, which a person's command would find).
    func isConfiguration(_ path: String, workspace root: String) -> Bool {
        let real = Workspace.realPath(path) ?? path
        for p in [path, real] where sealed.contains(where: { p == $0 || p.hasPrefix($0 + "/") }) { return true }
        let relative = path.hasPrefix(root + "/") ? path.dropFirst(root.count + 1) : Substring(path)
        return relative.split(separator: "/").contains { $0.lowercased() == ".nightshift" }
    }

    public func run(_ call: ToolCall, workspace: String) async -> ToolResult {
        guard let tool = tools.first(where: { $0.spec.name == call.name }) else {
            return .failure("unknown tool '\(call.name)'")
        }
        let ws: Workspace
        do { ws = try Workspace(workspace, hidden: hidden) } catch { return .failure(error.message) }
        if tool.spec.traits.contains(.writesPath), let path = call.parsed.path, let resolved = try? ws.resolve(path),
            isConfiguration(resolved, workspace: ws.root)
        {
            return .failure(
                "\(call.name): refused: \(path) is Nightshift's configuration (the run's policy, guidance, agent "
                    + "profiles or a .nightshift folder), which the agent may read but not change")
        }
        return await tool.run(arguments: call.arguments.text, workspace: ws, call: call.id)
    }
}

import Foundation
public import NightshiftCore
import Yams

/// Loads the MCP servers a run uses (`nightshift run --mcp FILE`):
///
/// ```yaml
/// servers:
///   - name: docs                 # letters, digits, '-'; tools appear as mcp__docs__TOOL
///     command: python3           # looked up on PATH now; a path with '/' is relative to this file
///     args: [server.py, --quiet]
///     env: [DOCS_TOKEN]          # variables passed from Nightshift's environment (names only are logged)
///     read_only: [/opt/venv, .]  # host paths bound read-only into the sandbox; relative to this file
///     timeout_seconds: 60        # per call; default 120
///     startup_seconds: 120       # to start and list its tools; default 30
/// ```
///
/// Paths are made absolute here, so the run's log records exactly what was started.
public enum MCPConfigFile {
    public static func load(path: String) throws(FileError) -> [ToolServer] {
        try parse(
            try YAMLReader.readText(path, what: "MCP servers"), file: path,
            searchPath: ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
    }

    public static func parse(_ text: String, file: String, searchPath: String) throws(FileError) -> [ToolServer] {
        let r = YAMLReader(file: file)
        let root = try r.load(text)
        let top = try r.mapping(root, "the MCP file")
        try r.checkKeys(top, allowed: ["servers"], in: "the MCP file")
        guard let list = top.first(where: { $0.key == "servers" })?.value else {
            throw r.fail(root, "the MCP file has no 'servers' list")
        }
        let base = URL(fileURLWithPath: file).standardizedFileURL.deletingLastPathComponent()
        func absolute(_ p: String) -> String {
            p.hasPrefix("/")
                ? URL(fileURLWithPath: p).standardizedFileURL.path
                : base.appendingPathComponent(p).standardizedFileURL.path
        }
        var servers: [ToolServer] = []
        for (n, item) in try r.sequence(list, "'servers'").enumerated() {
            let what = "server \(n + 1)"
            let fields = try r.mapping(item, what)
            try r.checkKeys(
                fields, allowed: ["name", "command", "args", "env", "read_only", "timeout_seconds", "startup_seconds"],
                in: what)
            func field(_ key: String) -> Node? { fields.first(where: { $0.key == key })?.value }
            guard let nameNode = field("name") else { throw r.fail(item, "\(what) has no 'name'") }
            let name = try r.string(nameNode, "\(what)'s name")
            guard !name.isEmpty, name.count <= 24,
                name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") })
            else {
                throw r.fail(nameNode, "\(what)'s name '\(name)' must be 1 to 24 letters, digits or '-'")
            }
            guard !servers.contains(where: { $0.name == name }) else {
                throw r.fail(nameNode, "server name '\(name)' is used twice")
            }
            guard let commandNode = field("command") else { throw r.fail(item, "server '\(name)' has no 'command'") }
            let command = try r.string(commandNode, "server '\(name)' command")
            let resolved: String
            if command.contains("/") {
                resolved = absolute(command)
            } else {
                guard
                    let found = searchPath.split(separator: ":").map({ "\($0)/\(command)" })
                        .first(where: { FileManager.default.isExecutableFile(atPath: $0) })
                else {
                    throw r.fail(commandNode, "server '\(name)': '\(command)' is not on PATH; give its full path")
                }
                resolved = found
            }
            guard FileManager.default.isExecutableFile(atPath: resolved) else {
                throw r.fail(commandNode, "server '\(name)': \(resolved) is not an executable file")
            }
            func strings(_ key: String) throws(FileError) -> [String] {
                guard let node = field(key) else { return [] }
                var out: [String] = []
                for v in try r.sequence(node, "server '\(name)' \(key)") {
                    out.append(try r.string(v, "an entry of server '\(name)' \(key)"))
                }
                return out
            }
            let env = try strings("env")
            for v in env
            where v.isEmpty || !v.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") })
                || v.first!.isNumber
            {
                throw r.fail(
                    field("env")!,
                    "server '\(name)' env: '\(v)' is not a variable name (list names; values come from the environment)"
                )
            }
            var readOnly: [String] = []
            for p in try strings("read_only") {
                let path = absolute(p)
                guard FileManager.default.fileExists(atPath: path) else {
                    throw r.fail(field("read_only")!, "server '\(name)' read_only: \(path) does not exist")
                }
                readOnly.append(path)
            }
            var timeout = 120
            if let t = field("timeout_seconds") {
                timeout = try r.int(t, "server '\(name)' timeout_seconds")
                guard (1...86_400).contains(timeout) else {
                    throw r.fail(t, "server '\(name)' timeout_seconds must be 1…86400")
                }
            }
            var startup: Int?
            if let t = field("startup_seconds") {
                let seconds = try r.int(t, "server '\(name)' startup_seconds")
                guard (1...3600).contains(seconds) else {
                    throw r.fail(t, "server '\(name)' startup_seconds must be 1…3600")
                }
                startup = seconds
            }
            servers.append(
                ToolServer(
                    name: name, command: resolved, args: try strings("args"), env: env, readOnly: readOnly,
                    timeoutSeconds: timeout, startupSeconds: startup))
        }
        guard !servers.isEmpty else { throw r.fail(list, "'servers' is empty") }
        return servers
    }
}

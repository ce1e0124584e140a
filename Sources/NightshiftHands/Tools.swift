import Foundation
public import NightshiftCore

#if canImport(Glibc)
import Glibc
#endif

/// One tool the model may call.
public protocol Tool: Sendable {
    var spec: ToolSpec { get }
    func run(arguments: String, workspace: Workspace, call: CallID) async -> ToolResult
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

/// The built-in tools, confined to the run's workspace. Code runs unsandboxed for now
/// (bubblewrap arrives with the sandbox work); the environment is an allowlist, never inherited.
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

    /// The shell's own timeout (as the call asks, within the limits) plus a minute; git's four
    /// commands at most; a minute for a file tool, which never waits on anything but the disk.
    public func deadline(for call: ToolCall) -> Duration? {
        switch call.name {
        case "shell":
            struct Timeout: Decodable { var timeout_seconds: Int? }
            let asked = (try? JSONDecoder().decode(Timeout.self, from: Data(call.arguments.text.utf8)))?.timeout_seconds
            let limits = ToolLimits()
            return .seconds(min(max(asked ?? limits.defaultTimeoutSeconds, 1), limits.maxTimeoutSeconds) + 60)
        case "git": return .seconds(300)
        default: return .seconds(60)
        }
    }

    public func run(_ call: ToolCall, workspace: String) async -> ToolResult {
        guard let tool = tools.first(where: { $0.spec.name == call.name }) else {
            return .failure("unknown tool '\(call.name)'")
        }
        let ws: Workspace
        do { ws = try Workspace(workspace, hidden: hidden) } catch { return .failure(error.message) }
        if !sealed.isEmpty, ["write_file", "edit_file"].contains(call.name),
            let object = try? JSONSerialization.jsonObject(with: Data(call.arguments.text.utf8)) as? [String: Any],
            let path = object["path"] as? String, let resolved = try? ws.resolve(path),
            sealed.contains(resolved) || sealed.contains(Workspace.realPath(resolved) ?? resolved)
        {
            return .failure(
                "\(call.name): refused: \(path) is the run's own policy or guidance, which the agent may not change")
        }
        return await tool.run(arguments: call.arguments.text, workspace: ws, call: call.id)
    }
}

/// Bounds on what tools may produce and how long they may run.
public struct ToolLimits: Sendable {
    /// Bytes of tool output handed back. Defaults to 16 KiB.
    public var outputBytes: Int = 16 * 1024
    /// Default and maximum shell timeout. Defaults to 120 s and 1 h.
    public var defaultTimeoutSeconds: Int = 120
    public var maxTimeoutSeconds: Int = 3600
    /// Largest file `read_file` returns. Defaults to 256 KiB.
    public var readBytes: Int = 256 * 1024
    /// Most entries `list_files` returns. Defaults to 2,000.
    public var listEntries: Int = 2000
    public init() {}
}

/// The environment every command gets: an allowlist, so Nightshift's own credentials never reach a tool.
public enum ToolEnvironment {
    public static func make(workspace: String) -> [String: String] {
        [
            "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workspace, "LANG": "C.UTF-8", "TERM": "dumb",
            "TMPDIR": "/tmp",
        ]
    }
}

/// Decodes a tool's JSON arguments, turning decoding failures into one plain sentence.
func decodeArguments<T: Decodable>(_ type: T.Type, _ json: String, tool: String) -> Result<T, ToolArgumentError> {
    guard let data = json.data(using: .utf8), (try? JSONSerialization.jsonObject(with: data)) is [String: Any] else {
        return .failure(ToolArgumentError("\(tool): arguments must be a JSON object, got: \(json.prefix(200))"))
    }
    do { return .success(try JSONDecoder().decode(T.self, from: data)) } catch let DecodingError.keyNotFound(key, _) {
        return .failure(ToolArgumentError("\(tool): missing required argument '\(key.stringValue)'"))
    } catch let DecodingError.typeMismatch(expected, context) {
        let name = context.codingPath.map(\.stringValue).joined(separator: ".")
        return .failure(
            ToolArgumentError(
                "\(tool): argument '\(name)' must be \(expected == String.self ? "a string" : "a \(expected)")"))
    } catch let DecodingError.valueNotFound(_, context) {
        let name = context.codingPath.map(\.stringValue).joined(separator: ".")
        return .failure(ToolArgumentError("\(tool): argument '\(name)' must not be null"))
    } catch {
        return .failure(ToolArgumentError("\(tool): invalid arguments"))
    }
}

struct ToolArgumentError: Error {
    var message: String
    init(_ m: String) { message = m }
}

// MARK: - shell

public struct ShellTool: TypedTool {
    let limits: ToolLimits
    let isolation: Isolation
    public init(isolation: Isolation, limits: ToolLimits = ToolLimits()) {
        self.isolation = isolation
        self.limits = limits
    }

    public var spec: ToolSpec {
        ToolSpec(
            name: "shell",
            description: "Run a shell command (/bin/sh -c) in the workspace. Returns exit status and output.",
            idempotent: false,
            parametersSchema: """
                {"type":"object","properties":{"command":{"type":"string"},"timeout_seconds":{"type":"integer"},"cwd":{"type":"string","description":"directory relative to the workspace"}},"required":["command"]}
                """,
            traits: .runsCommand)
    }

    public struct Args: Decodable {
        var command: String
        var timeout_seconds: Int?
        var cwd: String?
    }

    public func run(_ args: Args, workspace: Workspace, call: CallID) async -> ToolResult {
        var cwd = workspace.root
        if let rel = args.cwd {
            do { cwd = try workspace.resolve(rel) } catch { return .failure("shell: \(error.message)") }
        }
        let timeout = min(max(args.timeout_seconds ?? limits.defaultTimeoutSeconds, 1), limits.maxTimeoutSeconds)
        let outcome = await ProcessRunner.run(
            argv: isolation.argv(["/bin/sh", "-c", args.command], workspace: workspace.root, cwd: cwd),
            environment: ToolEnvironment.make(workspace: workspace.root),
            cwd: cwd, timeout: .seconds(timeout), outputLimit: limits.outputBytes,
            maxProcesses: isolation.maxProcesses)
        var text = outcome.output
        if outcome.timedOut { text += "\n(the command was killed after \(timeout) s)" }
        return ToolResult(
            ok: outcome.exitCode == 0, output: Payload("exit \(outcome.exitCode)\n" + text), exitCode: outcome.exitCode)
    }
}

// MARK: - read_file

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

// MARK: - write_file

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

// MARK: - list_files

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

// MARK: - file access helpers

struct FileAccessError: Error { var message: String }

enum FileAccess {
    /// Reads a regular file without following a final symlink; refuses files with several hard links
    /// (one of them may live outside the workspace).
    static func readRegularFile(_ path: String, limit: Int) -> Result<Data, FileAccessError> {
        // O_NONBLOCK: opening a named pipe would otherwise wait for a writer forever (and, the tool
        // being idempotent, again on every resume). The type is checked on the open descriptor.
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else {
            if errno == ENXIO { return .failure(FileAccessError(message: "not a regular file (a socket or device)")) }
            return .failure(
                FileAccessError(message: errno == ENOENT ? "no such file" : String(cString: strerror(errno))))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return .failure(FileAccessError(message: String(cString: strerror(errno)))) }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            return .failure(
                FileAccessError(
                    message: "not a regular file (\(FileAccess.kind(st.st_mode))); file tools read only regular files"))
        }
        guard st.st_nlink <= 1 else {
            return .failure(FileAccessError(message: "refused: the file has several hard links"))
        }
        guard Int(st.st_size) <= limit else {
            return .failure(
                FileAccessError(
                    message:
                        "the file is \(st.st_size) bytes, over the \(limit)-byte limit; read a line range with shell (sed -n)"
                ))
        }
        var data = Data(count: Int(st.st_size))
        let n = data.withUnsafeMutableBytes { read(fd, $0.baseAddress, Int(st.st_size)) }
        guard n >= 0 else { return .failure(FileAccessError(message: String(cString: strerror(errno)))) }
        return .success(data.prefix(n))
    }

    /// A file type in words, for refusals.
    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: "a folder"
        case S_IFIFO: "a named pipe"
        case S_IFSOCK: "a socket"
        case S_IFCHR, S_IFBLK: "a device"
        case S_IFLNK: "a symbolic link"
        default: "not a regular file"
        }
    }

    /// Writes through a temporary file and rename, so a hard link or symlink at the destination
    /// is replaced rather than written through.
    static func writeAtomically(_ path: String, _ data: Data, workspace: Workspace) -> Result<Void, FileAccessError> {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch { return .failure(FileAccessError(message: "cannot create folder: \(error.localizedDescription)")) }
        // The folder may have been created through a path checked above; re-check its real location.
        guard let realDir = Workspace.realPath(dir),
            realDir == workspace.root || realDir.hasPrefix(workspace.root + "/")
        else {
            return .failure(FileAccessError(message: "refused: the folder is outside the workspace"))
        }
        var st = stat()
        if lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
            return .failure(FileAccessError(message: "is a folder"))
        }
        let tmp = realDir + "/.nightshift-write-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return .failure(FileAccessError(message: String(cString: strerror(errno)))) }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, data.count) }
        close(fd)
        guard written == data.count else {
            unlink(tmp)
            return .failure(FileAccessError(message: errno == ENOSPC ? "the disk is full" : "short write"))
        }
        guard rename(tmp, realDir + "/" + url.lastPathComponent) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(tmp)
            return .failure(FileAccessError(message: message))
        }
        return .success(())
    }
}

// MARK: - edit_file

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

// MARK: - grep

/// Searches workspace files for a regular expression; `path:line: text`, capped. Skips `.git`,
/// binary files and files over the read limit.
public struct GrepTool: TypedTool {
    let limits: ToolLimits
    public init(limits: ToolLimits = ToolLimits()) { self.limits = limits }

    public var spec: ToolSpec {
        ToolSpec(
            name: "grep",
            description: "Search workspace files for a regular expression. Returns path:line: text for each match.",
            idempotent: true,
            parametersSchema: """
                {"type":"object","properties":{"pattern":{"type":"string"},"path":{"type":"string","description":"folder or file, default the workspace"},"ignore_case":{"type":"boolean"}},"required":["pattern"]}
                """)
    }

    public struct Args: Decodable {
        var pattern: String
        var path: String?
        var ignore_case: Bool?
    }

    public func run(_ args: Args, workspace: Workspace, call: CallID) async -> ToolResult {
        let regex: NSRegularExpression
        do {
            regex = try NSRegularExpression(
                pattern: args.pattern, options: args.ignore_case == true ? [.caseInsensitive] : [])
        } catch {
            return .failure("grep: '\(args.pattern)' is not a valid regular expression")
        }
        let base: String
        do { base = try workspace.resolve(args.path ?? ".") } catch { return .failure("grep: \(error.message)") }
        var files: [String] = []
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: base, isDirectory: &isDir) else {
            return .failure("grep: \(args.path ?? ".") does not exist")
        }
        if isDir.boolValue {
            func walk(_ dir: String) {
                guard files.count < 20_000, let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else {
                    return
                }
                for name in names.sorted() where !Workspace.isGitMetadata(name) {
                    let full = dir + "/" + name
                    if workspace.isHidden(full) { continue }
                    var st = stat()
                    guard lstat(full, &st) == 0 else { continue }
                    if (st.st_mode & S_IFMT) == S_IFDIR {
                        walk(full)
                    } else if (st.st_mode & S_IFMT) == S_IFREG {
                        files.append(full)
                    }
                }
            }
            walk(base)
        } else {
            // One file named: say why it cannot be searched rather than "no matches".
            if case let .failure(e) = FileAccess.readRegularFile(base, limit: limits.readBytes) {
                return .failure("grep: \(args.path ?? "."): \(e.message)")
            }
            files = [base]
        }
        var lines: [String] = []
        var bytes = 0
        var truncated = false
        outer: for file in files {
            guard case let .success(data) = FileAccess.readRegularFile(file, limit: limits.readBytes), !data.contains(0)
            else { continue }
            let text = String(decoding: data, as: UTF8.self)
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let s = String(line)
                guard regex.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil else { continue }
                let entry = "\(workspace.relative(file)):\(n + 1): \(s.prefix(300))"
                bytes += entry.utf8.count + 1
                if bytes > limits.outputBytes {
                    truncated = true
                    break outer
                }
                lines.append(entry)
            }
        }
        var out = lines.isEmpty ? "no matches" : lines.joined(separator: "\n")
        if truncated {
            out += "\n[… more matches cut at \(limits.outputBytes) bytes; narrow the pattern or the path …]"
        }
        return ToolResult(ok: true, output: Payload(out))
    }
}

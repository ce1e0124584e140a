import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A run's workspace directory and the rule that every path a tool touches stays inside it:
/// no absolute paths elsewhere, no `..` out, no symlink (leaf, dangling or ancestor) that leads out.
public struct Workspace: Sendable {
    /// The real (symlink-free) absolute path of the root.
    public let root: String

    /// - Throws: ``WorkspaceError`` if the directory does not exist.
    public init(_ path: String) throws(WorkspaceError) {
        guard let real = Workspace.realPath(path) else {
            throw WorkspaceError("the workspace \(path) does not exist: create it or pass another --workspace")
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: real, isDirectory: &isDir), isDir.boolValue else {
            throw WorkspaceError("the workspace \(path) is not a directory")
        }
        root = real
    }

    /// Resolves a tool's path argument to an absolute path inside the workspace.
    public func resolve(_ path: String) throws(WorkspaceError) -> String {
        guard !path.isEmpty else { throw WorkspaceError("the path is empty") }
        guard !path.contains("\0") else { throw WorkspaceError("the path contains a NUL byte") }
        var relative = path
        if path.hasPrefix("/") {
            guard path == root || path.hasPrefix(root + "/") else {
                throw WorkspaceError("refused: \(path) is outside the workspace (use a path relative to the workspace)")
            }
            relative = String(path.dropFirst(root.count))
        }
        var parts: [String] = []
        for component in relative.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".": continue
            case "..":
                guard !parts.isEmpty else { throw WorkspaceError("refused: \(path) leads outside the workspace") }
                parts.removeLast()
            default: parts.append(String(component))
            }
        }
        // Walk the existing prefix; any symlink must resolve to a place inside the root.
        var current = root
        for (i, part) in parts.enumerated() {
            let next = current + "/" + part
            var st = stat()
            if lstat(next, &st) != 0 {
                // Does not exist (yet): the rest is created under `current`, which is inside.
                return ([current] + parts[i...]).joined(separator: "/")
            }
            if (st.st_mode & S_IFMT) == S_IFLNK {
                guard let target = Workspace.realPath(next) else {
                    throw WorkspaceError("refused: \(path) goes through a dangling symlink")
                }
                guard target == root || target.hasPrefix(root + "/") else {
                    throw WorkspaceError("refused: \(path) goes through a symlink that leads outside the workspace")
                }
                current = target
            } else {
                current = next
            }
        }
        return current
    }

    /// The path relative to the root, for messages.
    public func relative(_ absolute: String) -> String {
        absolute == root ? "." : (absolute.hasPrefix(root + "/") ? String(absolute.dropFirst(root.count + 1)) : absolute)
    }

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }
}

public struct WorkspaceError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A run's workspace directory and the rule that every path a tool touches stays inside it and is
/// the file it names: no absolute paths elsewhere, no `..` out, no symbolic link anywhere on the
/// way (a link is named, with where it points, and not followed), nothing under `.git` in any
/// spelling, and nothing of Nightshift's own that lies in the workspace (the database's folder).
///
/// Not following links is what lets the policy gateway judge a path without touching the disk:
/// after `.`, `..` and the workspace prefix are removed, the path the policy sees is the file the
/// tool opens. (Shell commands may follow links; they run in the sandbox.)
public struct Workspace: Sendable {
    /// The real (symlink-free) absolute path of the root.
    public let root: String
    /// Real absolute paths inside the root that no file tool may touch (Nightshift's own files).
    public let hidden: [String]
    /// Whether the workspace was named by its real path. Absolute path arguments are taken only
    /// then: the policy gateway strips the workspace as the run recorded it, and an absolute path
    /// spelled through another name of the same folder would reach it unjudged.
    let acceptsAbsolute: Bool

    /// - Parameter hidden: Nightshift's own files or folders inside the workspace; tools refuse them.
    /// - Throws: ``WorkspaceError`` if the directory does not exist.
    public init(_ path: String, hidden: [String] = []) throws(WorkspaceError) {
        guard let real = Workspace.realPath(path) else {
            throw WorkspaceError(
                "the workspace \(path) does not exist: create it or pass another --workspace", code: .missing)
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: real, isDirectory: &isDir), isDir.boolValue else {
            throw WorkspaceError("the workspace \(path) is not a directory", code: .missing)
        }
        root = real
        acceptsAbsolute = URL(fileURLWithPath: path).standardizedFileURL.path == real
        self.hidden = hidden.map { Workspace.realPath($0) ?? $0 }
    }

    /// Whether a path component names git's metadata, in any case (`.git`, `.GIT`: one folder on a
    /// case-insensitive file system).
    public static func isGitMetadata(_ component: some StringProtocol) -> Bool {
        component.count == 4 && component.lowercased() == ".git"
    }

    /// Whether `absolute` is one of Nightshift's own paths or lies inside one.
    public func isHidden(_ absolute: String) -> Bool {
        hidden.contains { absolute == $0 || absolute.hasPrefix($0 + "/") }
    }

    /// Resolves a tool's path argument to an absolute path inside the workspace.
    public func resolve(_ path: String) throws(WorkspaceError) -> String {
        guard !path.isEmpty else { throw WorkspaceError("the path is empty", code: .invalidPath) }
        guard !path.contains("\0") else { throw WorkspaceError("the path contains a NUL byte", code: .invalidPath) }
        var relative = path
        if path.hasPrefix("/") {
            guard acceptsAbsolute, path == root || path.hasPrefix(root + "/") else {
                throw WorkspaceError(
                    "refused: \(path) is outside the workspace (use a path relative to the workspace)", code: .outside)
            }
            relative = String(path.dropFirst(root.count))
        }
        var parts: [String] = []
        for component in relative.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".": continue
            case "..":
                guard !parts.isEmpty else {
                    throw WorkspaceError("refused: \(path) leads outside the workspace", code: .outside)
                }
                parts.removeLast()
            default: parts.append(String(component))
            }
        }
        if parts.contains(where: Workspace.isGitMetadata) {
            throw WorkspaceError(
                "refused: \(path) is inside .git, git's own metadata, which tools may not touch (use the git tool)",
                code: .protected)
        }
        // Walk the existing prefix: no component may be a symbolic link.
        var current = root
        for (i, part) in parts.enumerated() {
            let next = current + "/" + part
            var st = stat()
            if lstat(next, &st) != 0 {
                // Does not exist (yet): the rest is created under `current`, which is inside.
                current = ([current] + parts[i...]).joined(separator: "/")
                break
            }
            if (st.st_mode & S_IFMT) == S_IFLNK {
                let shown = parts[...i].joined(separator: "/")
                guard let target = Workspace.realPath(next) else {
                    throw WorkspaceError(
                        "refused: \(shown) is a dangling symbolic link; file tools do not follow links", code: .link)
                }
                guard target == root || target.hasPrefix(root + "/") else {
                    throw WorkspaceError(
                        "refused: \(shown) is a symbolic link that leads outside the workspace", code: .link)
                }
                throw WorkspaceError(
                    "refused: \(shown) is a symbolic link to \(self.relative(target)); file tools do not follow links: use that path",
                    code: .link)
            }
            current = next
        }
        if isHidden(current) {
            throw WorkspaceError(
                "refused: \(path) is Nightshift's own (its database or keys), not part of the agent's workspace",
                code: .protected)
        }
        return current
    }

    /// The path relative to the root, for messages.
    public func relative(_ absolute: String) -> String {
        absolute == root
            ? "." : (absolute.hasPrefix(root + "/") ? String(absolute.dropFirst(root.count + 1)) : absolute)
    }

    /// `path` absolute and without links: the real path of its longest existing prefix, with the
    /// rest appended (for a file not made yet). How two names are compared for "the same place".
    public static func canonical(_ path: String) -> String {
        var head = URL(fileURLWithPath: path).standardizedFileURL.path
        var rest: [String] = []
        while head != "/", !head.isEmpty {
            if let real = realPath(head) { return ([real == "/" ? "" : real] + rest.reversed()).joined(separator: "/") }
            rest.append((head as NSString).lastPathComponent)
            head = (head as NSString).deletingLastPathComponent
        }
        return "/" + rest.reversed().joined(separator: "/")
    }

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }
}

/// Why a workspace or a path in it cannot be used: one line for the model or the person, and a
/// code that says which line of defence refused it.
public struct WorkspaceError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A struct over a private enum, so adding a code does not break callers' switches.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable { case missing, invalidPath, outside, link, protected, git }
        private let base: Base
        private init(_ b: Base) { base = b }
        /// The workspace does not exist or is not a folder.
        public static let missing = Code(.missing)
        /// An empty path, or one with a NUL byte.
        public static let invalidPath = Code(.invalidPath)
        /// The path leads outside the workspace.
        public static let outside = Code(.outside)
        /// A component is a symbolic link (file tools follow none).
        public static let link = Code(.link)
        /// Git's metadata, or Nightshift's own files: never the agent's.
        public static let protected = Code(.protected)
        /// Making or reattaching the run's worktree failed.
        public static let git = Code(.git)
        public var description: String { base.rawValue }
    }
    public var code: Code
    public var message: String
    public init(_ message: String, code: Code) {
        self.message = message
        self.code = code
    }
    public var description: String { message }
}

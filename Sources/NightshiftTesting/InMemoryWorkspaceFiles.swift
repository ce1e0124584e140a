public import NightshiftCore

/// The in-memory twin of the workspace files: views are kept, not written; protected files are
/// whatever the test puts in `files` (relative path → content hash).
public actor InMemoryWorkspaceFiles: WorkspaceFiles {
    public private(set) var views: [String: [String: String]] = [:]
    public var files: [String: [String: String]] = [:]

    public init() {}

    public func write(_ views: [WorkspaceView], workspace: String) {
        for v in views { self.views[workspace, default: [:]][v.name] = v.text }
    }

    public func hashes(workspace: String, globs: [String]) -> [String: String] {
        (files[workspace] ?? [:]).filter { path, _ in globs.contains { Glob.matches($0, path, pathMode: true) } }
    }

    /// Sets the protected-file evidence of `workspace` (relative path → hash).
    public func setFiles(_ hashes: [String: String], workspace: String) { files[workspace] = hashes }
}

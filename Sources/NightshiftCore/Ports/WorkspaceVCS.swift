import Foundation

/// Commits a run's workspace (a git worktree) to its branch. Never pushes.
public protocol WorkspaceVCS: Sendable {
    /// - Returns: the new commit, or nil with the reason when there was nothing to commit or it failed.
    func commit(workspace: String, message: String) async -> (commit: String?, detail: String)
    /// The workspace's change since its last commit (the judge reads it); nil when there is no history to diff against.
    func diff(workspace: String) async -> String?
    /// Which files changed since the last commit, in a few lines (a new shift's worker reads it).
    func diffSummary(workspace: String) async -> String?
}

extension WorkspaceVCS {
    public func diff(workspace: String) async -> String? { nil }
    public func diffSummary(workspace: String) async -> String? { nil }
}

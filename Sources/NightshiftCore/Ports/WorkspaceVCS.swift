import Foundation

/// Commits a run's workspace (a git worktree) to its branch. Never pushes.
public protocol WorkspaceVCS: Sendable {
    /// - Returns: the new commit, or nil with the reason when there was nothing to commit or it failed.
    func commit(workspace: String, message: String) async -> (commit: String?, detail: String)
    /// The workspace's change since its last commit (the judge reads it); nil when there is no history to diff against.
    func diff(workspace: String) async -> String?
    /// Which files changed since the last commit, in a few lines (a new shift's worker reads it).
    func diffSummary(workspace: String) async -> String?

    /// The merge queue's first half: merges `branch` into the branch `workspace` has checked out,
    /// in a scratch worktree of its own (the workspace and the branch are not touched).
    /// - Throws: when version control itself fails (not for a conflict: that is `.rejected`).
    func prepareMerge(branch: String, workspace: String, message: String) async throws -> MergePrepared
    /// Moves the workspace's branch from `base` to `merged` only if it is still at `base` (a
    /// compare-and-swap), and brings the workspace's files to it. False: the branch had moved.
    func advance(workspace: String, from base: String, to merged: String) async throws -> Bool
    /// Removes a scratch worktree `prepareMerge` made.
    func discardMerge(scratch: String, workspace: String) async
}

/// How a merge came out before its checks run.
public enum MergePrepared: Sendable, Equatable {
    /// The branch's tip is already in the workspace's branch (merged before a crash, or nothing to
    /// merge): the branch is at `head`.
    case alreadyMerged(head: String)
    /// It cannot be merged: the conflicting files and git's words, or why the branch cannot be read.
    case rejected(String)
    /// Merged as `merged` (a commit whose first parent is `base`) in the worktree `scratch`.
    case ready(scratch: String, base: String, merged: String)
}

extension WorkspaceVCS {
    public func diff(workspace: String) async -> String? { nil }
    public func diffSummary(workspace: String) async -> String? { nil }
    public func prepareMerge(branch: String, workspace: String, message: String) async throws -> MergePrepared {
        .rejected("this workspace's version control cannot merge branches")
    }
    public func advance(workspace: String, from base: String, to merged: String) async throws -> Bool { false }
    public func discardMerge(scratch: String, workspace: String) async {}
}

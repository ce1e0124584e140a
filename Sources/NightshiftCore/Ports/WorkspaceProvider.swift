/// Where a run's workspace comes from. A run with a worktree of its own is recorded by its
/// repository and branch, not by a folder: the provider makes that worktree in this process's
/// workspace home, finds it again, or makes it again from the branch where it is missing (another
/// host, another home, a folder that was removed). The branch holds the work committed so far;
/// what a worktree held uncommitted stays with it.
public protocol WorkspaceProvider: Sendable {
    /// Where this provider makes worktrees (absolute).
    var home: String { get }

    /// Where `run`'s worktree is (or will be) in the home: known before it is made, so a run can be
    /// recorded first and its worktree made while the first model call is in flight.
    func path(of run: RunID) -> String

    /// Makes the worktree of `run` in the home, on the branch `nightshift/RUN`, from the
    /// repository's current commit, or from the branch `from` (a sub-agent starts from its
    /// parent's work). A worktree of that run already there is reattached. `remake`: made anew,
    /// for a run that died before recording it (nothing was done in it).
    /// - Throws: when the repository has no commit, `from` is missing, or the path holds something else.
    func provision(repository: String, run: RunID, from: String?, remake: Bool) async throws -> ProvisionedWorkspace

    /// Checks that the worktree at `path` is still there on `branch`.
    func reattach(path: String, branch: String) async throws -> ProvisionedWorkspace

    /// Makes `run`'s worktree again in the home from `branch` as the repository holds it, which
    /// must still hold every commit in `holding` (the work the run recorded). A worktree of that
    /// branch already at the path (a move a crash interrupted) is taken as it is.
    /// - Throws: when the branch is missing, or no longer holds one of `holding`.
    func materialise(
        repository: String, branch: String, run: RunID, holding: [String]
    ) async throws -> ProvisionedWorkspace

    /// Whether a workspace folder is here.
    func isPresent(_ path: String) -> Bool
}

/// A worktree as a provider made or found it: where, on which branch, at which commit.
public struct ProvisionedWorkspace: Sendable, Equatable {
    public var path: String
    public var branch: String
    /// The commit it was made at (a new worktree's base; a materialised one's branch tip).
    public var commit: String
    public init(path: String, branch: String, commit: String) {
        self.path = path
        self.branch = branch
        self.commit = commit
    }
}

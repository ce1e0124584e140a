import Foundation
public import NightshiftCore
import Synchronization

/// The workspace provider's twin: repositories as branches of commit lists, worktrees as a map
/// from path to branch, no disk and no git. Several twins may share one ``Repositories`` (one
/// repository every host reaches) while each has a home of its own (its worktrees), as hosts would.
public final class InMemoryWorkspaceProvider: WorkspaceProvider, Sendable {
    /// What every host reaches: each repository's branches, each a list of commits, oldest first.
    public final class Repositories: Sendable {
        let state = Mutex<[String: [String: [String]]]>([:])
        public init() {}

        /// Makes a repository whose `main` holds `commits`.
        public func create(_ repository: String, commits: [String] = ["c0"]) {
            state.withLock { $0[repository] = ["main": commits] }
        }

        /// Adds a commit to a branch (a task's work committed).
        public func commit(_ repository: String, branch: String, _ commit: String) {
            state.withLock { $0[repository]?[branch, default: []].append(commit) }
        }

        /// Points a branch at another branch's commits (a reset or a rewrite).
        public func reset(_ repository: String, branch: String, to other: String) {
            state.withLock { all in
                let commits = all[repository]?[other] ?? []
                all[repository]?[branch] = commits
            }
        }

        public func branch(_ repository: String, _ branch: String) -> [String]? {
            state.withLock { $0[repository]?[branch] }
        }
    }

    public let home: String
    public let repositories: Repositories
    /// This host's worktrees: path → branch.
    private let worktrees = Mutex<[String: String]>([:])

    public init(home: String, repositories: Repositories) {
        self.home = home
        self.repositories = repositories
    }

    public func path(of run: RunID) -> String { home + "/" + run.rawValue }

    /// Removes a worktree's folder (as a person, or another host that never had it).
    public func remove(_ path: String) { worktrees.withLock { _ = $0.removeValue(forKey: path) } }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    public func provision(
        repository: String, run: RunID, from: String?, remake: Bool
    ) async throws -> ProvisionedWorkspace {
        let path = path(of: run)
        let branch = "nightshift/\(run.rawValue)"
        if !remake, worktrees.withLock({ $0[path] }) != nil { return try await reattach(path: path, branch: branch) }
        guard let source = repositories.branch(repository, from ?? "main"), let base = source.last else {
            throw Failure(
                description: from.map { "the branch \($0) to start from does not exist in \(repository)" }
                    ?? "the repository \(repository) has no commit yet")
        }
        repositories.state.withLock { $0[repository]?[branch] = source }
        worktrees.withLock { $0[path] = branch }
        return ProvisionedWorkspace(path: path, branch: branch, commit: base)
    }

    public func reattach(path: String, branch: String) async throws -> ProvisionedWorkspace {
        guard worktrees.withLock({ $0[path] }) == branch else {
            throw Failure(description: "\(path) exists but is not the worktree of branch \(branch)")
        }
        let repository = repositories.state.withLock { all in all.first { $0.value[branch] != nil }?.key }
        let tip = repository.flatMap { repositories.branch($0, branch)?.last } ?? ""
        return ProvisionedWorkspace(path: path, branch: branch, commit: tip)
    }

    public func materialise(
        repository: String, branch: String, run: RunID, holding: [String]
    ) async throws -> ProvisionedWorkspace {
        let path = path(of: run)
        if worktrees.withLock({ $0[path] }) != nil { return try await reattach(path: path, branch: branch) }
        guard let commits = repositories.branch(repository, branch), let tip = commits.last else {
            throw Failure(description: "the run's branch \(branch) is not in \(repository)")
        }
        if let missing = holding.first(where: { !commits.contains($0) }) {
            throw Failure(description: "the branch \(branch) in \(repository) no longer holds commit \(missing)")
        }
        worktrees.withLock { $0[path] = branch }
        return ProvisionedWorkspace(path: path, branch: branch, commit: tip)
    }

    public func isPresent(_ path: String) -> Bool { worktrees.withLock { $0[path] != nil } }
}

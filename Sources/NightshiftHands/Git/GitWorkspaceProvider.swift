import Foundation
public import NightshiftCore

/// The workspace provider on git worktrees, made and found with the git every Nightshift git call
/// is (``GitWorkspace``: no global or system configuration, executing keys overridden).
public struct GitWorkspaceProvider: WorkspaceProvider {
    public let home: String

    public init(home: String) {
        self.home = Workspace.canonical(home)
    }

    public func path(of run: RunID) -> String { GitWorkspace.plannedPath(run: run, worktreesRoot: home) }

    public func provision(
        repository: String, run: RunID, from: String?, remake: Bool
    ) async throws -> ProvisionedWorkspace {
        let made =
            remake
            ? try await GitWorkspace.remake(repository: repository, run: run, worktreesRoot: home, from: from)
            : try await GitWorkspace.provision(repository: repository, run: run, worktreesRoot: home, from: from)
        return ProvisionedWorkspace(path: made.path, branch: made.branch, commit: made.base)
    }

    public func reattach(path: String, branch: String) async throws -> ProvisionedWorkspace {
        let found = try await GitWorkspace.reattach(path: path, branch: branch)
        return ProvisionedWorkspace(path: found.path, branch: found.branch, commit: found.base)
    }

    public func materialise(
        repository: String, branch: String, run: RunID, holding: [String]
    ) async throws -> ProvisionedWorkspace {
        let path = GitWorkspace.plannedPath(run: run, worktreesRoot: home)
        let commit = try await GitWorkspace.materialise(
            repository: repository, branch: branch, path: path, holding: holding)
        return ProvisionedWorkspace(path: Workspace.canonical(path), branch: branch, commit: commit)
    }

    public func isPresent(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }
}

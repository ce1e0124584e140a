public import NightshiftCore
import Synchronization

/// The version-control twin: each workspace is a map of file contents with a list of commits. A
/// test writes files through it (the agent's work), and it commits, diffs and summarises them with
/// the port's contract: nothing to commit is a nil commit with the reason; a workspace it was never
/// told about is "not a repository"; the views Nightshift writes (PROGRESS.md, PLAN.md, REPORT.md)
/// are never part of the work.
public final class InMemoryVCS: WorkspaceVCS, Sendable {
    private struct Repository {
        var committed: [String: String] = [:]
        var current: [String: String] = [:]
        var commits: [String] = []
    }
    private let repositories = Mutex<[String: Repository]>([:])

    public init() {}

    /// Makes `workspace` a repository with `files` as its first commit.
    public func initialise(_ workspace: String, files: [String: String] = [:]) {
        repositories.withLock {
            $0[workspace] = Repository(committed: files, current: files, commits: ["c0"])
        }
    }

    /// The agent's change: `path` now holds `content` (nil deletes it).
    public func write(_ workspace: String, _ path: String, _ content: String?) {
        repositories.withLock { $0[workspace]?.current[path] = content }
    }

    static let views: Set<String> = ["PROGRESS.md", "PLAN.md", "REPORT.md"]

    private func changes(_ r: Repository) -> [(path: String, old: String?, new: String?)] {
        Set(r.committed.keys).union(r.current.keys).subtracting(Self.views).sorted().compactMap { path in
            r.committed[path] == r.current[path] ? nil : (path, r.committed[path], r.current[path])
        }
    }

    public func commit(workspace: String, message: String) async -> (commit: String?, detail: String) {
        repositories.withLock { all in
            guard var r = all[workspace] else {
                return (nil, "not a git repository that Nightshift set up for this run")
            }
            guard !changes(r).isEmpty else { return (nil, "nothing to commit") }
            r.committed = r.current
            r.commits.append("c\(r.commits.count)")
            all[workspace] = r
            return (r.commits.last, "committed")
        }
    }

    public func diff(workspace: String) async -> String? {
        repositories.withLock { all in
            guard let r = all[workspace] else { return nil }
            return changes(r).map { Self.unified($0.path, old: $0.old, new: $0.new) }.joined()
        }
    }

    static func unified(_ path: String, old: String?, new: String?) -> String {
        let from = old == nil ? "/dev/null" : "a/" + path
        let to = new == nil ? "/dev/null" : "b/" + path
        let removed = (old ?? "").split(separator: "\n").map { "-" + $0 + "\n" }.joined()
        let added = (new ?? "").split(separator: "\n").map { "+" + $0 + "\n" }.joined()
        return "--- \(from)\n+++ \(to)\n" + removed + added
    }

    public func diffSummary(workspace: String) async -> String? {
        repositories.withLock { all in
            guard let r = all[workspace] else { return nil }
            let changed = changes(r)
            guard !changed.isEmpty else { return "no uncommitted changes" }
            return changed.map { " \($0.path) | changed\n" }.joined()
        }
    }
}

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
        /// The message of the last commit made here.
        var lastMessage: String?
        /// The branch checked out here, when it has one (merges go by branch name).
        var branch: String?
        /// The files where the branch started, and how many commits it had then (the merge base).
        var base: [String: String] = [:]
        var forkedAt = 1
        /// Tips of other branches merged into this one ("branch@commits").
        var merged: Set<String> = []
    }
    private struct Scratch {
        var workspace: String
        var files: [String: String]
        var tip: String
    }
    private let repositories = Mutex<[String: Repository]>([:])
    private let scratches = Mutex<[String: Scratch]>([:])
    /// Workspace-relative paths of configuration commits leave out, besides any `.nightshift` folder.
    private let sealed: [String]

    public init(sealed: [String] = []) { self.sealed = sealed }

    /// Whether `path` is configuration no commit takes: under a `.nightshift` folder (any case,
    /// any depth) or a sealed path, as the git adapter leaves them out.
    func isConfiguration(_ path: String) -> Bool {
        path.split(separator: "/").contains { $0.lowercased() == ".nightshift" }
            || sealed.contains { path == $0 || path.hasPrefix($0 + "/") }
    }

    /// Makes `workspace` a repository with `files` as its first commit, on `branch`.
    public func initialise(_ workspace: String, files: [String: String] = [:], branch: String? = nil) {
        repositories.withLock {
            $0[workspace] = Repository(committed: files, current: files, commits: ["c0"], branch: branch, base: files)
        }
    }

    /// Makes `workspace` a worktree on a new `branch` started from `parent`'s last commit (a worker's).
    public func provision(_ workspace: String, branch: String, from parent: String) {
        repositories.withLock { all in
            let p = all[parent] ?? Repository()
            all[workspace] = Repository(
                committed: p.committed, current: p.committed, commits: ["c0"], branch: branch, base: p.committed)
        }
    }

    /// The commits of `workspace`'s branch, oldest first ("c0" is its first).
    public func commits(_ workspace: String) -> [String] {
        repositories.withLock { $0[workspace]?.commits ?? [] }
    }

    /// The files `workspace` has committed.
    public func committedFiles(_ workspace: String) -> [String: String] {
        repositories.withLock { $0[workspace]?.committed ?? [:] }
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
            let work = changes(r).filter { !isConfiguration($0.path) }
            guard !work.isEmpty else {
                // As git: the same commit asked for again (made before a stop, never recorded) is found.
                if let last = r.commits.last, r.lastMessage == message {
                    return (last, "committed before the process stopped")
                }
                return (nil, "nothing to commit")
            }
            for change in work { r.committed[change.path] = change.new }
            r.commits.append("c\(r.commits.count)")
            r.lastMessage = message
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

    // MARK: - The merge queue: a three-way merge by whole files

    public func prepareMerge(branch: String, workspace: String, message: String) async throws -> MergePrepared {
        let result: MergePrepared = repositories.withLock { all in
            guard let target = all[workspace] else { return .rejected("not a repository") }
            guard let source = all.values.first(where: { $0.branch == branch }) else {
                return .rejected("the branch \(branch) does not exist")
            }
            let tip = "\(branch)@\(source.commits.count)"
            let head = target.commits.last ?? "c0"
            if source.commits.count == source.forkedAt || target.merged.contains(tip) {
                return .alreadyMerged(head: head)
            }
            var files = target.committed
            var conflicts: [String] = []
            for path in Set(source.committed.keys).union(source.base.keys).sorted() {
                let (base, ours, theirs) = (source.base[path], target.committed[path], source.committed[path])
                if theirs == base || theirs == ours { continue }
                if ours == base { files[path] = theirs } else { conflicts.append(path) }
            }
            if !conflicts.isEmpty { return .rejected("conflicting files: " + conflicts.joined(separator: ", ")) }
            let scratch = workspace + ".merge"
            scratches.withLock { $0[scratch] = Scratch(workspace: workspace, files: files, tip: tip) }
            return .ready(scratch: scratch, base: head, merged: "m-" + tip)
        }
        return result
    }

    public func advance(workspace: String, from base: String, to merged: String) async throws -> Bool {
        let pending = scratches.withLock { $0.values.first { "m-" + $0.tip == merged && $0.workspace == workspace } }
        return repositories.withLock { all in
            guard var target = all[workspace], target.commits.last == base else { return false }
            if merged == base { return true }
            guard let pending else { return false }
            let views = target.current.filter { Self.views.contains($0.key) }
            target.committed = pending.files
            target.current = pending.files.merging(views) { _, view in view }
            target.commits.append(merged)
            target.merged.insert(pending.tip)
            all[workspace] = target
            return true
        }
    }

    public func discardMerge(scratch: String, workspace: String) async {
        scratches.withLock { $0[scratch] = nil }
    }
}

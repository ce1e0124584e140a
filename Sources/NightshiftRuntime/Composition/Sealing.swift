import Foundation
import NightshiftHands

/// Nightshift's configuration as it lies in a run's workspace: the project's `.nightshift`
/// folder, the profiles folder, the policy and guidance files and those the profiles name. The
/// agent may read them and never change them: the sandbox binds them read-only, the file tools
/// refuse to write them, and Nightshift's commits leave them out, so agent-written configuration
/// never reaches a branch a person merges. (Whatever an agent writes elsewhere, a person's
/// next command still refuses a found configuration file nobody trusted.)
enum Sealing {
    /// Workspace-relative paths to seal in `workspace`: `.nightshift`, and each of `paths` that lies
    /// in the workspace, or in `source` (the repository a worktree workspace is a checkout of,
    /// whose files the worktree holds at the same relative paths).
    static func paths(_ paths: [String], workspace: String, source: String?) -> [String] {
        let ws = Workspace.canonical(workspace)
        let root = source.map { Workspace.canonical($0) }
        var out: Set<String> = [".nightshift"]
        for path in paths {
            let p = Workspace.canonical(path)
            if p.hasPrefix(ws + "/") {
                out.insert(String(p.dropFirst(ws.count + 1)))
            } else if let root, p.hasPrefix(root + "/") {
                out.insert(String(p.dropFirst(root.count + 1)))
            }
        }
        return out.sorted()
    }

    /// The sealed paths as absolute paths in `workspace`.
    static func absolute(_ relative: [String], workspace: String) -> [String] {
        relative.map { workspace + "/" + $0 }
    }
}

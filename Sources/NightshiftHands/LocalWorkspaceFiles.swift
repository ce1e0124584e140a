import Foundation
public import NightshiftCore

/// The harness's workspace files on the local disk: its views written atomically, and the test
/// ratchet's evidence (SHA-256 of every regular file matching a protected glob; a link is not the
/// file it names, and `.git` is not the agent's).
public struct LocalWorkspaceFiles: WorkspaceFiles {
    public init() {}

    public func write(_ views: [WorkspaceView], workspace: String) async {
        guard !workspace.isEmpty, FileManager.default.fileExists(atPath: workspace) else { return }
        for view in views {
            try? Data(view.text.utf8).write(to: URL(fileURLWithPath: workspace + "/" + view.name), options: .atomic)
        }
    }

    public func hashes(workspace: String, globs: [String]) async -> [String: String] {
        var out: [String: String] = [:]
        let root = URL(fileURLWithPath: workspace)
        guard
            let walker = FileManager.default.enumerator(
                at: root, includingPropertiesForKeys: [.isRegularFileKey, .isSymbolicLinkKey],
                options: [])
        else { return out }
        for case let url as URL in walker {
            let relative = String(url.path.dropFirst(root.path.count + 1))
            if Workspace.isGitMetadata(relative.split(separator: "/").first ?? "") {
                walker.skipDescendants()
                continue
            }
            guard globs.contains(where: { Glob.matches($0, relative, pathMode: true) }) else { continue }
            let values = try? url.resourceValues(forKeys: [.isRegularFileKey, .isSymbolicLinkKey])
            guard values?.isRegularFile == true, values?.isSymbolicLink != true, let data = try? Data(contentsOf: url)
            else { continue }
            out[relative] = Payload.blobKey(data)
        }
        return out
    }
}

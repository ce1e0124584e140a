import Crypto
import Foundation
import NightshiftCore

/// The test ratchet's evidence: SHA-256 of every regular file in the workspace whose relative
/// path matches a protected glob. Symlinks are not followed (a link is not the file it names).
enum ProtectedFiles {
    static func hashes(workspace: String, globs: [String]) -> [String: String] {
        var out: [String: String] = [:]
        let root = URL(fileURLWithPath: workspace)
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey, .isSymbolicLinkKey],
                                                          options: []) else { return out }
        for case let url as URL in walker {
            let relative = String(url.path.dropFirst(root.path.count + 1))
            if relative == ".git" || relative.hasPrefix(".git/") { walker.skipDescendants(); continue }
            guard globs.contains(where: { Glob.matches($0, relative, pathMode: true) }) else { continue }
            let values = try? url.resourceValues(forKeys: [.isRegularFileKey, .isSymbolicLinkKey])
            guard values?.isRegularFile == true, values?.isSymbolicLink != true, let data = try? Data(contentsOf: url) else { continue }
            out[relative] = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        }
        return out
    }
}

import Crypto
import Foundation
import NightshiftConfig
import NightshiftCore
import Synchronization

/// Hot reload: the harness asks before every step whether the policy file changed. A `stat` per
/// step; the file is read only when its size or modification time moved, and a new policy is
/// recorded only when its content hash differs. An invalid edit keeps the policy in force and
/// says so once on stderr.
final class PolicyWatcher: Sendable {
    let path: String
    /// Where the watcher says that a changed file was not taken (the front end's stderr).
    let notice: @Sendable (String) -> Void
    /// The file's size and modification time when last read, and the hash of the policy in force.
    private struct Seen {
        var stamp: (Int, Int64)?
        var hash: String
    }
    private let seen: Mutex<Seen>

    let workspace: String

    init(path: String, recordedHash: String, workspace: String, notice: @escaping @Sendable (String) -> Void) {
        self.path = path
        self.notice = notice
        self.workspace = workspace
        seen = Mutex(Seen(stamp: Self.stamp(path), hash: recordedHash))
    }

    static func stamp(_ path: String) -> (Int, Int64)? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (Int(st.st_size), Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec))
    }

    /// The policy file as a `policy_set` event. A policy file inside the workspace is protected
    /// by the policy itself: the agent cannot edit its own rules (the sandbox also binds it read-only).
    static func event(path: String, workspace: String) throws -> Event {
        var (policy, text) = try PolicyFile.load(path: path)
        if let own = sealedPath(path, workspace: workspace) {
            policy.protectedPaths.append(String(own.dropFirst(workspace.count + 1)))
        }
        return .policySet(policy: policy, source: path, hash: sha256(text), text: Payload(text))
    }

    /// `path` when it lies inside `workspace` (the sandbox must keep it read-only), else nil.
    static func sealedPath(_ path: String, workspace: String) -> String? {
        path.hasPrefix(workspace + "/") ? path : nil
    }

    static func sha256(_ text: String) -> String {
        SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// The harness's hook for `watcher`, or nil without a policy.
    static func hook(_ watcher: PolicyWatcher?) -> (@Sendable () -> Event?)? {
        guard let watcher else { return nil }
        return { @Sendable in watcher.check() }
    }

    /// Makes the next `check` read the file whatever its timestamp (on resume: it may have changed while no process ran).
    func forceCheck() { seen.withLock { $0.stamp = nil } }

    /// A `policy_set` event when the file now holds a different, valid policy.
    func check() -> Event? {
        seen.withLock { seen in
            let now = Self.stamp(path)
            guard now?.0 != seen.stamp?.0 || now?.1 != seen.stamp?.1 else { return nil }
            seen.stamp = now
            guard now != nil else {
                notice("the policy file \(path) is gone; the policy in force stays")
                return nil
            }
            do {
                let event = try Self.event(path: path, workspace: workspace)
                guard case let .policySet(_, _, newHash, _) = event, newHash != seen.hash else { return nil }
                seen.hash = newHash
                return event
            } catch {
                notice("the changed policy file is not valid, the policy in force stays: \(error)")
                return nil
            }
        }
    }
}

import Crypto
import Foundation
import NightshiftConfig
import NightshiftCore
import Synchronization

/// Hot reload, by a person only: the harness asks before every step whether the policy file
/// changed. A `stat` per step; the file is read only when its size or modification time moved,
/// and a new version is recorded only when its content hash differs **and a person trusted that
/// content** (`nightshift trust FILE`, which shows what changed). A file changes under a run for
/// many reasons, an agent of another run among them: nothing takes effect because a file says so.
/// An untrusted or invalid edit keeps the policy in force and says so once on stderr.
final class PolicyWatcher: Sendable {
    let path: String
    /// Where the watcher says that a changed file was not taken (the front end's stderr).
    let notice: @Sendable (String) -> Void
    /// Whether a person trusted a content of the file: the only way a change applies.
    let trust: any TrustStore
    /// The file's size and modification time when last read, the hash of the policy in force,
    /// and the last untrusted hash said (so it is said once).
    private struct Seen {
        var stamp: (Int, Int64)?
        var hash: String
        var refused: String?
    }
    private let seen: Mutex<Seen>

    let workspace: String

    init(
        path: String, recordedHash: String, workspace: String, trust: any TrustStore,
        notice: @escaping @Sendable (String) -> Void
    ) {
        self.path = path
        self.notice = notice
        self.workspace = workspace
        self.trust = trust
        seen = Mutex(Seen(stamp: Self.stamp(path), hash: recordedHash))
    }

    static func stamp(_ path: String) -> (Int, Int64)? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (Int(st.st_size), Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec))
    }

    /// The policy, as read and checked by whoever read it, as a `policy_set` event. A policy file
    /// inside the workspace is protected by the policy itself: the agent cannot edit its own rules
    /// (the sandbox also binds it read-only).
    static func event(_ file: PinnedFile, workspace: String) throws -> Event {
        var policy: Policy
        do { policy = try PolicyFile.parse(file.text, file: file.source) } catch {
            throw RuntimeError(.invalidInput, "\(error)")
        }
        if let own = sealedPath(file.source, workspace: workspace) {
            policy.protectedPaths.append(String(own.dropFirst(workspace.count + 1)))
        }
        return .policySet(policy: policy, source: file.source, hash: file.sha256, text: Payload(file.text))
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

    /// A `policy_set` event when the file now holds a different, valid policy that a person trusted.
    func check() -> Event? {
        seen.withLock { seen in
            let now = Self.stamp(path)
            let unchanged = now?.0 == seen.stamp?.0 && now?.1 == seen.stamp?.1
            // An unchanged file is read again only when its version waits for trust and a person
            // has since trusted it (`nightshift trust` does not touch the file).
            if unchanged {
                guard let refused = seen.refused,
                    (try? trust.isTrusted(ConfigTrust.key(path), sha256: refused)) == true
                else { return nil }
            }
            seen.stamp = now
            guard now != nil else {
                notice("the policy file \(path) is gone; the policy in force stays")
                return nil
            }
            do {
                let text = try ConfigTrust.readText(path, what: "the policy")
                let file = PinnedFile(source: path, sha256: Self.sha256(text), text: text)
                guard file.sha256 != seen.hash else { return nil }
                guard try trust.isTrusted(ConfigTrust.key(path), sha256: file.sha256) else {
                    if seen.refused != file.sha256 {
                        seen.refused = file.sha256
                        notice(
                            "the policy file \(path) changed; the policy in force stays until a person trusts the new "
                                + "version: nightshift trust \(path) shows the change and applies it")
                    }
                    return nil
                }
                let event = try Self.event(file, workspace: workspace)
                seen.hash = file.sha256
                seen.refused = nil
                return event
            } catch {
                notice("the changed policy file is not valid, the policy in force stays: \(error)")
                return nil
            }
        }
    }
}

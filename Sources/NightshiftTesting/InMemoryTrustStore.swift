public import NightshiftCore
import Synchronization

/// The in-memory twin of the trust store: what a person trusted, kept in memory. As the file
/// store, only the latest version trusted for a path is trusted.
public final class InMemoryTrustStore: TrustStore {
    private let versions = Mutex<[String: [TrustedFile]]>([:])

    public init() {}

    public func isTrusted(_ path: String, sha256: String) -> Bool {
        versions.withLock { $0[path]?.last?.sha256 == sha256 }
    }

    public func lastTrusted(_ path: String) -> TrustedFile? { versions.withLock { $0[path]?.last } }

    public func trust(_ path: String, text: String, by: String, at: Timestamp) {
        let entry = TrustedFile(path: path, sha256: Payload(text).sha256Hex, text: text, by: by, at: at)
        versions.withLock { all in
            all[path, default: []].removeAll { $0.sha256 == entry.sha256 }
            all[path, default: []].append(entry)
        }
    }

    public func revoke(_ path: String) -> Bool { versions.withLock { $0.removeValue(forKey: path) != nil } }

    public func entries() -> [TrustedFile] {
        versions.withLock { all in all.keys.sorted().compactMap { all[$0]?.last } }
    }
}

public import NightshiftCore
import Synchronization

/// API tokens in memory: the twin of the SQLite token store (the same conformance suite).
public final class InMemoryTokenStore: TokenStore, Sendable {
    private let all = Mutex<[APIToken]>([])

    public init() {}

    public func add(_ token: APIToken) async throws {
        try all.withLock { list in
            guard !list.contains(where: { $0.id == token.id }) else {
                throw InMemoryTokenStoreError.exists(token.id)
            }
            list.append(token)
        }
    }

    public func token(id: String) async throws -> APIToken? { all.withLock { $0.first { $0.id == id } } }

    public func tokens() async throws -> [APIToken] {
        all.withLock { $0.sorted { ($0.created.milliseconds, $0.id) < ($1.created.milliseconds, $1.id) } }
    }

    public func revoke(id: String, at: Timestamp) async throws -> Bool {
        all.withLock { list in
            guard let n = list.firstIndex(where: { $0.id == id }), list[n].revoked == nil else { return false }
            list[n].revoked = at
            return true
        }
    }
}

enum InMemoryTokenStoreError: Error {
    case exists(String)
}

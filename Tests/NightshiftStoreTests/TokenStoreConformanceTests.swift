import Foundation
import NightshiftCore
import NightshiftPostgres
import NightshiftSQLite
import NightshiftTesting
import Testing

/// The API's token store: SQLite, PostgreSQL and the in-memory twin behave alike.
@Suite struct TokenStoreConformanceTests {
    func make(_ kind: LogStoreKind) async throws -> any TokenStore {
        switch kind {
        case .memory: InMemoryTokenStore()
        case .sqliteMemory: SQLiteTokenStore(sharing: try SQLiteEventStore.inMemory())
        case .sqliteFile: SQLiteTokenStore(sharing: try SQLiteEventStore(path: temporaryDirectory() + "/store.db"))
        case .postgres: PostgresTokenStore(sharing: try await PostgresFixture.store())
        }
    }

    func token(_ id: String, at ms: Int64, scopes: Set<TokenScope> = [.read, .approve]) -> APIToken {
        APIToken(
            id: id, name: "name \(id)", principal: "alice", scopes: scopes, secretHash: Array(repeating: 7, count: 32),
            created: Timestamp(milliseconds: ms), expires: ms == 2 ? Timestamp(milliseconds: 99) : nil)
    }

    @Test(arguments: LogStoreKind.available)
    func tokensAreKeptAsAddedListedOldestFirstAndRevokedOnce(_ kind: LogStoreKind) async throws {
        let store = try await make(kind)
        try await store.add(token("bbbbbbbbbbbb", at: 2))
        try await store.add(token("aaaaaaaaaaaa", at: 1, scopes: [.admin]))
        await #expect(throws: (any Error).self) { try await store.add(token("aaaaaaaaaaaa", at: 3)) }
        let all = try await store.tokens()
        #expect(all.map(\.id) == ["aaaaaaaaaaaa", "bbbbbbbbbbbb"])
        #expect(all[1] == token("bbbbbbbbbbbb", at: 2))
        #expect(all[0].scopes == [.admin] && all[1].expires == Timestamp(milliseconds: 99))
        #expect(try await store.token(id: "cccccccccccc") == nil)

        #expect(try await store.revoke(id: "bbbbbbbbbbbb", at: Timestamp(milliseconds: 50)))
        #expect(try await !store.revoke(id: "bbbbbbbbbbbb", at: Timestamp(milliseconds: 60)))
        #expect(try await !store.revoke(id: "cccccccccccc", at: Timestamp(milliseconds: 60)))
        #expect(try await store.token(id: "bbbbbbbbbbbb")?.revoked == Timestamp(milliseconds: 50))
        #expect(try await store.token(id: "aaaaaaaaaaaa")?.revoked == nil)
    }
}

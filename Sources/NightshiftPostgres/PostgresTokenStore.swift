import Foundation
import Logging
public import NightshiftCore
import PostgresNIO

/// API tokens in the runs' database (table `api_token`): hashes of secrets only. An id is
/// taken once by its primary key, however many hosts add at the same time.
public final class PostgresTokenStore: TokenStore, Sendable {
    let store: PostgresEventStore

    /// The tokens of the database `store` is on (one connection pool for both).
    public init(sharing store: PostgresEventStore) {
        self.store = store
    }

    public func add(_ token: APIToken) async throws {
        let scopes = token.scopes.sorted().map(\.rawValue).joined(separator: ",")
        let (hash, created) = (Data(token.secretHash), token.created.milliseconds)
        let (expires, revoked) = (token.expires?.milliseconds, token.revoked?.milliseconds)
        let added = try await rows(
            """
            INSERT INTO api_token (id, name, principal, scopes, secret_sha256, created, expires, revoked)
            VALUES (\(token.id), \(token.name), \(token.principal), \(scopes), \(hash), \(created), \(expires),
                \(revoked))
            ON CONFLICT (id) DO NOTHING RETURNING id
            """)
        guard !added.isEmpty else { throw TokenIDTaken(description: "a token with id \(token.id) exists") }
    }

    public func token(id: String) async throws -> APIToken? {
        try await tokens(
            "SELECT id, name, principal, scopes, secret_sha256, created, expires, revoked FROM api_token WHERE id = \(id)"
        ).first
    }

    public func tokens() async throws -> [APIToken] {
        try await tokens(
            "SELECT id, name, principal, scopes, secret_sha256, created, expires, revoked FROM api_token ORDER BY created, id"
        )
    }

    public func revoke(id: String, at: Timestamp) async throws -> Bool {
        try await !rows(
            "UPDATE api_token SET revoked = \(at.milliseconds) WHERE id = \(id) AND revoked IS NULL RETURNING id"
        ).isEmpty
    }

    private func rows(_ query: PostgresQuery) async throws -> [String] {
        do {
            var out: [String] = []
            for try await id in try await store.client.query(query, logger: store.logger).decode(String.self) {
                out.append(id)
            }
            return out
        } catch { throw PostgresEventStore.mapError(error, run: nil, expectedSeq: nil) }
    }

    private func tokens(_ query: PostgresQuery) async throws -> [APIToken] {
        do {
            var out: [APIToken] = []
            for try await (id, name, principal, scopes, hash, created, expires, revoked) in try await store.client
                .query(
                    query, logger: store.logger
                ).decode((String, String, String, String, Data, Int64, Int64?, Int64?).self)
            {
                out.append(
                    APIToken(
                        id: id, name: name, principal: principal,
                        scopes: Set(scopes.split(separator: ",").compactMap { TokenScope(rawValue: String($0)) }),
                        secretHash: Array(hash), created: Timestamp(milliseconds: created),
                        expires: expires.map { Timestamp(milliseconds: $0) },
                        revoked: revoked.map { Timestamp(milliseconds: $0) }))
            }
            return out
        } catch { throw PostgresEventStore.mapError(error, run: nil, expectedSeq: nil) }
    }
}

/// The refusal of a second token with one id, in one line (SQLite's `TokenStoreError` lives in
/// its own module, which this one does not import).
struct TokenIDTaken: Error, CustomStringConvertible, Sendable {
    var description: String
}

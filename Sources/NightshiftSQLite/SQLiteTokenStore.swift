import Foundation
import GRDB
public import NightshiftCore

/// API tokens in the runs' database (table `api_token`): hashes of secrets only.
public final class SQLiteTokenStore: TokenStore, Sendable {
    let writer: any DatabaseWriter

    /// The tokens of the database `store` has open (one connection pool for both).
    public init(sharing store: SQLiteEventStore) {
        writer = store.writer
    }

    public func add(_ token: APIToken) async throws {
        try await writer.write { db in
            guard try Int.fetchOne(db, sql: "SELECT 1 FROM api_token WHERE id = ?", arguments: [token.id]) == nil
            else { throw TokenStoreError("a token with id \(token.id) exists") }
            try db.execute(
                sql: """
                    INSERT INTO api_token (id, name, principal, scopes, secret_sha256, created, expires, revoked)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    token.id, token.name, token.principal,
                    token.scopes.sorted().map(\.rawValue).joined(separator: ","), Data(token.secretHash),
                    token.created.milliseconds, token.expires?.milliseconds, token.revoked?.milliseconds,
                ])
        }
    }

    public func token(id: String) async throws -> APIToken? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM api_token WHERE id = ?", arguments: [id]).map(Self.token)
        }
    }

    public func tokens() async throws -> [APIToken] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM api_token ORDER BY created, id").map(Self.token)
        }
    }

    public func revoke(id: String, at: Timestamp) async throws -> Bool {
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE api_token SET revoked = ? WHERE id = ? AND revoked IS NULL",
                arguments: [at.milliseconds, id])
            return db.changesCount == 1
        }
    }

    private static func token(_ row: Row) -> APIToken {
        let scopes = (row["scopes"] as String).split(separator: ",").compactMap { TokenScope(rawValue: String($0)) }
        let created: Int64 = row["created"]
        let expires: Int64? = row["expires"]
        let revoked: Int64? = row["revoked"]
        let hash: Data = row["secret_sha256"]
        return APIToken(
            id: row["id"], name: row["name"], principal: row["principal"], scopes: Set(scopes),
            secretHash: Array(hash), created: Timestamp(milliseconds: created),
            expires: expires.map { Timestamp(milliseconds: $0) }, revoked: revoked.map { Timestamp(milliseconds: $0) })
    }
}

/// A token store's refusal, in one line.
public struct TokenStoreError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

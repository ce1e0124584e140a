import Foundation

/// What an API token lets its holder do. `read` sees runs, events, the inbox and audits;
/// `operate` also starts, resumes and cancels runs; `approve` also decides what waits for a
/// person (approve, deny, answer, budgets, plans); `admin` may do everything, tokens included.
public enum TokenScope: String, Sendable, Codable, CaseIterable, Comparable, CustomStringConvertible {
    case read, operate, approve, admin

    /// Whether a token with this scope may do what `needed` allows.
    public func allows(_ needed: TokenScope) -> Bool {
        switch (self, needed) {
        case (.admin, _): true
        case (_, .read): true
        default: self == needed
        }
    }

    public static func < (a: TokenScope, b: TokenScope) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
    public var description: String { rawValue }
}

/// A credential for the HTTP API: whose it is (the principal a decision made with it is recorded
/// as, and checked against a policy's approvers), what it may do, and the SHA-256 of its secret.
/// The secret itself is shown once, when the token is made, and kept nowhere.
public struct APIToken: Sendable, Equatable {
    public var id: String
    public var name: String
    public var principal: String
    public var scopes: Set<TokenScope>
    public var secretHash: [UInt8]
    public var created: Timestamp
    public var expires: Timestamp?
    public var revoked: Timestamp?

    public init(
        id: String, name: String, principal: String, scopes: Set<TokenScope>, secretHash: [UInt8],
        created: Timestamp, expires: Timestamp? = nil, revoked: Timestamp? = nil
    ) {
        self.id = id
        self.name = name
        self.principal = principal
        self.scopes = scopes
        self.secretHash = secretHash
        self.created = created
        self.expires = expires
        self.revoked = revoked
    }

    /// Whether it may do what `needed` allows.
    public func allows(_ needed: TokenScope) -> Bool { scopes.contains { $0.allows(needed) } }
}

/// Where API tokens are kept: beside the runs, in the database the agent never reaches (never a
/// file in a workspace). Only hashes of secrets are stored.
public protocol TokenStore: Sendable {
    /// Adds a token. - Throws: when one with its id exists.
    func add(_ token: APIToken) async throws
    /// The token with `id`, revoked or not; nil when there is none.
    func token(id: String) async throws -> APIToken?
    /// Every token, oldest first.
    func tokens() async throws -> [APIToken]
    /// Marks the token revoked at `at`. False when there is no such token or it was revoked already.
    func revoke(id: String, at: Timestamp) async throws -> Bool
}

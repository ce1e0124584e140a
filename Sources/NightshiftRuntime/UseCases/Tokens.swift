import Crypto
import Foundation
public import NightshiftCore

/// The HTTP API's tokens: made (the secret shown once), listed, revoked, and checked on every
/// request. A token is `nst_<id>_<secret>`; the store keeps the id and the secret's SHA-256.
public struct Tokens: Sendable {
    let store: any TokenStore
    let clock: any WallClock

    public init(store: any TokenStore, clock: any WallClock = Adapters.clock) {
        self.store = store
        self.clock = clock
    }

    /// A new token, and its text: the only time the secret exists outside the holder's hands.
    /// - Parameter principal: who the token acts for (the CLI passes the OS user who made it).
    /// - Throws: ``RuntimeError`` `.invalidInput` for an empty name or no scope.
    public func create(
        name: String, principal: String, scopes: Set<TokenScope>, validFor: Duration? = nil
    ) async throws -> (token: APIToken, text: String) {
        let name = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty, name.count <= 100, !name.contains(where: \.isNewline) else {
            throw RuntimeError(.invalidInput, "a token needs a name of 1 to 100 characters on one line")
        }
        guard !scopes.isEmpty else {
            throw RuntimeError(.invalidInput, "a token needs at least one scope (read, operate, approve, admin)")
        }
        let id = Self.hex(Self.random(6))
        let secret = Self.hex(Self.random(32))
        let now = clock.now()
        let token = APIToken(
            id: id, name: name, principal: principal, scopes: scopes, secretHash: Self.digest(secret), created: now,
            expires: validFor.map { Timestamp(milliseconds: now.milliseconds + Int64($0.components.seconds) * 1000) })
        try await store.add(token)
        return (token, "nst_\(id)_\(secret)")
    }

    /// Every token, oldest first (hashes only).
    public func list() async throws -> [APIToken] { try await store.tokens() }

    /// Revokes the token `id` from now on.
    /// - Throws: ``RuntimeError`` `.notFound` when there is no such token, `.exists` when it was revoked already.
    public func revoke(_ id: String) async throws {
        guard let token = try await store.token(id: id) else {
            throw RuntimeError(.notFound, "no token \(id) (nightshift token list shows them)")
        }
        guard token.revoked == nil, try await store.revoke(id: id, at: clock.now()) else {
            throw RuntimeError(.exists, "token \(id) was revoked already")
        }
    }

    /// The token `text` names, if it is one that may be used now.
    public func authenticate(_ text: String) async throws -> Result<APIToken, AuthenticationProblem> {
        let parts = text.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "nst", parts[1].count == 12, parts[2].count == 64,
            parts[1].allSatisfy(\.isHexDigit), parts[2].allSatisfy(\.isHexDigit)
        else { return .failure(.malformed) }
        // An unknown id and a wrong secret look alike to the caller.
        guard let token = try await store.token(id: String(parts[1])),
            Self.same(token.secretHash, Self.digest(String(parts[2])))
        else { return .failure(.unknown) }
        if token.revoked != nil { return .failure(.revoked) }
        if let expires = token.expires, clock.now().milliseconds >= expires.milliseconds { return .failure(.expired) }
        return .success(token)
    }

    /// The token `id`, if it may still be used (a session made with it ends when it is revoked).
    public func current(id: String) async throws -> Result<APIToken, AuthenticationProblem> {
        guard let token = try await store.token(id: id) else { return .failure(.unknown) }
        if token.revoked != nil { return .failure(.revoked) }
        if let expires = token.expires, clock.now().milliseconds >= expires.milliseconds { return .failure(.expired) }
        return .success(token)
    }

    static func digest(_ secret: String) -> [UInt8] { Array(SHA256.hash(data: Data(secret.utf8))) }

    /// Compared in time that does not depend on where they differ.
    static func same(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }

    static func random(_ count: Int) -> [UInt8] {
        var g = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &g) }
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}

/// Why a request's token was not accepted; the same answer goes to the caller for each (401).
public enum AuthenticationProblem: String, Error, Sendable {
    case missing, malformed, unknown, revoked, expired

    public var message: String {
        switch self {
        case .missing: "this needs a token: Authorization: Bearer nst_… (nightshift token create makes one)"
        case .malformed: "the token is not one Nightshift makes (nst_<id>_<secret>)"
        case .unknown: "the token is not known here"
        case .revoked: "the token was revoked"
        case .expired: "the token has expired"
        }
    }
}

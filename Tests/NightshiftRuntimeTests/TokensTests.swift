import Foundation
import NightshiftCore
import NightshiftTesting
import Testing

@testable import NightshiftRuntime

/// The API's tokens: shown once, kept as a hash, refused when malformed, unknown, wrong, revoked
/// or expired, and each scope allows what it says.
@Suite struct TokensTests {
    @Test func aTokenIsShownOnceAndKeptOnlyAsAHash() async throws {
        let store = InMemoryTokenStore()
        let tokens = Tokens(store: store, clock: TestClock(1000))
        let made = try await tokens.create(name: "ci", principal: "alice", scopes: [.read])
        #expect(made.text.hasPrefix("nst_\(made.token.id)_") && made.text.count == 4 + 12 + 1 + 64)
        let kept = try #require(try await store.token(id: made.token.id))
        let secret = String(made.text.split(separator: "_")[2])
        #expect(kept.secretHash == Tokens.digest(secret) && kept.secretHash.count == 32)
        #expect(kept.principal == "alice" && kept.name == "ci")
        #expect(try await tokens.authenticate(made.text).get() == kept)
        // Two tokens never share an id or a secret.
        let other = try await tokens.create(name: "ci", principal: "alice", scopes: [.read])
        #expect(other.text != made.text && other.token.id != made.token.id)
    }

    @Test func whatIsNotAUsableTokenIsRefusedWithItsReason() async throws {
        let clock = TestClock(1000)
        let tokens = Tokens(store: InMemoryTokenStore(), clock: clock)
        let made = try await tokens.create(name: "a", principal: "alice", scopes: [.approve], validFor: .seconds(60))
        let secret = made.text.suffix(64)
        for (text, problem) in [
            ("", AuthenticationProblem.malformed), ("nst_abc_def", .malformed), (made.text + "0", .malformed),
            ("nst_\(made.token.id)_" + String(repeating: "0", count: 64), .unknown),
            ("nst_000000000000_\(secret)", .unknown), (made.text.uppercased(), .malformed),
        ] {
            guard case let .failure(p) = try await tokens.authenticate(text) else {
                Issue.record("\(text) was accepted")
                continue
            }
            #expect(p == problem, "\(text)")
        }
        clock.advance(61_000)
        #expect(try await tokens.authenticate(made.text) == .failure(.expired))
        let live = try await tokens.create(name: "b", principal: "alice", scopes: [.read])
        try await tokens.revoke(live.token.id)
        #expect(try await tokens.authenticate(live.text) == .failure(.revoked))
        await #expect(throws: RuntimeError.self) { try await tokens.revoke(live.token.id) }
        await #expect(throws: RuntimeError.self) { try await tokens.revoke("nope") }
        await #expect(throws: RuntimeError.self) { try await tokens.create(name: " ", principal: "a", scopes: [.read]) }
        await #expect(throws: RuntimeError.self) { try await tokens.create(name: "x", principal: "a", scopes: []) }
    }

    @Test func eachScopeAllowsWhatItSays() {
        #expect(TokenScope.read.allows(.read) && !TokenScope.read.allows(.approve) && !TokenScope.read.allows(.operate))
        #expect(
            TokenScope.approve.allows(.read) && TokenScope.approve.allows(.approve)
                && !TokenScope.approve.allows(.operate))
        #expect(
            TokenScope.operate.allows(.read) && !TokenScope.operate.allows(.approve)
                && !TokenScope.operate.allows(.admin))
        #expect(TokenScope.allCases.allSatisfy { TokenScope.admin.allows($0) })
    }
}

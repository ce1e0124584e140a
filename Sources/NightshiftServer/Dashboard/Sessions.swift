import Crypto
import Foundation
import NightshiftCore
import Synchronization

/// The dashboard's sign-ins: a session is made from a token a person typed, and names that token
/// (checked again on every request, so revoking the token ends the session). Its id travels in an
/// HttpOnly, SameSite=Strict cookie; its CSRF secret in every form it renders. Kept in this
/// process: a restarted server asks to sign in again.
final class Sessions: Sendable {
    struct Session: Sendable, Equatable {
        var token: String
        var csrf: String
        var expires: ContinuousClock.Instant
    }

    /// How long a session lasts without a new sign-in.
    static let lifetime: Duration = .seconds(12 * 3600)
    private let all = Mutex<[String: Session]>([:])

    /// A new session for token `id`: its cookie value and CSRF secret.
    func create(token id: String) -> (id: String, session: Session) {
        let session = Session(token: id, csrf: Self.random(), expires: .now + Self.lifetime)
        let key = Self.random()
        all.withLock { sessions in
            sessions = sessions.filter { $0.value.expires > .now }
            sessions[key] = session
        }
        return (key, session)
    }

    func session(_ id: String) -> Session? {
        all.withLock { sessions in
            guard let s = sessions[id] else { return nil }
            guard s.expires > .now else {
                sessions[id] = nil
                return nil
            }
            return s
        }
    }

    func end(_ id: String) { all.withLock { $0[id] = nil } }

    /// Compared in time that does not depend on where they differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let (x, y) = (Array(a.utf8), Array(b.utf8))
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for (p, q) in zip(x, y) { difference |= p ^ q }
        return difference == 0
    }

    static func random() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
    }
}

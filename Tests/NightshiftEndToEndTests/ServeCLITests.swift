import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftSQLite
import NightshiftTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `nightshift token` and `nightshift serve` as a person uses them: a token made and shown once,
/// the server on loopback answering with it, the token revoked and refused, SIGTERM ending it.
@Suite struct ServeCLITests {
    /// `curl`'s status code and body for a GET with `token`.
    func get(_ url: String, token: String?) async throws -> (status: Int, body: String) {
        let dir = tempDir("ns-curl")
        var args = ["/usr/bin/curl", "-s", "-o", dir + "/body", "-w", "%{http_code}", url]
        if let token { args += ["-H", "Authorization: Bearer \(token)"] }
        let child = try ChildProcess.spawn(args, environment: testEnvironment, outputPath: dir + "/code")
        guard case .exited(0) = await child.wait(timeout: .seconds(30)) else { throw TestFailure("curl failed") }
        let code = Int((try? String(contentsOfFile: dir + "/code", encoding: .utf8)) ?? "") ?? 0
        return (code, (try? String(contentsOfFile: dir + "/body", encoding: .utf8)) ?? "")
    }

    @Test func aTokenOpensTheAPIUntilItIsRevoked() async throws {
        let dir = tempDir("ns-serve")
        let db = dir + "/ns.db"
        // A database that does not exist is refused (a mistyped --db makes no new one).
        let missing = try await nightshift(["token", "create", "--db", db, "--name", "phone"])
        #expect(missing.status != 0 && missing.stderr.contains("no database at"), "\(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: db))
        _ = try SQLiteEventStore(path: db)
        let made = try await nightshift(["token", "create", "--db", db, "--name", "phone", "--scope", "read,approve"])
        #expect(made.status == 0, "\(made.stderr)")
        let token = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.hasPrefix("nst_") && made.stderr.contains("not shown again"))
        let listed = try await nightshift(["token", "list", "--db", db])
        #expect(listed.stdout.contains("phone") && listed.stdout.contains("read,approve"))
        #expect(!listed.stdout.contains(String(token.suffix(64))), "a secret was listed")
        let bad = try await nightshift(["token", "create", "--db", db, "--name", "x", "--scope", "root"])
        #expect(bad.status == 64 && bad.stderr.contains("'root' is not one of"), "\(bad.stderr)")

        let (server, port) = try await startServe(db: db, root: dir)
        defer { server.kill() }
        let base = "http://127.0.0.1:\(port)"
        #expect(try await get(base + "/health", token: nil).status == 200)
        #expect(try await get(base + "/api/runs", token: nil).status == 401)
        let runs = try await get(base + "/api/runs", token: token)
        #expect(runs.status == 200 && runs.body == #"{"runs":[]}"#, "\(runs.body)")

        let id = String(token.split(separator: "_")[1])
        #expect(try await nightshift(["token", "revoke", "--db", db, id]).status == 0)
        #expect(try await get(base + "/api/runs", token: token).status == 401)
        #expect(try await nightshift(["token", "revoke", "--db", db, id]).status != 0)

        Glibc.kill(server.pid, SIGTERM)
        let end = await server.wait(timeout: .seconds(30))
        #expect(end == .signalled(SIGTERM), "\(end)")
    }
}

import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftSQLite
import NightshiftTesting
import Testing

/// The running server against its OpenAPI document (docs/openapi.yaml), checked by schemathesis
/// (from `.venv`; `.ci/run` installs it): thousands of generated requests, valid and not, with an
/// admin token; every answer must be documented, of its documented type and schema, never a
/// server error, and a request without the token must be refused. A fixed seed and a time budget
/// keep it repeatable and bounded. In CI a missing schemathesis fails this test.
@Suite(
    .serialized,
    .enabled(if: OpenAPIFixture.schemathesis != nil || ProcessInfo.processInfo.environment["CI"] != nil))
struct OpenAPIConformanceTests {
    @Test func theServerAnswersAsItsDocumentSays() async throws {
        let schemathesis = try #require(
            OpenAPIFixture.schemathesis, "schemathesis is not installed in .venv: run .ci/run (it installs it)")
        let (root, db) = try await DashboardBrowserTests.pausedRun("ns-openapi")
        let made = try await nightshift(["token", "create", "--db", db, "--name", "schemathesis", "--scope", "admin"])
        let token = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.hasPrefix("nst_"), "\(made.stderr)")

        // Runs it starts (POST /api/runs) work in the test's folder, sandboxed, with the scripted
        // model (a test double), which has no turns for them: they pause at their first model call.
        let (server, port) = try await startServe(
            db: db, root: root,
            extra: ["--no-worker", "--workspace", root + "/ws", "--model", "scripted:\(root)/scenario.yaml"])
        defer { server.kill() }
        // Every check but one: `positive_data_acceptance` expects any valid body to be accepted
        // (approving a call that does not wait is rightly refused).
        let check = try ChildProcess.spawn(
            [
                schemathesis, "run", OpenAPIFixture.packageRoot + "/docs/openapi.yaml", "--url",
                "http://127.0.0.1:\(port)", "-H", "Authorization: Bearer \(token)", "--checks", "all",
                "--exclude-checks", "positive_data_acceptance", "-n", "20", "--seed", "1",
                "--max-time", "60", "--no-color",
            ], environment: testEnvironment, outputPath: root + "/schemathesis.log")
        let end = await check.wait(timeout: .seconds(240))
        if end == .running { check.kill() }
        let said = (try? String(contentsOfFile: root + "/schemathesis.log", encoding: .utf8)) ?? ""
        #expect(end == .exited(0), "\(said.suffix(4000))")
        #expect(said.contains("passed"), "\(said.suffix(2000))")
    }
}

/// Where schemathesis is (the venv's).
enum OpenAPIFixture {
    static let packageRoot = BrowserFixture.packageRoot
    static let schemathesis: String? = {
        let path = packageRoot + "/.venv/bin/schemathesis"
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }()
}

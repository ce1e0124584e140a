import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftTesting
import Testing

/// `nightshift doctor`: one line per check, the fix for what fails, exit 1 when anything failed.
@Suite struct DoctorTests {
    @Test func aMissingSandboxAndAnUnreachableModelAreFailuresWithTheirFix() async throws {
        let dir = tempDir("ns-doctor")
        // bubblewrap "missing": Nightshift is pointed at a binary that is not there.
        let r = try await nightshift(
            ["doctor", "--db", dir + "/ns.db", "--model", "openai-compatible:http://127.0.0.1:9/v1#m"],
            env: ["NIGHTSHIFT_BWRAP": dir + "/no-bwrap"], cwd: dir)
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        let sandbox = lines.first { $0.contains("sandbox:") } ?? ""
        #expect(sandbox.hasPrefix("FAIL") && sandbox.contains("fix: apt-get install bubblewrap"), "\(sandbox)")
        // The likely cost is said before the call, then the call fails fast (one attempt, loopback).
        let model = lines.filter { $0.contains("model openai-compatible:http://127.0.0.1:9/v1#m") }
        #expect(model.count == 2 && model[0].hasPrefix("…") && model[0].contains("tokens"), "\(model)")
        #expect(model.last?.hasPrefix("FAIL") == true && model.last?.contains("127.0.0.1") == true, "\(model)")
        #expect(lines.contains { $0.hasPrefix("ok") && $0.contains("store: no database yet") })
        #expect(lines.contains { $0.hasPrefix("ok") && $0.contains("git: git version") })
        // Without model calls, the same model only has its spec checked.
        let quiet = try await nightshift(
            [
                "doctor", "--db", dir + "/ns.db", "--model", "openai-compatible:http://127.0.0.1:9/v1#m",
                "--no-model-calls",
            ],
            cwd: dir)
        #expect(quiet.stdout.contains("no call made"), "\(quiet.stdout)")
        #expect(!quiet.stdout.contains("sending one probe"))
    }

    @Test(.enabled(if: FakeLLM.binary != nil || ProcessInfo.processInfo.environment["CI"] != nil))
    func aModelThatAnswersIsOk() async throws {
        let root = tempDir("ns-doctor-llm")
        let rules = """
            version: 1
            rules:
              - name: ok
                respond: {content: "OK"}
            """
        let (port, server) = try await FakeLLM.serve(rules: rules, in: root)
        defer { server.kill() }
        let r = try await nightshift(
            ["doctor", "--db", root + "/ns.db", "--model", "openai-compatible:http://127.0.0.1:\(port)/v1#gpt-4o"],
            env: ["NIGHTSHIFT_API_KEY": "not-used"], cwd: root)
        let line = r.stdout.split(separator: "\n").last { $0.contains("model openai-compatible") } ?? ""
        #expect(line.hasPrefix("ok") && line.contains("answered"), "\(r.stdout)\(r.stderr)")
    }

    /// The probe caps the answer (a local model once wrote 8,044 tokens in 6.5 minutes for it).
    @Test func theProbeCapsTheAnswer() async throws {
        let server = try ReplayServer([.sse(OpenAIWire.done("OK"))])
        defer { server.stop() }
        let dir = tempDir("ns-doctor-cap")
        let r = try await nightshift(
            ["doctor", "--db", dir + "/ns.db", "--model", "openai-compatible:\(server.baseURL)/v1#m"], cwd: dir)
        let line = r.stdout.split(separator: "\n").last { $0.contains("model openai-compatible") } ?? ""
        #expect(line.hasPrefix("ok"), "\(r.stdout)\(r.stderr)")
        let body = try #require(server.requests.first { $0.path.hasSuffix("/chat/completions") }?.body)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        #expect(json["max_tokens"] as? Int == 16, "\(body)")
    }

    /// A key in the user's own file is found when the environment has none (or an empty one).
    @Test func aKeyFromTheUsersFileIsFound() async throws {
        let dir = tempDir("ns-doctor-key")
        let xdg = tempDir("ns-doctor-xdg")
        try FileManager.default.createDirectory(atPath: xdg + "/nightshift", withIntermediateDirectories: true)
        let args = ["doctor", "--db", dir + "/ns.db", "--model", "openai:gpt-4o", "--no-model-calls"]
        let missing = try await nightshift(args, env: ["XDG_CONFIG_HOME": xdg, "OPENAI_API_KEY": ""], cwd: dir)
        #expect(missing.stdout.contains("FAIL  model openai:gpt-4o") && missing.stdout.contains("OPENAI_API_KEY"))
        try "keys: {OPENAI_API_KEY: sk-user-file-0123456789}\n".write(
            toFile: xdg + "/nightshift/config.yaml", atomically: true, encoding: .utf8)
        let found = try await nightshift(args, env: ["XDG_CONFIG_HOME": xdg, "OPENAI_API_KEY": ""], cwd: dir)
        #expect(
            found.stdout.contains("ok    model openai:gpt-4o") && found.stdout.contains("key found"), "\(found.stdout)")
        #expect(!found.stdout.contains("sk-user-file"))
    }
}

import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftSQLite
import NightshiftTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Whole runs through the CLI against a local server speaking the OpenAI wire format.
@Suite struct ProviderRunTests {
    static let canary = "sk-canary-ZZ93-never-log-me"
    static let plan = """
        tasks:
          - id: one
            description: write one.txt
            checks:
              - test -f one.txt
        """

    func setup() throws -> (root: String, ws: String, db: String, plan: String) {
        let root = tempDir("ns-prov")
        try FileManager.default.createDirectory(atPath: root + "/ws", withIntermediateDirectories: true)
        try Self.plan.write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        return (root, root + "/ws", root + "/ns.db", root + "/plan.yaml")
    }

    @Test func aRealProviderRunRecordsRetriesAndCostAndNeverTheKey() async throws {
        let server = try ReplayServer([
            .body(#"{"error":{"message":"slow down"}}"#, status: 429, headers: [("retry-after", "0")]),
            .sse(OpenAIWire.toolCall("write_file", #"{"path":"one.txt","content":"1"}"#)),
            .sse(OpenAIWire.done("wrote one.txt")),
        ])
        defer { server.stop() }
        let s = try setup()
        let run = try await nightshift(
            [
                "run", "--plan", s.plan, "--workspace", s.ws, "--db", s.db, "--id", "p1",
                "--model", "openai-compatible:\(server.baseURL)/v1#gpt-4o",
            ],
            env: ["NIGHTSHIFT_API_KEY": Self.canary])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("model ↻ m1 attempt 1 failed"))
        #expect(FileManager.default.fileExists(atPath: s.ws + "/one.txt"))
        // The key went to the configured server on every request...
        #expect(server.requests.count == 3)
        #expect(server.requests.allSatisfy { $0.headers["authorization"] == "Bearer \(Self.canary)" })
        // ...and nowhere else: not the database, not the log, not the terminal.
        let status = try await nightshift(["status", "p1", "--db", s.db])
        let log = try await nightshift(["log", "p1", "--db", s.db, "--json"])
        for text in [run.stdout, run.stderr, status.stdout, log.stdout] { #expect(!text.contains(Self.canary)) }
        for file in [s.db, s.db + "-wal", s.ws + "/PROGRESS.md"] where FileManager.default.fileExists(atPath: file) {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            #expect(bytes.range(of: Data(Self.canary.utf8)) == nil, "\(file) contains the key")
        }
        #expect(log.stdout.contains("\"kind\":\"model_retried\""))
        // gpt-4o at 500 prompt + 20 completion tokens per call, two calls: 2 × (500×2.5 + 20×10) micro-dollars.
        #expect(status.stdout.contains("worker"))
        #expect(status.stdout.contains("$0.002900"), "\(status.stdout)")
        #expect(status.stdout.contains("1000 in, 40 out"))
    }

    /// A run against a server people run themselves takes its window from the server (and the
    /// answer cap from the window), unless the size it reports is no window at all.
    @Test(arguments: [(8192, 8192), (100_000_000_000_000_000, 32000), (512, 32000)])
    func theServersContextSizeIsTheRunsWindowWhenItIsOne(reported: Int, window: Int) async throws {
        let server = try ReplayServer([
            .sse(OpenAIWire.toolCall("write_file", #"{"path":"one.txt","content":"1"}"#)),
            .sse(OpenAIWire.done("wrote one.txt")),
        ])
        defer { server.stop() }
        server.answer(
            "/props", with: .body(#"{"default_generation_settings":{"n_ctx":\#(reported)}}"#, status: 200))
        let s = try setup()
        let run = try await nightshift([
            "run", "--plan", s.plan, "--workspace", s.ws, "--db", s.db, "--id", "w",
            "--model", "openai-compatible:\(server.baseURL)/v1#local",
        ])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let state = try await SQLiteEventStore(path: s.db).state(of: RunID("w"))
        #expect(state.settings.loop?.contextWindow == window)
        let fromServer = state.settings.sources?.contains { $0.source.contains("the model's server") } == true
        #expect(fromServer == (window == reported))
        let body = try #require(server.requests.first { $0.path.hasSuffix("/chat/completions") }?.body)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        #expect(json["max_tokens"] as? Int == min(8192, window / 4), "\(body.prefix(300))")
    }

    @Test func aRejectedKeyPausesTheRunWhichResumesOnceFixed() async throws {
        let server = try ReplayServer([
            .body(#"{"error":{"message":"invalid api key"}}"#, status: 401),
            .sse(OpenAIWire.toolCall("write_file", #"{"path":"one.txt","content":"1"}"#)),
            .sse(OpenAIWire.done("done")),
        ])
        defer { server.stop() }
        let s = try setup()
        let model = "openai-compatible:\(server.baseURL)/v1#gpt-4o"
        let first = try await nightshift(
            ["run", "--plan", s.plan, "--workspace", s.ws, "--db", s.db, "--id", "k", "--model", model],
            env: ["NIGHTSHIFT_API_KEY": "wrong-key"])
        #expect(first.status == 3)
        #expect(first.stdout.contains("rejected the API key (HTTP 401): check NIGHTSHIFT_API_KEY"))
        #expect(server.requests.count == 1)  // no retries burned on a bad key
        let keyFile = s.root + "/keys.env"
        try "NIGHTSHIFT_API_KEY=\(Self.canary)\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
        let resumed = try await nightshift(["resume", "k", "--db", s.db, "--key-file", keyFile])
        #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
        #expect(server.requests.last?.headers["authorization"] == "Bearer \(Self.canary)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: s.db))
        #expect(bytes.range(of: Data(Self.canary.utf8)) == nil)
    }

    @Test func aRedirectIsNotFollowedSoTheKeyStaysWithTheConfiguredHost() async throws {
        let elsewhere = try ReplayServer([.sse(OpenAIWire.done("x"))])
        defer { elsewhere.stop() }
        let server = try ReplayServer([
            .body("", status: 307, headers: [("location", elsewhere.baseURL + "/v1/chat/completions")])
        ])
        defer { server.stop() }
        let s = try setup()
        let r = try await nightshift(
            [
                "run", "--plan", s.plan, "--workspace", s.ws, "--db", s.db, "--model",
                "openai-compatible:\(server.baseURL)/v1#m",
            ],
            env: ["NIGHTSHIFT_API_KEY": Self.canary])
        #expect(r.status == 3)
        #expect(elsewhere.requests.isEmpty)
    }

    @Test func aMissingKeyIsNamedBeforeAnythingStarts() async throws {
        let s = try setup()
        var env = ["OPENAI_API_KEY": ""]
        env["HOME"] = s.root
        let r = try await nightshift(
            ["run", "--plan", s.plan, "--workspace", s.ws, "--db", s.db, "--model", "openai:gpt-4o"], env: env)
        #expect(r.status == 1)
        #expect(r.stderr.contains("OPENAI_API_KEY is not set"))
        let runs = try await nightshift(["status", "--db", s.db])
        #expect(!runs.stdout.contains("running"))
    }

    @Test func toolArgumentsThatAreNotJSONAreRefusedNotRun() async throws {
        let server = try ReplayServer([
            .sse(OpenAIWire.toolCall("shell", #"{"command": "touch pwned"#)),  // cut-off JSON
            .sse(OpenAIWire.toolCall("write_file", #"{"path":"one.txt","content":"1"}"#)),
            .sse(OpenAIWire.done("done")),
        ])
        defer { server.stop() }
        let s = try setup()
        let r = try await nightshift([
            "run", "--plan", s.plan, "--workspace", s.ws, "--db", s.db, "--id", "j",
            "--model", "openai-compatible:\(server.baseURL)/v1#gpt-4o",
        ])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: s.ws + "/pwned"))
        #expect(r.stdout.contains("arguments are not a complete JSON object"))
        // The model was told, in the next request's tool message.
        #expect(server.requests[1].body.contains("ERROR: shell: not run: its arguments are not a complete JSON object"))
    }
}

extension ProviderRunTests {
    @Test func ctrlCStopsAPendingRequestPromptlyAndTheRunResumes() async throws {
        // The first reply takes 600 s to start; Ctrl-C must not wait for it. The bound is a fifth of
        // that, so a machine loaded by the rest of the suite does not fail it (it took 6.6 s once).
        let server = try ReplayServer([
            ReplayServer.Reply(
                status: 200, headers: [("Content-Type", "text/event-stream")],
                chunks: OpenAIWire.toolCall("write_file", #"{"path":"one.txt","content":"1"}"#).map { ($0, 0) }
            ).delayingFirst(ms: 600_000),
            .sse(OpenAIWire.toolCall("write_file", #"{"path":"one.txt","content":"1"}"#)),
            .sse(OpenAIWire.done("done")),
        ])
        defer { server.stop() }
        let s = try setup()
        let out = s.root + "/out.log"
        let child = try ChildProcess.spawn(
            [
                try nightshiftBinary(), "run", "--plan", s.plan, "--workspace", s.ws, "--db", s.db, "--id", "c",
                "--model", "openai-compatible:\(server.baseURL)/v1#gpt-4o",
            ],
            environment: testEnvironment, outputPath: out)
        let deadline = ContinuousClock.now + .seconds(20)
        while server.requests.isEmpty && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        let start = ContinuousClock.now
        kill(child.pid, SIGINT)
        let state = await child.wait(timeout: .seconds(120))
        #expect(state != .running, "still running 120 s after Ctrl-C (the reply takes 600 s)")
        #expect(ContinuousClock.now - start < .seconds(120))
        if state == .running { child.kill() }
        let resumed = try await nightshift(["resume", "c", "--db", s.db])
        #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
        #expect(resumed.stdout.contains("run resumed"))
    }

    @Test func roleModelsAreRecordedWithoutKeysAndRebuiltOnResume() async throws {
        let s = try setup()
        try "tasks:\n  one:\n    - tools:\n        - write_file: {path: one.txt, content: '1'}\n      done: ok\n"
            .write(toFile: s.root + "/scenario.yaml", atomically: true, encoding: .utf8)
        let r = try await nightshift(
            [
                "run", "--plan", s.plan, "--workspace", s.ws, "--db", s.db, "--id", "roles",
                "--model", "scripted:\(s.root)/scenario.yaml", "--role-model",
                "judge=openai-compatible:http://127.0.0.1:9/v1#m",
            ],
            env: ["NIGHTSHIFT_API_KEY": Self.canary])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let status = try await nightshift(["status", "roles", "--db", s.db])
        #expect(
            status.stdout.contains("scripted:\(s.root)/scenario.yaml;judge=openai-compatible:http://127.0.0.1:9/v1#m"))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: s.db))
        #expect(bytes.range(of: Data(Self.canary.utf8)) == nil)
        let bad = try await nightshift([
            "run", "--plan", s.plan, "--workspace", s.ws, "--db", s.db, "--model", "scripted:x.yaml",
            "--role-model", "critic=openai:gpt-4o",
        ])
        // A bad option value is a usage error (exit 64), in one line.
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("unknown role 'critic'"))
    }
}

extension ReplayServer.Reply {
    func delayingFirst(ms: Int) -> ReplayServer.Reply {
        var copy = self
        copy.chunks[0].delayMs = ms
        return copy
    }
}

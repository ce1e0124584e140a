import Foundation
import NightshiftCore
import NightshiftSQLite
import NightshiftTesting
import Testing

/// A real model on a server people run themselves: `scripts/local-model.sh test` starts llama.cpp's
/// llama-server with Gemma 3 270M on loopback and runs this with its spec in
/// `NIGHTSHIFT_LOCAL_MODEL`. A task with a real check, the real model as every role: the run must
/// end cleanly (finished, or its task blocked by its checks), never paused on a request
/// Nightshift built badly, with its tokens recorded and a log that verifies.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["NIGHTSHIFT_LOCAL_MODEL"] != nil))
struct LocalModelTests {
    @Test func aRealModelRunsATaskToACleanEnd() async throws {
        let spec = try #require(ProcessInfo.processInfo.environment["NIGHTSHIFT_LOCAL_MODEL"])
        let root = tempDir("ns-local-model")
        try FileManager.default.createDirectory(atPath: root + "/ws", withIntermediateDirectories: true)
        try """
        title: hello
        tasks:
          - id: hello
            description: Create the file hello.txt containing the word hello, with the write_file tool. Then call task_done.
            checks: ["grep -q hello hello.txt"]
        """.write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        let db = root + "/ns.db"
        let run = try await nightshift(
            [
                "run", "--plan", root + "/plan.yaml", "--workspace", root + "/ws", "--model", spec, "--db", db,
                "--id", "lm", "--max-turns", "4", "--max-attempts", "2", "--max-output", "384",
            ], timeout: .seconds(900), cwd: root)
        #expect(run.status == 0, "\(run.stdout.suffix(3000))\(run.stderr)")
        let store = try SQLiteEventStore(path: db)
        let state = try await store.state(of: RunID("lm"))
        #expect(state.status == .finished, "\(state.statusReason ?? "")")
        let events = try await store.readAll(RunID("lm")).map(\.event)
        #expect(!events.contains { if case .modelFailed = $0 { true } else { false } }, "no model error")
        #expect(state.usage.input > 0 && state.usage.output > 0, "tokens recorded")
        // The window the server reported is the run's.
        #expect(state.settings.loop?.contextWindow == 8192)
        #expect(try await nightshift(["audit", "verify", "lm", "--db", db]).status == 0)
    }
}

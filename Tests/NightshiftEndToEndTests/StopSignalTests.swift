import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftSQLite
import NightshiftTesting
import Testing

/// A signal stops a process that drives runs cleanly: the step under way is abandoned (its
/// command ended, nothing recorded after its start), the lease is given back (handed over by a
/// worker), the person is told how to go on, and the process ends by that signal. Real processes.
@Suite struct StopSignalTests {
    static let plan = """
        title: stop me
        tasks:
          - id: one
            description: start, then take far too long
            checks:
              - grep -q started started.txt
        """
    /// Each call says it started, then sleeps far longer than the test (only a stop ends it).
    static func scenario(calls: Int) -> String {
        let call = #"    - tools: [{shell: {command: "echo started >> started.txt; sleep 300; echo late > late.txt"}}]"#
        return "tasks:\n  one:\n" + Array(repeating: call + "\n", count: calls).joined() + "    - done: it started\n"
    }

    func setup(calls: Int, policy: String? = nil) throws -> (root: String, ws: String, db: String, args: [String]) {
        let root = tempDir("ns-stop")
        let ws = root + "/ws"
        try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
        try Self.plan.write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        try Self.scenario(calls: calls).write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
        var args = [
            "--plan", root + "/plan.yaml", "--workspace", ws, "--model", "scripted:\(root)/scenario.yaml",
            "--db", root + "/ns.db", "--unsandboxed",
        ]
        if let policy {
            try policy.write(toFile: root + "/policy.yaml", atomically: true, encoding: .utf8)
            args += ["--policy", root + "/policy.yaml"]
        }
        return (root, ws, root + "/ns.db", args)
    }

    /// Spawns the binary, waits until the workspace's started.txt has `lines` lines (the call under
    /// way), sends `signal`, and waits for the end. The process's end and what it wrote.
    func signalWhenStarted(
        _ argv: [String], ws: String, lines: Int = 1, signal: Int32, output: String
    ) async throws -> (ChildProcess.State, String) {
        let child = try ChildProcess.spawn(
            [try nightshiftBinary()] + argv, environment: testEnvironment, outputPath: output)
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOfFile: ws + "/started.txt", encoding: .utf8)) ?? ""
            if text.split(separator: "\n").count >= lines { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        kill(child.pid, signal)
        let state = await child.wait(timeout: .seconds(30))
        if state == .running { child.kill() }
        return (state, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }

    @Test func sigtermStopsARunCleanlyAndResumeSettlesTheStep() async throws {
        let (root, ws, db, args) = try setup(calls: 1)
        let (state, out) = try await signalWhenStarted(
            ["run", "--id", "st"] + args, ws: ws, signal: SIGTERM, output: root + "/run.log")
        #expect(state == .signalled(SIGTERM), "\(state) \(out)")
        #expect(out.contains("nightshift: stopping (SIGTERM)"), "\(out)")
        #expect(out.contains("run st stopped with this process"), "\(out)")
        #expect(out.contains("continue: nightshift resume st --db \(db)"), "\(out)")
        let store = try SQLiteEventStore(path: db)
        #expect(try await store.readAll(RunID("st")).last?.event.eventKind == .toolStarted)
        let lease = try #require(try await store.leaseRecord(of: RunID("st")))
        #expect(lease.released && !lease.handedOver)  // a person's run: theirs to resume
        #expect(!FileManager.default.fileExists(atPath: ws + "/late.txt"))
        // Given back at once: resume needs no wait for the lease to run out.
        let resumed = try await nightshift(["resume", "st", "--db", db, "--unsandboxed"])
        #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
        #expect(resumed.stdout.contains("IN DOUBT"), "\(resumed.stdout)")
        #expect(try String(contentsOfFile: ws + "/started.txt", encoding: .utf8) == "started\n")  // not run again
        #expect(try await nightshift(["audit", "verify", "st", "--db", db]).status == 0)
    }

    /// A worker stopped by SIGTERM hands its run over: the next worker continues it at once (not
    /// after the lease's time-to-live), with the stopped call in doubt and never run twice.
    @Test func aStoppedWorkerHandsItsRunToTheNextWorker() async throws {
        let policy = """
            default: allow
            rules:
              - ask: shell
                command: "*started*"
                reason: a person starts it
            """
        let (root, ws, db, args) = try setup(calls: 2, policy: policy)
        #expect(try await nightshift(["run", "--id", "wk", "-q"] + args).status == 3)
        #expect(try await nightshift(["approve", "wk", "m1.1", "--db", db]).status == 0)
        let (state, out) = try await signalWhenStarted(
            ["worker", "--db", db, "--unsandboxed", "--poll-ms", "20"], ws: ws, signal: SIGTERM,
            output: root + "/worker.log")
        #expect(state == .signalled(SIGTERM), "\(state) \(out)")
        #expect(out.contains("run wk handed over"), "\(out)")
        let store = try SQLiteEventStore(path: db)
        #expect(try #require(try await store.leaseRecord(of: RunID("wk"))).handedOver)
        #expect(try await store.summary(of: RunID("wk"))?.status == .running)
        let next = try await nightshift(["worker", "--once", "--db", db, "--unsandboxed"])
        #expect(next.stdout.contains("resuming wk (a worker drove it and its process is gone)"), "\(next.stdout)")
        // It went on: the first call in doubt, and the second (which asks a person again) waits.
        let events = try await store.readAll(RunID("wk")).map(\.event)
        #expect(events.contains { if case .toolInDoubt(CallID("m1.1"), _) = $0 { true } else { false } })
        #expect(try await store.summary(of: RunID("wk"))?.status == .paused)
        #expect(try String(contentsOfFile: ws + "/started.txt", encoding: .utf8) == "started\n")
    }
}

import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftSQLite
import NightshiftTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A crash of `nightshift serve` is survived like any other: killed (SIGKILL) while it drives a
/// run a person approved from the API, a new server resumes the run, and a client that watched
/// the first one's live stream reconnects to the second with `Last-Event-ID`: every event once,
/// none missing, and the log verifies.
@Suite struct ServeCrashTests {
    static let scenario = """
        tasks:
          ship:
            - tools: [{shell: {command: "echo shipped >> release.log"}}]
            - tools: [{shell: {command: "sleep 30; echo one >> progress.txt"}}]
            - tools: [{shell: {command: "sleep 1; echo two >> progress.txt"}}]
              done: shipped
        """
    static let policy = """
        default: allow
        rules:
          - ask: shell
            command: "*release.log*"
            reason: releases need a person
        """

    /// Seqs of the `id:` lines a stream wrote so far.
    func ids(_ path: String) -> [Int64] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n")
            .compactMap { $0.hasPrefix("id: ") ? Int64($0.dropFirst(4)) : nil }
    }

    func curl(_ args: [String], out: String) throws -> ChildProcess {
        try ChildProcess.spawn(["/usr/bin/curl", "-s", "-N"] + args, environment: testEnvironment, outputPath: out)
    }

    @Test func aKilledServerIsResumedAndItsStreamContinuesWithoutLossOrRepeat() async throws {
        let root = tempDir("ns-serve-crash")
        let db = root + "/ns.db"
        try FileManager.default.createDirectory(atPath: root + "/ws", withIntermediateDirectories: true)
        try Self.scenario.write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
        try Self.policy.write(toFile: root + "/policy.yaml", atomically: true, encoding: .utf8)
        try "title: ship\ntasks:\n  - {id: ship, description: ship, checks: [test -f progress.txt]}\n".write(
            toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        let model = ["--model", "scripted:\(root)/scenario.yaml", "--unsandboxed"]
        _ = try await nightshift(
            [
                "run", "--id", "ship", "--plan", root + "/plan.yaml", "--workspace", root + "/ws", "--db", db,
                "--policy", root + "/policy.yaml", "-q",
            ] + model)
        #expect(try await SQLiteEventStore(path: db).state(of: RunID("ship")).status == .paused)
        let token = try await nightshift(["token", "create", "--db", db, "--name", "t", "--scope", "admin"])
            .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let auth = ["-H", "Authorization: Bearer \(token)"]

        let first = try await startServe(db: db, root: root, extra: model)
        let base = "http://127.0.0.1:\(first.port)"
        let streamA = try curl(
            auth + ["-H", "Accept: text/event-stream", base + "/api/runs/ship/events"], out: root + "/a.sse")
        defer { streamA.kill() }
        let approve = try curl(
            auth + [
                "-X", "POST", "-H", "Content-Type: application/json", "--data", "{}",
                base + "/api/runs/ship/calls/m1.1/approve",
            ], out: root + "/approve.out")
        _ = await approve.wait(timeout: .seconds(30))
        // Killed while the sleeping call (the second) runs.
        let store = try SQLiteEventStore(path: db)
        let deadline = ContinuousClock.now + .seconds(30)
        var midCall = false
        while ContinuousClock.now < deadline, !midCall {
            midCall = try await store.readAll(RunID("ship")).contains {
                if case .toolStarted(let call) = $0.event { return call.rawValue == "m2.1" }
                return false
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(midCall, "the run never reached its second call")
        // Killed at once: the call sleeps 30 s (a loaded machine is slow to see it start), so it
        // is still running (and will be in doubt).
        first.server.kill()
        _ = await first.server.wait(timeout: .seconds(10))
        _ = await streamA.wait(timeout: .seconds(10))
        let seen = ids(root + "/a.sse")
        #expect(!seen.isEmpty && seen == Array(1...(seen.last ?? 0)), "\(seen)")

        try FileManager.default.createDirectory(atPath: root + "/b", withIntermediateDirectories: true)
        let second = try await startServe(db: db, root: root + "/b", extra: model)
        defer { second.server.kill() }
        let baseB = "http://127.0.0.1:\(second.port)"
        let streamB = try curl(
            auth + [
                "-H", "Accept: text/event-stream", "-H", "Last-Event-ID: \(seen.last ?? 0)",
                baseB + "/api/runs/ship/events",
            ], out: root + "/b.sse")
        defer { streamB.kill() }
        let resume = try curl(
            auth + ["-X", "POST", "-w", "%{http_code}", baseB + "/api/runs/ship/resume"], out: root + "/resume.out")
        _ = await resume.wait(timeout: .seconds(30))
        let resumed = (try? String(contentsOfFile: root + "/resume.out", encoding: .utf8)) ?? ""
        // The new server's worker may have taken the run up first (its driver's process is gone):
        // then the resume finds it driven, or already finished.
        #expect(
            resumed.hasSuffix("202") || resumed.contains("busy") || resumed.contains("is finished"), "\(resumed)")
        // The stream ends when the run does.
        let end = await streamB.wait(timeout: .seconds(60))
        #expect(end == .exited(0), "\(end)")
        let state = try await store.state(of: RunID("ship"))
        #expect(state.status == .finished, "\(state.status) \(state.statusReason ?? "")")
        let all = seen + ids(root + "/b.sse")
        #expect(all == Array(1...state.lastSeq), "every event once: \(all)")
        let events = try await store.readAll(RunID("ship"))
        #expect(events.contains { if case .runResumed = $0.event { return true } else { return false } })
        #expect(events.contains { if case .toolInDoubt = $0.event { return true } else { return false } })
        let verify = try await nightshift(["audit", "verify", "ship", "--db", db])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }
}

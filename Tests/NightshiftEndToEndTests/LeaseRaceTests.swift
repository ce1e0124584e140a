import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftSQLite
import NightshiftTesting
import Testing

/// Two `nightshift resume` processes started together on the same run: one drives it, the other
/// says who does and exits with status 5. No call that a live process finished is ever recorded
/// as in doubt, and no effect happens twice. Fifty races (`NIGHTSHIFT_RACES` for more).
@Suite struct LeaseRaceTests {
    @Test func twoResumesRacingNeverBothAdvanceTheRun() async throws {
        let races = ProcessInfo.processInfo.environment["NIGHTSHIFT_RACES"].flatMap(Int.init) ?? 50
        let root = tempDir("ns-race")
        try "title: t\ntasks:\n  - id: t\n    description: d\n    checks: ['test -f done.txt']\n"
            .write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        try "default: allow\nrules:\n  - ask: shell\n".write(
            toFile: root + "/policy.yaml", atomically: true, encoding: .utf8)
        try """
        tasks:
          t:
            - tools:
                - shell: {command: "sleep 0.3; echo effect >> ../effects-$(basename $PWD).txt; touch done.txt"}
              done: did it
        """.write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
        let db = root + "/ns.db"
        var busyCount = 0
        for n in 0..<races {
            let id = "race\(n)", ws = root + "/\(id)"
            try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
            let run = try await nightshift([
                "run", "--plan", root + "/plan.yaml", "--workspace", ws, "--model", "scripted:\(root)/scenario.yaml",
                "--db", db, "--policy", root + "/policy.yaml", "--id", id, "-q", "--unsandboxed", "--no-baseline",
            ])
            try #require(run.status == 3, "\(run.stdout)\(run.stderr)")
            let approve = try await nightshift(["approve", id, "m1.1", "--db", db])
            try #require(approve.status == 0, "\(approve.stderr)")
            async let a = nightshift(["resume", id, "--db", db, "-q", "--unsandboxed"])
            async let b = nightshift(["resume", id, "--db", db, "-q", "--unsandboxed"])
            let results = try await [a, b]
            for r in results {
                #expect([0, 5].contains(r.status), "race \(n): status \(r.status): \(r.stdout)\(r.stderr)")
                if r.status == 5 {
                    busyCount += 1
                    #expect(r.stderr.contains("is being advanced by pid"), "race \(n): \(r.stderr)")
                    #expect(r.stderr.split(separator: "\n").count == 1, "race \(n): \(r.stderr)")
                }
            }
            #expect(results.contains { $0.status == 0 }, "race \(n): neither finished it")
            let events = try await SQLiteEventStore(path: db).readAll(RunID(id)).map(\.event)
            #expect(
                !events.contains { if case .toolInDoubt = $0 { true } else { false } },
                "race \(n): a finished call was put in doubt")
            #expect(events.filter { if case .toolStarted = $0 { true } else { false } }.count == 1, "race \(n)")
            let effects = try String(contentsOfFile: root + "/effects-\(id).txt", encoding: .utf8)
            #expect(effects == "effect\n", "race \(n): \(effects.split(separator: "\n").count) effects")
            #expect(try await SQLiteEventStore(path: db).verify(RunID(id)).ok)
        }
        // Most races overlap (the call takes 0.3 s); some the second process finds the run finished.
        #expect(busyCount > 0, "no race overlapped: the test proved nothing")
    }
}

/// A driver that is alive but stuck (frozen with SIGSTOP here) keeps its run: a second process
/// is refused, naming it, and `status` shows it. Once it is dead, the run is taken over at once
/// (its pid is gone), and only then is its call in flight put in doubt.
@Suite struct LeaseTakeOverTests {
    @Test func aFrozenDriverKeepsTheRunUntilItIsKilled() async throws {
        let root = tempDir("ns-frozen")
        let ws = root + "/ws"
        try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
        try "title: t\ntasks:\n  - id: t\n    description: d\n    checks: ['test -f done.txt']\n"
            .write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        try
            "tasks:\n  t:\n    - tools:\n        - write_file: {path: done.txt, content: x}\n      done: did it\n    - tools:\n        - write_file: {path: done.txt, content: x}\n      done: again\n"
            .write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
        let db = root + "/ns.db"
        var env = ProcessInfo.processInfo.environment
        env["NIGHTSHIFT_TEST_STOP_AFTER_SEQ"] = "8"  // frozen just after an event of the first turn
        let child = try ChildProcess.spawn(
            [
                try nightshiftBinary(), "run", "--plan", root + "/plan.yaml", "--workspace", ws,
                "--model", "scripted:\(root)/scenario.yaml", "--db", db, "--id", "f", "-q",
                "--unsandboxed", "--no-baseline",
            ], environment: env, outputPath: root + "/out.log")
        defer { child.kill() }
        #expect(await child.wait(timeout: .seconds(60)) == .stopped)
        let refused = try await nightshift(["resume", "f", "--db", db, "--unsandboxed"])
        #expect(refused.status == 5, "\(refused.stdout)\(refused.stderr)")
        #expect(refused.stderr.contains("is being advanced by pid \(child.pid)"), "\(refused.stderr)")
        let status = try await nightshift(["status", "f", "--db", db])
        #expect(status.stdout.contains("driven by pid \(child.pid)"), "\(status.stdout)")
        let before = try await SQLiteEventStore(path: db).summary(of: RunID("f"))?.headSeq
        child.kill()
        _ = await child.wait(timeout: .seconds(3))
        let taken = try await nightshift(["resume", "f", "--db", db, "--unsandboxed", "-q"])
        #expect(taken.status == 0, "\(taken.stdout)\(taken.stderr)")
        let events = try await SQLiteEventStore(path: db).readAll(RunID("f")).map(\.event)
        #expect(events.contains { if case .runResumed = $0 { true } else { false } })
        #expect((before ?? 0) < Int64(events.count))
        #expect(try await SQLiteEventStore(path: db).verify(RunID("f")).ok)
    }
}

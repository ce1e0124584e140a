import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftRuntime
import NightshiftSQLite
import NightshiftTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Runs no person starts at a terminal, through the real binary: schedules a person adds and
/// workers keep, and webhooks of the user's configuration served by `nightshift serve`.
@Suite struct AmbientRunTests {
    /// The scripted model's turns (a test double): the task writes its file and claims done.
    static let scenario = """
        tasks:
          note:
            - tools: [{write_file: {path: note.txt, content: "hello"}}]
              done: wrote it
        """
    static let plan = """
        title: write a note
        tasks:
          - {id: note, description: write note.txt, checks: [test -f note.txt]}
        """

    func world() throws -> (dir: String, db: String, ws: String) {
        let dir = tempDir("ns-ambient")
        let ws = dir + "/ws"
        try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
        try Self.scenario.write(toFile: dir + "/scenario.yaml", atomically: true, encoding: .utf8)
        try Self.plan.write(toFile: dir + "/plan.yaml", atomically: true, encoding: .utf8)
        _ = try SQLiteEventStore(path: dir + "/ns.db")
        return (dir, dir + "/ns.db", ws)
    }

    @Test func aPersonAddsListsPausesAndRemovesSchedules() async throws {
        let (dir, db, ws) = try world()
        let bad = try await nightshift(
            ["schedule", "add", "n", "--db", db, "--cron", "0 25 * * *", "--goal", "tidy", "--workspace", ws])
        #expect(bad.status != 0 && bad.stderr.contains("the hour field '25': 25 is outside 0–23"), "\(bad.stderr)")
        #expect(bad.stderr.split(separator: "\n").count == 1, "one line: \(bad.stderr)")
        let both = try await nightshift(["schedule", "add", "n", "--db", db, "--cron", "@daily", "--workspace", ws])
        #expect(both.status == 64 && both.stderr.contains("exactly one of --plan"), "\(both.stderr)")
        let missingPlan = try await nightshift(
            ["schedule", "add", "n", "--db", db, "--cron", "@daily", "--plan", dir + "/none.yaml", "--workspace", ws])
        #expect(missingPlan.status != 0, "\(missingPlan.stderr)")
        let noDB = try await nightshift(
            ["schedule", "add", "n", "--db", dir + "/other.db", "--cron", "@daily", "--goal", "x", "--workspace", ws])
        #expect(noDB.status != 0 && noDB.stderr.contains("no database at"), "\(noDB.stderr)")

        // What would fail at every slot fails now: an agent the workspace does not have, a
        // configuration nobody trusted there.
        let noAgent = try await nightshift(
            [
                "schedule", "add", "n", "--db", db, "--cron", "@daily", "--goal", "x", "--workspace", ws, "--agent",
                "ghost",
            ])
        #expect(noAgent.status != 0 && noAgent.stderr.contains("no agent profile 'ghost'"), "\(noAgent.stderr)")
        let planted = dir + "/planted"
        try FileManager.default.createDirectory(atPath: planted + "/.nightshift", withIntermediateDirectories: true)
        try "model: openai:gpt-4o\n".write(
            toFile: planted + "/.nightshift/config.yaml", atomically: true, encoding: .utf8)
        let untrusted = try await nightshift(
            ["schedule", "add", "n", "--db", db, "--cron", "@daily", "--goal", "x", "--workspace", planted])
        #expect(untrusted.status != 0 && untrusted.stderr.contains("a run cannot start in"), "\(untrusted.stderr)")
        #expect(untrusted.stderr.contains("trust"), "\(untrusted.stderr)")
        let added = try await nightshift(
            [
                "schedule", "add", "nightly", "--db", db, "--cron", "0 2 * * 1-5", "--plan", dir + "/plan.yaml",
                "--workspace", ws, "--timezone", "Europe/Paris", "--catch-up", "once",
            ])
        #expect(added.status == 0 && added.stdout.contains("schedule nightly added"), "\(added.stderr)")
        let again = try await nightshift(
            ["schedule", "add", "nightly", "--db", db, "--cron", "@daily", "--goal", "x", "--workspace", ws])
        #expect(again.status != 0 && again.stderr.contains("exists"), "\(again.stderr)")
        let list = try await nightshift(["schedule", "list", "--db", db])
        #expect(list.stdout.contains("nightly") && list.stdout.contains("0 2 * * 1-5 Europe/Paris"), "\(list.stdout)")
        #expect(try await nightshift(["schedule", "pause", "nightly", "--db", db]).status == 0)
        #expect(try await nightshift(["schedule", "list", "--db", db]).stdout.contains("paused"))
        #expect(try await nightshift(["schedule", "resume", "nightly", "--db", db]).status == 0)
        let show = try await nightshift(["schedule", "show", "nightly", "--db", db])
        #expect(
            show.stdout.contains("plan \"write a note\"") && show.stdout.contains("skipped: resumed"), "\(show.stdout)")
        #expect(try await nightshift(["schedule", "remove", "nightly", "--db", db]).status == 0)
        let gone = try await nightshift(["schedule", "remove", "nightly", "--db", db])
        #expect(gone.status != 0 && gone.stderr.contains("no schedule named nightly"), "\(gone.stderr)")
        #expect(try await nightshift(["schedule", "list", "--db", db]).stdout.contains("no schedules"))
    }

    /// A schedule added two hours ago whose slots nobody kept (catch-up once): two workers start
    /// on the database, and exactly one run is started for the latest slot, finished, recorded
    /// with its schedule and slot.
    @Test func twoWorkersStartADueSlotOnce() async throws {
        let (dir, db, ws) = try world()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        try await SQLiteScheduleStore(sharing: SQLiteEventStore(path: db)).add(
            Schedule(
                name: "hourly", cron: "@hourly",
                template: RunTemplate(
                    plan: Plan(
                        title: "write a note",
                        tasks: [
                            PlanTask(
                                id: TaskID("note"), description: "write note.txt",
                                checks: [Check(command: "test -f note.txt")])
                        ]), workspace: ws), catchUp: .once, created: Timestamp(milliseconds: now - 2 * 3_600_000),
                createdBy: "alice"))
        var workers: [ChildProcess] = []
        for n in 0..<2 {
            workers.append(
                try ChildProcess.spawn(
                    [
                        try nightshiftBinary(), "worker", "--db", db, "--unsandboxed", "--model",
                        "scripted:\(dir)/scenario.yaml",
                    ], environment: testEnvironment, outputPath: dir + "/worker\(n).log"))
        }
        defer { for w in workers { w.kill() } }
        let store = try SQLiteEventStore(path: db)
        let deadline = ContinuousClock.now + .seconds(60)
        var finished = false
        while ContinuousClock.now < deadline, !finished {
            finished = try await store.runs().contains { $0.status == .finished }
            try await Task.sleep(for: .milliseconds(100))
        }
        let logs = (0..<2).map { (try? String(contentsOfFile: dir + "/worker\($0).log", encoding: .utf8)) ?? "" }
        #expect(finished, "\(logs)")
        // Both had time to see the slot.
        #expect(await waitForLine("watching", in: dir + "/worker1.log"))
        try await Task.sleep(for: .milliseconds(500))
        let runs = try await store.runs()
        #expect(runs.count == 1, "\(runs.map(\.id))")
        let run = try #require(runs.first)
        #expect(run.id.rawValue.hasPrefix("sched-hourly-"))
        guard case let .runCreated(_, _, _, settings)? = try await store.readAll(run.id).first?.event else {
            throw TestFailure("no run_created")
        }
        #expect(settings.trigger?.kind == .schedule && settings.trigger?.by == "alice")
        #expect(settings.trigger?.detail?.hasPrefix("slot ") == true)
        #expect(FileManager.default.fileExists(atPath: ws + "/note.txt"))
        let status = try await nightshift(["status", run.id.rawValue, "--db", db])
        #expect(status.stdout.contains("started   by schedule hourly, as alice, slot "), "\(status.stdout)")
        let show = try await nightshift(["schedule", "show", "hourly", "--db", db])
        #expect(show.stdout.contains("started \(run.id)"), "\(show.stdout)")
        #expect(logs.joined().contains("schedule hourly: slot"), "\(logs)")
    }

    /// `nightshift serve` serves the webhooks of the user's own file: a signed delivery starts its
    /// plan in its workspace (once), a forged one nothing; a workspace whose project configuration
    /// nobody trusted starts nothing (the agent could have written it), and says why.
    @Test func serveStartsASignedDeliveryAndRefusesAnUntrustedWorkspace() async throws {
        let (dir, db, ws) = try world()
        let trap = dir + "/trap"
        try FileManager.default.createDirectory(atPath: trap + "/.nightshift", withIntermediateDirectories: true)
        try "policy: evil.yaml\n".write(toFile: trap + "/.nightshift/config.yaml", atomically: true, encoding: .utf8)
        let config = dir + "/config"
        try FileManager.default.createDirectory(atPath: config + "/nightshift", withIntermediateDirectories: true)
        let secret = "a-secret-of-twenty-chars"
        try """
        webhooks:
          ci: {secret: \(secret), plan: \(dir)/plan.yaml, workspace: \(ws)}
          trap: {secret: \(secret), goal: "fix {{ref}}", workspace: \(trap)}
        """.write(toFile: config + "/nightshift/config.yaml", atomically: true, encoding: .utf8)
        let server = try ChildProcess.spawn(
            [
                try nightshiftBinary(), "serve", "--db", db, "--port", "0", "--unsandboxed", "--model",
                "scripted:\(dir)/scenario.yaml",
            ],
            environment: ProcessInfo.processInfo.environment.merging(["XDG_CONFIG_HOME": config]) { $1 },
            outputPath: dir + "/serve.log")
        defer { server.kill() }
        guard await waitForLine("serving http://127.0.0.1:", in: dir + "/serve.log") else {
            throw TestFailure((try? String(contentsOfFile: dir + "/serve.log", encoding: .utf8)) ?? "")
        }
        let log = try String(contentsOfFile: dir + "/serve.log", encoding: .utf8)
        #expect(log.contains("webhook ci at POST /hooks/ci"), "\(log)")
        let port = try #require(
            log.split(separator: "\n").first(where: { $0.contains("serving http://127.0.0.1:") })
                .flatMap({ $0.split(separator: ":").last?.split(separator: " ").first }).flatMap({ Int($0) }))

        func post(_ hook: String, delivery: String, signature: String? = nil) async throws -> (Int, String) {
            let body = #"{"ref": "main"}"#
            let sig = signature ?? Webhooks.signature(secret: secret, delivery: delivery, body: Array(body.utf8))
            let out = tempDir("ns-curl")
            let child = try ChildProcess.spawn(
                [
                    "/usr/bin/curl", "-s", "-o", out + "/body", "-w", "%{http_code}", "-X", "POST",
                    "-H", "Content-Type: application/json", "-H", "\(Webhooks.deliveryHeader): \(delivery)",
                    "-H", "\(Webhooks.signatureHeader): \(sig)", "--data-binary", body,
                    "http://127.0.0.1:\(port)/hooks/\(hook)",
                ], environment: testEnvironment, outputPath: out + "/code")
            guard case .exited(0) = await child.wait(timeout: .seconds(30)) else { throw TestFailure("curl failed") }
            return (
                Int((try? String(contentsOfFile: out + "/code", encoding: .utf8)) ?? "") ?? 0,
                (try? String(contentsOfFile: out + "/body", encoding: .utf8)) ?? ""
            )
        }
        let (status, body) = try await post("ci", delivery: "build-1")
        #expect(status == 201, "\(body)")
        #expect(try await post("ci", delivery: "build-1").0 == 200, "a redelivery")
        #expect(
            try await post("ci", delivery: "build-2", signature: "sha256=" + String(repeating: "0", count: 64)).0 == 401
        )
        let (trapStatus, trapBody) = try await post("trap", delivery: "t-1")
        #expect(trapStatus == 409 && trapBody.contains("untrusted"), "\(trapStatus) \(trapBody)")

        let store = try SQLiteEventStore(path: db)
        let id = Webhooks.runID("ci", delivery: "build-1")
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline, try await store.summary(of: id)?.status != .finished {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try await store.summary(of: id)?.status == .finished)
        #expect(try await store.runs().map(\.id) == [id], "one run: the trap's and the forged one's never started")
        #expect(FileManager.default.fileExists(atPath: ws + "/note.txt"))
    }

    /// A schedule that dreams: a worker keeps it, and the slot's dream reviews the finished runs
    /// of its scope (the scripted dreamer, a test double, proposes nothing); the slot records it.
    @Test func aScheduledDreamRunsInAWorker() async throws {
        let p = try DreamCLITests.Project("ns-sched-dream", dreamer: "  - proposals: []")
        _ = try await p.run("r1")
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let bad = try await nightshift(
            ["schedule", "add", "d", "--db", p.db, "--cron", "@daily", "--dream", "planet:x", "--workspace", p.ws])
        #expect(bad.status == 64 && bad.stderr.contains("planet:x"), "\(bad.stderr)")
        let added = try await nightshift(
            ["schedule", "add", "d", "--db", p.db, "--cron", "@daily", "--dream", p.scope, "--workspace", p.ws])
        #expect(added.status == 0 && added.stdout.contains("schedule d added"), "\(added.stderr)")
        #expect(try await nightshift(["schedule", "show", "d", "--db", p.db]).stdout.contains("a dream over project:"))
        try await SQLiteScheduleStore(sharing: SQLiteEventStore(path: p.db)).add(
            Schedule(
                name: "dreams", cron: "@hourly",
                template: RunTemplate(dream: [MemoryScope(.project, p.ws)], workspace: p.ws), catchUp: .once,
                created: Timestamp(milliseconds: now - 2 * 3_600_000), createdBy: "alice"))
        let worker = try ChildProcess.spawn(
            [
                try nightshiftBinary(), "worker", "--db", p.db, "--unsandboxed", "--model",
                "scripted:\(p.root)/model.yaml",
            ],
            environment: testEnvironment, outputPath: p.root + "/worker.log")
        defer { worker.kill() }
        #expect(await waitForLine("schedule dreams: slot", in: p.root + "/worker.log"))
        let show = try await nightshift(["schedule", "show", "dreams", "--db", p.db])
        #expect(
            show.stdout.contains("a dream over project:") && show.stdout.contains("reviewed 1 run(s)"), "\(show.stdout)"
        )
        #expect(try await SQLiteEventStore(path: p.db).runs().count == 1, "a dream starts no run")
    }
}

import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftSQLite
import NightshiftTesting
import Testing

/// The dashboard in a real browser: headless Chromium driven by selenium (Tests/Browser, run from
/// `.venv`; `.ci/run` installs Debian's chromium and chromium-driver and selenium from PyPI). A
/// run paused for an approval and `nightshift serve` (which continues what a decision made ready):
/// a person signs in, approves from the run's page and watches the run finish live; then the page
/// at a phone's width. In CI a missing browser fails this test instead of skipping it.
@Suite(
    .serialized,
    .enabled(
        if: (FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium")
            && BrowserFixture.python != nil) || ProcessInfo.processInfo.environment["CI"] != nil))
struct DashboardBrowserTests {
    static let plan = """
        title: ship the release
        tasks:
          - id: ship
            description: record the release
            checks:
              - grep -q shipped release.log
        """
    /// The call the policy asks about carries markup the page must show as text.
    static let scenario = """
        tasks:
          ship:
            - tools:
                - shell: {command: "echo shipped '<img src=x onerror=alert(1)>' >> release.log"}
              done: shipped
        """
    static let policy = """
        default: allow
        rules:
          - ask: shell
            command: "*release.log*"
            reason: releases need a person
        """

    /// A new folder with run `ship` in its database, paused on the shell call the policy asks about.
    static func pausedRun(_ name: String) async throws -> (root: String, db: String) {
        let root = tempDir(name)
        let db = root + "/ns.db"
        try FileManager.default.createDirectory(atPath: root + "/ws", withIntermediateDirectories: true)
        for (file, text) in [("plan.yaml", plan), ("scenario.yaml", scenario), ("policy.yaml", policy)] {
            try text.write(toFile: root + "/" + file, atomically: true, encoding: .utf8)
        }
        let run = try await nightshift([
            "run", "--id", "ship", "--plan", root + "/plan.yaml", "--workspace", root + "/ws", "--model",
            "scripted:\(root)/scenario.yaml", "--db", db, "--policy", root + "/policy.yaml", "--unsandboxed", "-q",
        ])
        guard try await SQLiteEventStore(path: db).state(of: RunID("ship")).status == .paused else {
            throw TestFailure("run ship did not pause for its approval: \(run.stdout)\(run.stderr)")
        }
        return (root, db)
    }

    @Test func aPersonApprovesFromThePageAndWatchesTheRunFinish() async throws {
        let python = try #require(
            BrowserFixture.python, "selenium is not installed in .venv: run .ci/run (it installs it with the browser)")
        let (root, db) = try await Self.pausedRun("ns-browser")
        let made = try await nightshift(["token", "create", "--db", db, "--name", "browser", "--scope", "read,approve"])
        let token = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

        let (server, port) = try await startServe(db: db, root: root)
        defer { server.kill() }

        let shots = root + "/screenshots"
        try FileManager.default.createDirectory(atPath: shots, withIntermediateDirectories: true)
        let browser = try ChildProcess.spawn(
            [
                python.executable, BrowserFixture.packageRoot + "/Tests/Browser/dashboard_test.py",
                "http://127.0.0.1:\(port)",
                token, "ship", shots,
            ], environment: testEnvironment, outputPath: root + "/browser.log")
        let end = await browser.wait(timeout: .seconds(240))
        if end == .running { browser.kill() }
        let said = (try? String(contentsOfFile: root + "/browser.log", encoding: .utf8)) ?? ""
        #expect(
            end == .exited(0),
            "\(said)\nserve: \((try? String(contentsOfFile: root + "/serve.log", encoding: .utf8)) ?? "")")
        for shot in ["desktop.png", "phone.png"] {
            let size = (try? FileManager.default.attributesOfItem(atPath: shots + "/" + shot)[.size] as? Int) ?? 0
            #expect(size > 1000, "\(shot) was not saved")
        }
        let state = try await SQLiteEventStore(path: db).state(of: RunID("ship"))
        #expect(state.status == .finished)
    }
}

/// Where the browser test's Python is (probed once: starting Python takes a moment).
enum BrowserFixture {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let python = TestPython.venv(packageRoot: packageRoot, importing: "selenium")
}

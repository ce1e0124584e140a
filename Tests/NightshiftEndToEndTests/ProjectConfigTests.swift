import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftRuntime
import NightshiftSQLite
import NightshiftTesting
import Testing

/// `nightshift init`, the configuration files and their precedence, and `nightshift config`.
@Suite struct ProjectConfigTests {
    func gitRepository() throws -> String {
        let dir = tempDir("ns-init")
        for args in [["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "init"]] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/git")
            p.arguments = ["-c", "user.name=t", "-c", "user.email=t@t"] + args
            p.currentDirectoryURL = URL(fileURLWithPath: dir)
            p.environment = ["PATH": "/usr/bin:/bin", "HOME": dir, "GIT_CONFIG_NOSYSTEM": "1"]
            try p.run()
            p.waitUntilExit()
        }
        return dir
    }

    func listing(_ dir: String) -> [String] {
        (FileManager.default.enumerator(atPath: dir)?.compactMap { $0 as? String } ?? [])
            .filter { !$0.hasPrefix(".git/") && $0 != ".git" }.sorted()
    }

    @Test func initWritesItsFilesOnceAndTouchesNothingElse() async throws {
        let repo = try gitRepository()
        try "build/\n".write(toFile: repo + "/.gitignore", atomically: true, encoding: .utf8)
        let first = try await nightshift(["init"], cwd: repo)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("next:") && first.stdout.contains("nightshift run"))
        #expect(
            listing(repo) == [
                ".gitignore", ".nightshift", ".nightshift/config.yaml", ".nightshift/guidance.md",
                ".nightshift/policy.yaml",
            ])
        let ignore = try String(contentsOfFile: repo + "/.gitignore", encoding: .utf8)
        #expect(ignore.hasPrefix("build/\n") && ignore.contains(".nightshift/nightshift.db*"))
        // What it wrote is valid: the policy loads and the configuration names it.
        _ = try PolicyFile.load(path: repo + "/.nightshift/policy.yaml")
        // Trusted as written: init trusts what it writes.
        let settings = try Settings.resolve(
            commandLine: ConfigLayer(), workingFolder: repo, environment: ["XDG_CONFIG_HOME": testConfigHome])
        #expect(settings.text(.policy) == repo + "/.nightshift/policy.yaml")

        // Again: everything is kept, the edit survives, .gitignore gains nothing.
        try "# mine\n".write(toFile: repo + "/.nightshift/guidance.md", atomically: true, encoding: .utf8)
        let second = try await nightshift(["init"], cwd: repo)
        #expect(second.status == 0 && second.stdout.components(separatedBy: "kept").count == 5, "\(second.stdout)")
        #expect(try String(contentsOfFile: repo + "/.nightshift/guidance.md", encoding: .utf8) == "# mine\n")
        #expect(try String(contentsOfFile: repo + "/.gitignore", encoding: .utf8) == ignore)
        // --force writes the templates again.
        let forced = try await nightshift(["init", "--force"], cwd: repo)
        #expect(forced.status == 0)
        #expect(try String(contentsOfFile: repo + "/.nightshift/guidance.md", encoding: .utf8) != "# mine\n")
    }

    /// Command line > environment > project file > user file > defaults, key by key.
    @Test func eachSourceWinsOverTheOnesBelowIt() throws {
        let repo = tempDir("ns-precedence")
        let sub = repo + "/src/deep"
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: repo + "/.nightshift", withIntermediateDirectories: true)
        try "model: openai:project\npolicy: rules.yaml\nlimits: {max_attempts: 7}\n".write(
            toFile: repo + "/.nightshift/config.yaml", atomically: true, encoding: .utf8)
        let xdg = tempDir("ns-xdg")
        try FileManager.default.createDirectory(atPath: xdg + "/nightshift", withIntermediateDirectories: true)
        try
            "model: openai:user\nlimits: {max_turns: 9, max_attempts: 2}\nkeys: {OPENAI_API_KEY: sk-user-0123456789abcdef}\n"
            .write(toFile: xdg + "/nightshift/config.yaml", atomically: true, encoding: .utf8)
        var cli = ConfigLayer()
        cli.set(.model, .text("openai:cli"), from: "--model")
        let env = ["XDG_CONFIG_HOME": xdg, "NIGHTSHIFT_MODEL": "openai:env"]
        // Found from a folder below the project; paths are the project's, not the working folder's.
        let trust = ConfigTrust(store: InMemoryTrustStore(), trustProject: true)
        let all = try Settings.resolve(commandLine: cli, workingFolder: sub, environment: env, trust: trust)
        #expect(all.entry(.model)?.value == .text("openai:cli") && all.entry(.model)?.origin == "--model")
        #expect(all.text(.policy) == repo + "/rules.yaml")
        #expect(all.number(.maxAttempts) == 7)  // project over user
        #expect(all.number(.maxTurns) == 9)  // user over default
        #expect(all.share(.compactAt) == 0.6 && all.entry(.compactAt)?.origin == "default")
        #expect(try all.modelConfig().keys["OPENAI_API_KEY"] == "sk-user-0123456789abcdef")
        let noCLI = try Settings.resolve(
            commandLine: ConfigLayer(), workingFolder: sub, environment: env, trust: trust)
        #expect(noCLI.text(.model) == "openai:env" && noCLI.entry(.model)?.origin == "NIGHTSHIFT_MODEL")
        let noEnv = try Settings.resolve(
            commandLine: ConfigLayer(), workingFolder: sub, environment: ["XDG_CONFIG_HOME": xdg], trust: trust)
        #expect(noEnv.text(.model) == "openai:project")
        #expect(noEnv.entry(.model)?.origin == repo + "/.nightshift/config.yaml:1")
        let noProject = try Settings.resolve(
            commandLine: ConfigLayer(), workingFolder: tempDir("ns-elsewhere"), environment: ["XDG_CONFIG_HOME": xdg])
        #expect(noProject.text(.model) == "openai:user" && noProject.number(.maxAttempts) == 2)
        #expect(noProject.projectFile == nil)
    }

    @Test func configShowsSourcesAndMasksKeys() async throws {
        let repo = try gitRepository()
        let xdg = tempDir("ns-xdg")
        try FileManager.default.createDirectory(atPath: xdg + "/nightshift", withIntermediateDirectories: true)
        try "keys: {ANTHROPIC_API_KEY: sk-ant-very-secret-0123456789}\n".write(
            toFile: xdg + "/nightshift/config.yaml", atomically: true, encoding: .utf8)
        _ = try await nightshift(["init"], env: ["XDG_CONFIG_HOME": xdg], cwd: repo)
        let r = try await nightshift(
            ["config", "--model", "openai:gpt-4o"], env: ["XDG_CONFIG_HOME": xdg], cwd: repo)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("model = openai:gpt-4o    # --model"), "\(r.stdout)")
        #expect(r.stdout.contains("policy = \(repo)/.nightshift/policy.yaml"))
        #expect(r.stdout.contains("keys.ANTHROPIC_API_KEY = •••• (masked)"))
        #expect(!r.stdout.contains("very-secret"))
        // A project file that holds a key stops every command, naming the line.
        try "model: openai:gpt-4o\nkeys: {OPENAI_API_KEY: sk-0123456789abcdef0123}\n".write(
            toFile: repo + "/.nightshift/config.yaml", atomically: true, encoding: .utf8)
        let refused = try await nightshift(["config", "--trust-project"], cwd: repo)
        #expect(refused.status == 1 && refused.stderr.contains("config.yaml:2"), "\(refused.stderr)")
        #expect(!refused.stderr.contains("0123456789abcdef0123"))
    }

    /// A run started with no options but the plan takes its model, policy, guidance and database
    /// from the project's configuration.
    @Test func aRunTakesItsSettingsFromTheProject() async throws {
        let repo = try gitRepository()
        _ = try await nightshift(["init"], cwd: repo)
        try "tasks:\n  a:\n    - tools:\n        - shell: {command: \"touch done.txt\"}\n      done: made it\n".write(
            toFile: repo + "/.nightshift/scenario.yaml", atomically: true, encoding: .utf8)
        var config = try String(contentsOfFile: repo + "/.nightshift/config.yaml", encoding: .utf8)
        config += "model: scripted:.nightshift/scenario.yaml\nsandbox: {unsandboxed: true}\n"
        try config.write(toFile: repo + "/.nightshift/config.yaml", atomically: true, encoding: .utf8)
        try await trustProject(repo)
        try "title: t\ntasks:\n  - id: a\n    description: make a file\n    checks:\n      - test -f done.txt\n"
            .write(toFile: repo + "/plan.yaml", atomically: true, encoding: .utf8)
        let sub = repo + "/sub"
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
        let run = try await nightshift(
            ["run", "--plan", "../plan.yaml", "--workspace", "..", "--id", "p", "-q"], cwd: sub)
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let store = try SQLiteEventStore(path: repo + "/.nightshift/nightshift.db")
        let events = try await store.readAll(RunID("p")).map(\.event)
        #expect(
            events.contains {
                if case let .policySet(_, source, _, _) = $0 { source.hasSuffix("policy.yaml") } else { false }
            })
        #expect(events.contains { if case .guidanceSet = $0 { true } else { false } })
        // The shell's completion asks the binary for run ids: they come from the project's database.
        let completion = try await nightshift(
            ["---completion", "status", "--", "positional@0", "2", "0", "nightshift", "status", ""], cwd: sub)
        #expect(completion.stdout.split(separator: "\n").contains("p"), "\(completion.stdout)\(completion.stderr)")
        #expect(
            events.contains { if case let .isolationSet(mode) = $0 { mode.hasPrefix("UNSANDBOXED") } else { false } })
    }

    /// Budgets in the configuration are recorded as the run starts and hold it like a person's.
    @Test func configuredBudgetsAreRecordedAndEnforced() async throws {
        let repo = try gitRepository()
        _ = try await nightshift(["init"], cwd: repo)
        try "tasks:\n  a:\n    - tools:\n        - shell: {command: \"true\"}\n    - done: ok\n".write(
            toFile: repo + "/.nightshift/scenario.yaml", atomically: true, encoding: .utf8)
        var config = try String(contentsOfFile: repo + "/.nightshift/config.yaml", encoding: .utf8)
        config +=
            "model: scripted:.nightshift/scenario.yaml\nsandbox: {unsandboxed: true}\nbudgets:\n  run: {steps: 1}\n"
        try config.write(toFile: repo + "/.nightshift/config.yaml", atomically: true, encoding: .utf8)
        try await trustProject(repo)
        try "title: t\ntasks:\n  - id: a\n    description: d\n    checks:\n      - \"true\"\n"
            .write(toFile: repo + "/plan.yaml", atomically: true, encoding: .utf8)
        let run = try await nightshift(["run", "--plan", "plan.yaml", "--id", "b", "-q", "--no-worktree"], cwd: repo)
        #expect(run.status == 3 && run.stdout.contains("budget"), "\(run.stdout)\(run.stderr)")
        let store = try SQLiteEventStore(path: repo + "/.nightshift/nightshift.db")
        let events = try await store.readAll(RunID("b")).map(\.event)
        #expect(
            events.contains {
                if case let .budgetSet(.run, budget, by) = $0 {
                    budget.steps == 1 && by.contains("config.yaml:")
                } else {
                    false
                }
            }, "\(events.map(\.kind))")
        // Without a policy they would not hold: refused before anything is made.
        config = config.replacingOccurrences(of: "policy: .nightshift/policy.yaml\n", with: "")
        try config.write(toFile: repo + "/.nightshift/config.yaml", atomically: true, encoding: .utf8)
        try await trustProject(repo)
        let refused = try await nightshift(
            ["run", "--plan", "plan.yaml", "--id", "c", "-q", "--no-worktree"], cwd: repo)
        #expect(refused.status == 1 && refused.stderr.contains("apply under a policy"), "\(refused.stderr)")
    }
}

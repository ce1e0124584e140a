import Foundation
import NightshiftCore
import Testing

@testable import NightshiftConfig

/// The configuration file, hooks and agent profiles as files: what they accept, and the one-line
/// errors with file and line for what they do not.
@Suite struct ConfigFileTests {
    func folder(_ files: [String: String]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ns-config-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (name, text) in files { try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
        return dir
    }

    @Test(arguments: [
        ("keys: {OPENAI_API_KEY: x}\n", 1),
        ("model: openai:gpt-4o\nsandbox:\n  api_key: abc\n", 3),
        ("model: openai:gpt-4o\npricing: sk-live-0123456789abcdefgh\n", 2),
        ("roles:\n  judge: ghp_0123456789abcdef0123\n", 2),
    ])
    func aSecretInAProjectFileIsRefusedWithItsLine(text: String, line: Int) throws {
        let error = #expect(throws: FileError.self) {
            try ConfigFile.parse(text, file: "p/.nightshift/config.yaml", scope: .project, base: "/p")
        }
        #expect(error?.line == line, "\(error?.description ?? "")")
        #expect(error?.description.contains("environment") == true)
        // The same in the user's own file is where keys belong (unknown keys are still refused).
        if text.hasPrefix("keys:") {
            let user = try ConfigFile.parse(text, file: "u/config.yaml", scope: .user, base: "/u")
            #expect(user.keys == ["OPENAI_API_KEY": "x"])
        }
    }

    /// The dreamer's model and the memory bank's embeddings model are settings like the others.
    /// Webhooks belong to the user's own file: a project's (which an agent could write) may name
    /// none. Each is checked with its line: a name, one secret of 16 characters or more, one of a
    /// goal or a plan.
    @Test func webhooksAreTheUsersAndCheckedWithTheirLine() throws {
        let good = """
            webhooks:
              ci: {secret: 0123456789abcdef, goal: "fix {{ref}}", agent: fixer, workspace: ~/src/app}
              nightly-ci: {secret_file: ci.secret, plan: plans/fix.yaml}
            """
        let project = #expect(throws: FileError.self) {
            try ConfigFile.parse(good, file: "p/.nightshift/config.yaml", scope: .project, base: "/p")
        }
        #expect(project?.line == 1 && project?.description.contains("never go in a project's file") == true)
        let layer = try ConfigFile.parse(good, file: "u/config.yaml", scope: .user, base: "/u")
        #expect(layer.webhooks.map(\.name) == ["ci", "nightly-ci"])
        #expect(layer.webhooks[0].goal == "fix {{ref}}" && layer.webhooks[0].agent == "fixer")
        #expect(layer.webhooks[0].workspace == NSHomeDirectory() + "/src/app")
        #expect(layer.webhooks[1].secretFile == "/u/ci.secret" && layer.webhooks[1].planFile == "/u/plans/fix.yaml")
        for (text, message) in [
            ("webhooks:\n  ci: {secret: short, goal: g}\n", "shorter than 16"),
            ("webhooks:\n  ci: {goal: g}\n", "one of secret or secret_file"),
            ("webhooks:\n  ci: {secret: 0123456789abcdef}\n", "one of goal or plan"),
            ("webhooks:\n  ci: {secret: 0123456789abcdef, goal: g, plan: p.yaml}\n", "one of goal or plan"),
            ("webhooks:\n  \"c i\": {secret: 0123456789abcdef, goal: g}\n", "must be 1–64 letters"),
            ("webhooks:\n  ci: {secret: 0123456789abcdef, goal: g, policy: p.yaml}\n", "policy"),
            ("webhooks:\n  ci: {secret: 0123456789abcdef, plan: p.yaml, review_plan: true}\n", "goes with a goal"),
            ("webhooks:\n  ci: {secret: 0123456789abcdef, goal: g, review_plan: maybe}\n", "true or false"),
        ] {
            let error = #expect(throws: FileError.self) {
                try ConfigFile.parse(text, file: "u/config.yaml", scope: .user, base: "/u")
            }
            #expect(error?.line == 2 && error?.description.contains(message) == true, "\(error?.description ?? "")")
        }
    }

    @Test func theDreamerAndTheEmbeddingsAreSettings() throws {
        let layer = try ConfigFile.parse(
            "roles:\n  dreamer: scripted:dream.yaml\nembeddings: openai-compatible:http://127.0.0.1:11434/v1#nomic\n",
            file: "p/.nightshift/config.yaml", scope: .project, base: "/p")
        #expect(layer.values[.roleDreamer] == .text("scripted:/p/dream.yaml"))
        #expect(layer.origins[.roleDreamer] == "p/.nightshift/config.yaml:2")
        #expect(layer.values[.embeddings] == .text("openai-compatible:http://127.0.0.1:11434/v1#nomic"))
        let error = #expect(throws: FileError.self) {
            try ConfigFile.parse("roles:\n  dreamr: x\n", file: "c.yaml", scope: .project, base: "/p")
        }
        #expect(error?.description.contains("dreamer") == true, "\(error?.description ?? "")")
        // The long form gives the vector hits' floor too.
        let long = try ConfigFile.parse(
            "embeddings:\n  model: openai-compatible:http://127.0.0.1:11434/v1#nomic\n  min_similarity: 0.45\n",
            file: "c.yaml", scope: .project, base: "/p")
        #expect(long.values[.embeddings] == .text("openai-compatible:http://127.0.0.1:11434/v1#nomic"))
        #expect(long.values[.embeddingsMinSimilarity] == .share(0.45))
        #expect(long.origins[.embeddingsMinSimilarity] == "c.yaml:3")
        for (text, says, line) in [
            ("embeddings: {model: openai:x, min_similarity: 1.5}\n", "between 0 and 0.99", 1),
            ("embeddings:\n  min_similarity: 0.5\n", "needs a model", 2),
            ("embeddings: {model: openai:x, floor: 0.5}\n", "floor", 1),
        ] {
            let bad = #expect(throws: FileError.self) {
                try ConfigFile.parse(text, file: "c.yaml", scope: .project, base: "/p")
            }
            #expect(bad?.description.contains(says) == true && bad?.line == line, "\(bad?.description ?? "")")
        }
    }

    @Test func badValuesAreOneLineWithFileAndLine() throws {
        for (text, line) in [
            ("limits:\n  max_attempts: 0\n", 2), ("context: {compact_at: 2}\n", 1), ("worktree: maybe\n", 1),
            ("modle: openai:x\n", 1), ("sandbox:\n  read_only: /opt\n", 2),
        ] {
            let error = #expect(throws: FileError.self) {
                try ConfigFile.parse(text, file: "c.yaml", scope: .project, base: "/p")
            }
            #expect(error?.line == line, "\(text): \(error?.description ?? "")")
            #expect(error?.description.contains("\n") == false)
        }
    }

    @Test func hooksInTheConfigurationAreCheckedWithTheirLine() throws {
        let good = try ConfigFile.parse(
            "hooks:\n  - {on: after_edit, command: 'ruff check \"$@\"', blocking: true}\n  - {on: shift_start, command: make lint}\n",
            file: "c.yaml", scope: .project, base: "/p")
        #expect(
            good.values[.hooks]
                == .hooks([
                    Hook(on: .afterEdit, command: "ruff check \"$@\"", blocking: true),
                    Hook(on: .shiftStart, command: "make lint"),
                ]))
        for (text, line) in [
            ("hooks:\n  - {on: before_check, command: x, blocking: true}\n", 2),
            ("hooks:\n  - {on: later, command: x}\n", 2),
            ("hooks:\n  - {on: after_edit}\n", 2),
            ("hooks:\n  - {on: after_edit, command: x, timeout_seconds: 0}\n", 2),
        ] {
            let error = #expect(throws: FileError.self) {
                try ConfigFile.parse(text, file: "c.yaml", scope: .project, base: "/p")
            }
            #expect(error?.line == line, "\(text): \(error?.description ?? "")")
        }
    }

    @Test func aProfileIsReadWithItsVersion() throws {
        let dir = try folder([
            "reviewer.yaml": """
            description: Reviews a diff for security problems
            model: scripted:s.yaml
            guidance: reviewer.md
            tools: [read_file, grep, "mcp__github__*"]
            budget: {cost_usd: 2.00, steps: 100}
            max_concurrent: 4
            """,
            "reviewer.md": "Look for injections.\n",
        ])
        let p = try #require(try AgentProfileFile.registry(dir).first)
        #expect(p.name == "reviewer" && p.guidance == dir + "/reviewer.md" && p.maxConcurrent == 4)
        #expect(p.budget?.steps == 100 && p.budget?.costPicoUSD == 2 * Money.picoPerDollar)
        #expect(AgentProfile.allows(p.tools, "mcp__github__create_issue") && !AgentProfile.allows(p.tools, "shell"))
        // The guidance is part of the version: an edit to it is a new version.
        try "Look for injections and leaks.\n".write(toFile: dir + "/reviewer.md", atomically: true, encoding: .utf8)
        #expect(try AgentProfileFile.load(path: dir + "/reviewer.yaml").version != p.version)
    }

    @Test(arguments: [
        ("model: x\n", 1, "needs a description"),
        ("description: d\nmodle: x\n", 2, "unknown key 'modle'"),
        ("description: d\nguidance: missing.md\n", 2, "cannot read the guidance file"),
        ("description: d\nbudget: {cost_usd: lots}\n", 2, "cost_usd"),
        ("description: d\nmax_concurrent: 0\n", 2, "at least 1"),
        ("description: d\ntools: read_file\n", 2, "must be a list"),
    ])
    func aBadProfileIsOneLineWithItsLine(text: String, line: Int, says: String) throws {
        let dir = try folder(["p.yaml": text])
        let error = #expect(throws: FileError.self) { try AgentProfileFile.registry(dir) }
        #expect(error?.line == line && error?.description.contains(says) == true, "\(error?.description ?? "")")
    }

    @Test func twoFilesOfOneNameAreRefused() throws {
        let dir = try folder(["a.yaml": "description: one\n", "a.yml": "description: two\n"])
        let error = #expect(throws: FileError.self) { try AgentProfileFile.registry(dir) }
        #expect(error?.description.contains("also defined") == true)
    }
}

/// Files read the same whatever their line ends, and the numbers and names that enter through
/// them are checked where they are written.
@Suite struct ConfigLineEndAndRangeTests {
    /// A CRLF (or lone CR) configuration whose first line is a comment was read as one long
    /// comment: its policy, budgets, hooks and sandbox settings silently dropped.
    @Test(arguments: ["\r\n", "\r"])
    func aConfigurationReadsTheSameWhateverItsLineEnds(lineEnd: String) throws {
        let text = ["# the project's settings", "policy: deny-all.yaml", "budgets:", "  run: {tokens: 5000}", ""]
            .joined(separator: lineEnd)
        let layer = try ConfigFile.parse(text, file: "c.yaml", scope: .project, base: "/p")
        #expect(layer.values[.policy] == .text("/p/deny-all.yaml"))
        #expect(layer.values[.runBudget] == .budget(Budget(tokens: 5000)), "a budget's tokens is not a secret")
        #expect(layer.origins[.policy] == "c.yaml:2")
        let policy = try PolicyFile.parse(
            ["# deny all", "default: deny", ""].joined(separator: lineEnd), file: "deny-all.yaml")
        #expect(policy.defaultEffect == .deny)
    }

    @Test func aSecretIsStillASecretWhateverItsSpelling() {
        for name in ["github_token", "apiToken", "API_KEY", "client-secret", "db_password", "token"] {
            #expect(ConfigFile.holdsSecret(name), "\(name)")
        }
        for name in ["tokens", "max_tokens", "tokenizer", "key_file", "secretary_notes_count"] {
            #expect(!ConfigFile.holdsSecret(name), "\(name)")
        }
    }

    @Test(arguments: [
        ("model: gpt-4o\n", 1, "model: unknown model"),
        ("roles:\n  judge: openai-compatible:localhost/v1#m\n", 2, "must start with http"),
        ("budgets:\n  run: {steps: 9223372036854775807}\n", 2, "at most 1000000000000"),
        ("budgets:\n  run: {cost_usd: 5000000.00}\n", 2, "at most 1000000.00 dollars"),
    ])
    func aBadModelOrBudgetNamesItsLine(text: String, line: Int, message: String) {
        let error = #expect(throws: FileError.self) {
            try ConfigFile.parse(text, file: "c.yaml", scope: .project, base: "/p")
        }
        #expect(error?.line == line && error?.message.contains(message) == true, "\(error?.description ?? "")")
    }

    @Test func aProfilesHugeBudgetOrUnknownModelNamesItsLine() {
        for (text, message) in [
            ("description: d\nbudget: {steps: 9223372036854775807}\n", "at most"),
            ("description: d\nmodel: \(String(repeating: "x", count: 100_000))\n", "a model spec is at most"),
        ] {
            let error = #expect(throws: FileError.self) { try AgentProfileFile.parse(text, path: "/a/w.yaml") }
            #expect(error?.line == 2 && error?.message.contains(message) == true, "\(error?.description ?? "")")
            #expect((error?.description.count ?? 0) < 700, "never the whole name")
        }
    }

    @Test func aPriceLargeEnoughToOverflowIsRefusedWithItsLine() {
        let error = #expect(throws: FileError.self) {
            try PricingFile.parse("m: {input: 1, output: 9223372036855}\n", file: "p.yaml")
        }
        #expect(error?.line == 1 && error?.message.contains("from 0 to 1000000") == true, "\(error?.description ?? "")")
    }

    /// The file's own name is escaped like its message: a file name cannot break the line.
    @Test func aFileNameWithControlCharactersStaysOneLine() {
        let e = FileError(file: "a\nb\u{1b}[31m.yaml", line: 3, message: "bad")
        #expect(!e.description.contains("\n") && !e.description.contains("\u{1b}"), "\(e.description)")
    }
}

/// An MCP server's start window: set per server, bounded, and absent unless set.
@Suite struct MCPStartupWindowTests {
    @Test func theStartWindowIsReadAndBounded() throws {
        let servers = try MCPConfigFile.parse(
            "servers:\n  - name: a\n    command: /bin/true\n    startup_seconds: 180\n  - name: b\n    command: /bin/true\n",
            file: "m.yaml", searchPath: "/usr/bin:/bin")
        #expect(servers.map(\.startupSeconds) == [180, nil])
        for bad in ["0", "3601", "soon"] {
            #expect {
                _ = try MCPConfigFile.parse(
                    "servers:\n  - name: a\n    command: /bin/true\n    startup_seconds: \(bad)\n", file: "m.yaml",
                    searchPath: "/usr/bin:/bin")
            } throws: { error in
                "\(error)".contains("m.yaml:4:") && "\(error)".contains("startup_seconds")
            }
        }
    }
}

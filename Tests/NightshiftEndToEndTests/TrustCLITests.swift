import Foundation
import NightshiftCore
import NightshiftRuntime
import NightshiftSQLite
import NightshiftTesting
import Testing

/// `nightshift trust` and what it guards, through the executable: `init` trusts what it writes;
/// an edited file is refused by every command until a person reviews it; the review shows what
/// changed; a run records where each setting came from; a changed policy applies only once
/// trusted. And the low findings of the same review: a hook's path argument, memory import.
@Suite struct TrustCLITests {
    func repository() throws -> String {
        let repo = tempDir("ns-trust")
        for args in [
            ["init", "-q"],
            ["-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "init"],
        ] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/git")
            p.arguments = ["-C", repo] + args
            try p.run()
            p.waitUntilExit()
        }
        return repo
    }

    @Test func anEditedFileIsRefusedUntilAPersonReviewsIt() async throws {
        let repo = try repository()
        let xdg = tempDir("ns-trust-home")
        let env = ["XDG_CONFIG_HOME": xdg]
        let first = try await nightshift(["init"], env: env, cwd: repo)
        #expect(
            first.status == 0 && first.stdout.contains("wrote    .nightshift/config.yaml (trusted)"), "\(first.stdout)")
        let config = repo + "/.nightshift/config.yaml"
        #expect(try await nightshift(["config"], env: env, cwd: repo).stdout.contains("\(config) (sha256 "))
        #expect(try await nightshift(["trust", "--check"], env: env, cwd: repo).status == 0)
        // An edit (by anyone) makes it untrusted: every command refuses, in one line.
        var text = try String(contentsOfFile: config, encoding: .utf8)
        text += "limits: {max_attempts: 2}\n"
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let refused = try await nightshift(["status"], env: env, cwd: repo)
        #expect(refused.status == 1 && refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
        #expect(
            refused.stderr.contains("\(config) is not trusted: it changed since")
                && refused.stderr.contains("nightshift trust \(config)"), "\(refused.stderr)")
        let shown = try await nightshift(["config"], env: env, cwd: repo)
        #expect(shown.status == 0 && shown.stdout.contains("project file: NOT IN FORCE"), "\(shown.stdout)")
        #expect(shown.stdout.contains("limits.max_attempts = 3    # default"), "set aside: \(shown.stdout)")
        // The review shows the changed line, records nothing with --check, and trusts without it.
        let check = try await nightshift(["trust", "--check"], env: env, cwd: repo)
        #expect(check.status == 1 && check.stdout.contains("CHANGED   \(config)"), "\(check.stdout)")
        #expect(check.stdout.contains("+ limits: {max_attempts: 2}"), "\(check.stdout)")
        #expect(try await nightshift(["trust", "--check"], env: env, cwd: repo).status == 1)
        let trusted = try await nightshift(["trust", "--yes"], env: env, cwd: repo)
        #expect(trusted.status == 0 && trusted.stdout.contains("trusted 1 file as shown"), "\(trusted.stdout)")
        let now = try await nightshift(["config"], env: env, cwd: repo)
        #expect(now.stdout.contains("limits.max_attempts = 2    # \(config):"), "\(now.stdout)")
        #expect(now.stdout.contains("trusted by "), "\(now.stdout)")
        // A new file the configuration names is shown whole and must be trusted too.
        text = text.replacingOccurrences(
            of: "guidance: .nightshift/guidance.md", with: "guidance: .nightshift/extra.md")
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        try "Never push.\n".write(toFile: repo + "/.nightshift/extra.md", atomically: true, encoding: .utf8)
        let newFile = try await nightshift(["trust", "--check"], env: env, cwd: repo)
        #expect(newFile.stdout.contains("NEW       \(repo)/.nightshift/extra.md"), "\(newFile.stdout)")
        #expect(newFile.stdout.contains("   1 | Never push."), "\(newFile.stdout)")
        // --trust-project uses the files as they are, once, without recording trust.
        #expect(try await nightshift(["config", "--trust-project"], env: env, cwd: repo).status == 0)
        #expect(try await nightshift(["trust", "--check"], env: env, cwd: repo).status == 1)
        // The list, and a revoked trust.
        _ = try await nightshift(["trust", "--yes"], env: env, cwd: repo)
        let list = try await nightshift(["trust", "--list"], env: env, cwd: repo)
        #expect(list.stdout.split(separator: "\n").count == 4, "config, policy, guidance, extra: \(list.stdout)")
        #expect(list.stdout.contains("\(repo)/.nightshift/extra.md  sha256 "), "\(list.stdout)")
        #expect(try await nightshift(["trust", "--revoke", config], env: env, cwd: repo).status == 0)
        #expect(try await nightshift(["status"], env: env, cwd: repo).status == 1)
    }

    /// A run records every setting with its source, the configuration file's hash and who trusted
    /// it; `isolation_set` and `status` say who chose `unsandboxed`; `--trust-project` is recorded.
    @Test func aRunRecordsWhereEverySettingCameFrom() async throws {
        let repo = try repository()
        _ = try await nightshift(["init"], cwd: repo)
        let config = repo + "/.nightshift/config.yaml"
        try "tasks:\n  a:\n    - done: nothing to do\n".write(
            toFile: repo + "/scenario.yaml", atomically: true, encoding: .utf8)
        var text = try String(contentsOfFile: config, encoding: .utf8)
        text += "model: scripted:scenario.yaml\nsandbox: {unsandboxed: true}\n"
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        try await trustProject(repo)
        try "title: t\ntasks:\n  - id: a\n    description: d\n    checks: ['true']\n".write(
            toFile: repo + "/plan.yaml", atomically: true, encoding: .utf8)
        let run = try await nightshift(
            ["run", "--plan", "plan.yaml", "--id", "s", "-q", "--no-baseline", "--no-worktree"], cwd: repo)
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix("sandbox:") }
            .map { $0 + 1 }
        let events = try await SQLiteEventStore(path: repo + "/.nightshift/nightshift.db").readAll(RunID("s"))
            .map(\.event)
        let mode = try #require(events.compactMap { if case let .isolationSet(m) = $0 { m } else { nil } }.first)
        #expect(mode.hasPrefix("UNSANDBOXED: unsandboxed by \(config):\(line ?? 0) (sha256 "), "\(mode)")
        #expect(mode.contains("trusted by "), "\(mode)")
        let status = try await nightshift(["status", "s"], cwd: repo)
        #expect(status.stdout.contains("sandbox   UNSANDBOXED (by \(config):"), "\(status.stdout)")
        #expect(status.stdout.contains("model = scripted:\(repo)/scenario.yaml    # \(config):"), "\(status.stdout)")
        // Used untrusted with --trust-project: the run says so.
        try (text + "limits: {max_turns: 50}\n").write(toFile: config, atomically: true, encoding: .utf8)
        let forced = try await nightshift(
            ["run", "--plan", "plan.yaml", "--id", "t", "-q", "--no-baseline", "--no-worktree", "--trust-project"],
            cwd: repo)
        #expect(forced.status == 0, "\(forced.stdout)\(forced.stderr)")
        let state = try await SQLiteEventStore(path: repo + "/.nightshift/nightshift.db").state(of: RunID("t"))
        #expect(state.settings.sources?.contains { $0.key == "trust" && $0.value == "--trust-project" } == true)
        #expect(state.settings.sources?.contains { $0.source.contains("used with --trust-project") } == true)
    }

    /// A policy file outside the workspace that changes while a run waits is not applied on
    /// resume until a person trusts the new version; then it is, and recorded.
    @Test func aChangedPolicyAppliesOnlyOnceAPersonTrustsIt() async throws {
        let root = tempDir("ns-reload")
        let ws = root + "/ws"
        try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
        let policy = root + "/policy.yaml"
        try "default: allow\n".write(toFile: policy, atomically: true, encoding: .utf8)
        try "title: t\ntasks:\n  - id: t\n    description: d\n    checks: ['true']\n".write(
            toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        try """
        tasks:
          t:
            - tools:
                - escalate: {reason: first look}
            - tools:
                - shell: {command: "touch a.txt"}
                - escalate: {reason: second look}
            - tools:
                - shell: {command: "touch b.txt"}
              done: both tried
        """.write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
        let db = ["--db", root + "/ns.db"]
        let run = try await nightshift(
            [
                "run", "--plan", root + "/plan.yaml", "--workspace", ws, "--model", "scripted:\(root)/scenario.yaml",
                "--policy", policy, "--id", "h", "-q", "--no-baseline", "--unsandboxed",
            ] + db, cwd: root)
        #expect(run.status == 3, "\(run.stdout)\(run.stderr)")
        let strict = "default: allow\nrules:\n  - deny: shell\n    command: \"touch*\"\n    reason: no touching\n"
        try strict.write(toFile: policy, atomically: true, encoding: .utf8)
        _ = try await nightshift(["answer", "h", "go on"] + db, cwd: root)
        let untrusted = try await nightshift(["resume", "h", "-q"] + db, cwd: root)
        #expect(untrusted.status == 3, "\(untrusted.stdout)\(untrusted.stderr)")
        #expect(
            untrusted.stderr.contains("the policy in force stays until a person trusts the new version")
                && untrusted.stderr.contains("nightshift trust \(policy)"), "\(untrusted.stderr)")
        #expect(FileManager.default.fileExists(atPath: ws + "/a.txt"), "the policy in force allowed it")
        let review = try await nightshift(["trust", "--yes", policy], cwd: root)
        #expect(review.status == 0 && review.stdout.contains("NEW       \(policy)"), "\(review.stdout)")
        _ = try await nightshift(["answer", "h", "go on"] + db, cwd: root)
        let trusted = try await nightshift(["resume", "h", "-q"] + db, cwd: root)
        #expect(trusted.status == 0, "\(trusted.stdout)\(trusted.stderr)")
        #expect(!FileManager.default.fileExists(atPath: ws + "/b.txt"), "the trusted policy denied it")
        let events = try await SQLiteEventStore(path: root + "/ns.db").readAll(RunID("h")).map(\.event)
        let policies = events.compactMap { if case let .policySet(_, _, _, text) = $0 { text.text } else { nil } }
        #expect(policies == ["default: allow\n", strict], "\(policies)")
    }

    /// A hook is handed the path the agent wrote as a path, normalised and never as an option:
    /// a file named `--version` reaches the hook as `./--version`.
    @Test func aHookGetsAPathThatCannotBeAnOption() async throws {
        let root = tempDir("ns-hookpath")
        let ws = root + "/ws"
        try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
        try """
        hooks:
          - {on: after_edit, command: 'printf "%s\\n" "$@" >> hook-args.txt'}
        """.write(toFile: root + "/config.yaml", atomically: true, encoding: .utf8)
        try "title: t\ntasks:\n  - id: t\n    description: d\n    checks: ['true']\n".write(
            toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        try """
        tasks:
          t:
            - tools:
                - write_file: {path: "--version", content: x}
                - write_file: {path: "sub/../b.txt", content: y}
              done: wrote
        """.write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
        let run = try await nightshift(
            [
                "run", "--config", root + "/config.yaml", "--plan", root + "/plan.yaml", "--workspace", ws, "--model",
                "scripted:\(root)/scenario.yaml", "--db", root + "/ns.db", "--id", "k", "-q", "--no-baseline",
                "--unsandboxed",
            ], cwd: root)
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(try String(contentsOfFile: ws + "/hook-args.txt", encoding: .utf8) == "./--version\nb.txt\n")
    }

    /// `memory import` records who imported a memory and keeps what the file claims only as its
    /// claim; it never decides a proposal (an import of a pending proposal's id is refused) and
    /// refuses an id that is not one line of plain characters.
    @Test func memoryImportRecordsTheImporterAndNeverDecidesAProposal() async throws {
        let root = tempDir("ns-memimport")
        let ws = root + "/ws"
        try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
        let db = root + "/ns.db"
        try "title: t\ntasks:\n  - id: t\n    description: d\n    checks: ['true']\n".write(
            toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        try """
        tasks:
          t:
            - tools:
                - remember: {text: "run make check, not make test", kind: lesson}
              done: remembered
        """.write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
        let run = try await nightshift([
            "run", "--plan", root + "/plan.yaml", "--workspace", ws, "--model", "scripted:\(root)/scenario.yaml",
            "--db", db, "--id", "m", "-q", "--no-baseline", "--unsandboxed",
        ])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let listed = try await nightshift(["memory", "proposals", "--db", db, "--json"])
        let proposal = try #require(
            try listed.stdout.split(separator: "\n").map {
                try JSONDecoder().decode(MemoryBank.Proposal.self, from: Data($0.utf8))
            }.first)
        let file = root + "/import.jsonl"
        func line(_ id: String) -> String {
            "{\"id\": \"\(id)\", \"kind\": \"lesson\", \"scope\": \"user:alice\", \"text\": \"imported\", "
                + "\"source\": {\"human\": \"alice\", \"dream\": \"dream-000000000001\"}}\n"
        }
        try line(proposal.id.rawValue).write(toFile: file, atomically: true, encoding: .utf8)
        let stolen = try await nightshift(["memory", "import", file, "--db", db])
        #expect(stolen.status == 1 && stolen.stderr.contains("is the id of a proposal"), "\(stolen.stderr)")
        let accepted = try await nightshift(["approve", proposal.id.rawValue, "--db", db])
        #expect(accepted.status == 0 && !accepted.stderr.contains("already"), "\(accepted.stdout)\(accepted.stderr)")
        try line("mem-a\\nmem-forged").write(toFile: file, atomically: true, encoding: .utf8)
        let forged = try await nightshift(["memory", "import", file, "--db", db])
        #expect(forged.status == 1 && forged.stderr.contains("the id must be mem- and letters"), "\(forged.stderr)")
        try line("mem-imported1").write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try await nightshift(["memory", "import", file, "--db", db]).status == 0)
        let shown = try await nightshift(["memory", "show", "mem-imported1", "--db", db])
        #expect(
            shown.stdout.contains("imported from \(file) by ")
                && shown.stdout.contains("the file claims: proposed by dream-000000000001, accepted by alice"),
            "\(shown.stdout)")
    }
}

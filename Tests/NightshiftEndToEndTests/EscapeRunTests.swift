import Foundation
import NightshiftCore
import NightshiftSQLite
import NightshiftTesting
import Testing

/// Whole runs through the `nightshift` binary whose scripted worker plays a hostile agent. Each
/// test states the line the agent must not cross; the escape used to work on the main branch
/// before these defences (issue 11), and the test checks it no longer does.
@Suite(.enabled(if: SandboxAvailable.yes || ProcessInfo.processInfo.environment["CI"] != nil))
struct EscapeRunTests {
    struct Run {
        let root: String, ws: String, db: String
        var args: [String]
    }

    func setup(
        _ name: String, plan: String = "title: t\ntasks:\n  - id: t\n    description: d\n    checks: ['true']\n",
        scenario: String, repository: Bool = false
    ) throws -> Run {
        let root = tempDir("ns-esc-\(name)")
        let ws = root + "/ws"
        try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
        if repository { try makeRepository(ws) }
        try plan.write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        try scenario.write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
        return Run(
            root: root, ws: ws, db: root + "/db/ns.db",
            args: [
                "run", "--plan", root + "/plan.yaml", "--workspace", ws, "--model", "scripted:\(root)/scenario.yaml",
                "--db", root + "/db/ns.db", "--id", name, "-q",
            ])
    }

    func results(_ db: String, _ run: String) async throws -> [ToolResult] {
        try await SQLiteEventStore(path: db).readAll(RunID(run)).compactMap {
            if case let .toolFinished(_, r) = $0.event { r } else { nil }
        }
    }

    /// Git configuration the agent writes where `HOME` pointed (its workspace) and attributes naming
    /// a filter: the harness's task commit and a human's `inbox` run nothing of it on the host.
    @Test func plantedGitConfigurationRunsNothingOnTheHost() async throws {
        var r = try setup("gitcfg", scenario: "tasks: {}\n", repository: true)
        let fired = r.root + "/fired"
        let plant = """
            printf '[core]\\n\\tfsmonitor = "env > \(fired)-fsmonitor"\\n\\tpager = "env > \(fired)-pager"\\n[diff]\\n\\texternal = "env > \(fired)-external"\\n[filter "x"]\\n\\tclean = "env > \(fired)-clean"\\n' > "$HOME/.gitconfig"
            mkdir -p "$HOME/.config/git" && cp "$HOME/.gitconfig" "$HOME/.config/git/config"
            echo '* filter=x' > .gitattributes && echo change >> README.md
            """
        try """
        tasks:
          t:
            - tools:
                - shell: {command: \(jsonQuoted(plant))}
                - git: {command: status}
                - git: {command: diff}
              done: planted
        """.write(toFile: r.root + "/scenario.yaml", atomically: true, encoding: .utf8)
        r.args += ["--no-baseline"]
        let run = try await nightshift(r.args, env: ["NIGHTSHIFT_CANARY": "canary-gitcfg"], timeout: .seconds(120))
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let inbox = try await nightshift(["inbox", "gitcfg", "--db", r.db])
        #expect(inbox.status == 0, "\(inbox.stderr)")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: r.root).filter { $0.hasPrefix("fired") }
        #expect(leftovers.isEmpty, "git ran the agent's commands on the host: \(leftovers)")
        // The work was still committed to the run's branch.
        #expect(try git(["rev-list", "--count", "HEAD..nightshift/gitcfg"], in: r.ws) == "1\n")
    }

    /// The database in the workspace's `.nightshift` folder (the default when the workspace is the
    /// current folder): commands see an empty read-only folder, file tools refuse it. A database
    /// directly in the workspace is refused before anything is made. A named pipe never blocks a
    /// file tool, and a `.git` the agent makes is never used by Nightshift's git.
    @Test func theDatabaseIsOutOfReachAndPipesDoNotBlock() async throws {
        var r = try setup("dbws", scenario: "tasks: {}\n")
        let fired = r.root + "/fired"
        try """
        tasks:
          t:
            - tools:
                - shell: {command: "echo entries: $(ls -A .nightshift | wc -l); head -c 15 .nightshift/ns.db; echo x > .nightshift/planted || echo REFUSED"}
                - read_file: {path: .nightshift/ns.db}
                - list_files: {}
                - shell: {command: "mkfifo pipe && echo made"}
                - read_file: {path: pipe}
                - grep: {pattern: x, path: pipe}
                - shell: {command: "git init -q . && git config core.fsmonitor 'touch \(fired)' && git config core.hooksPath .git/hooks"}
              done: tried
        """.write(toFile: r.root + "/scenario.yaml", atomically: true, encoding: .utf8)
        r.args = r.args.map { $0 == r.db ? r.ws + "/.nightshift/ns.db" : $0 } + ["--no-baseline"]
        let start = ContinuousClock.now
        let run = try await nightshift(r.args, timeout: .seconds(120))
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(ContinuousClock.now - start < .seconds(100))
        let out = try await results(r.ws + "/.nightshift/ns.db", "dbws")
        try #require(out.count == 7, "\(out)")
        #expect(
            out[0].output.text.contains("entries: 0") && !out[0].output.text.contains("SQLite format"),
            "\(out[0].output.text)")
        #expect(out[0].output.text.contains("REFUSED"), "\(out[0].output.text)")
        #expect(!out[1].ok && out[1].output.text.contains("Nightshift's own"), "\(out[1].output.text)")
        #expect(!out[2].output.text.contains(".nightshift"), "\(out[2].output.text)")
        #expect(!out[4].ok && out[4].output.text.contains("named pipe"), "\(out[4].output.text)")
        #expect(!out[5].ok && out[5].output.text.contains("named pipe"), "\(out[5].output.text)")
        #expect(!FileManager.default.fileExists(atPath: r.ws + "/.nightshift/planted"))
        #expect(!FileManager.default.fileExists(atPath: fired), "the harness's git obeyed the agent's .git/config")
        let verify = try await nightshift(["audit", "verify", "dbws", "--db", r.ws + "/.nightshift/ns.db"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        // Directly in the workspace: refused in one line, and no database is made.
        let direct = try await nightshift([
            "run", "--plan", r.root + "/plan.yaml", "--workspace", r.ws, "--model", "scripted:\(r.root)/scenario.yaml",
            "--db", r.ws + "/direct.db", "--no-worktree",
        ])
        #expect(direct.status == 1)
        #expect(direct.stderr.contains("lies directly in the workspace"), "\(direct.stderr)")
        #expect(direct.stderr.split(separator: "\n").count == 1, "\(direct.stderr)")
        #expect(!FileManager.default.fileExists(atPath: r.ws + "/direct.db"))
    }

    /// The policy file in the workspace: the agent moves its folder away (taking the read-only bind
    /// with it) and writes a permissive policy at the old path. The policy in force does not change,
    /// during the run or on resume.
    @Test func aPolicyInTheWorkspaceCannotBeReplacedByTheAgent() async throws {
        var r = try setup(
            "sealed", plan: "title: t\ntasks:\n  - id: t\n    description: d\n    checks: ['test -f done.txt']\n",
            scenario: "tasks: {}\n")
        try FileManager.default.createDirectory(atPath: r.ws + "/conf", withIntermediateDirectories: true)
        try "default: allow\nrules:\n  - deny: shell\n    command: \"*forbidden*\"\n    reason: not allowed\n"
            .write(toFile: r.ws + "/conf/policy.yaml", atomically: true, encoding: .utf8)
        try """
        tasks:
          t:
            - tools:
                - shell: {command: "d=con; mv ${d}f old && mkdir ${d}f && cd ${d}f && printf 'default: allow\\\\n' > policy.yaml && echo REPLACED"}
            - tools:
                - shell: {command: "echo forbidden > forbidden.txt"}
            - tools:
                - write_file: {path: done.txt, content: ok}
              done: tried
        """.write(toFile: r.root + "/scenario.yaml", atomically: true, encoding: .utf8)
        r.args += ["--policy", r.ws + "/conf/policy.yaml", "--no-baseline"]
        let run = try await nightshift(r.args, timeout: .seconds(120))
        // The done claim is not accepted (the ratchet sees the policy file moved); the scenario then ends: paused.
        #expect(run.status == 3, "\(run.stdout)\(run.stderr)")
        #expect(run.stderr.contains("lies in the workspace"), "\(run.stderr)")
        let out = try await results(r.db, "sealed")
        try #require(out.count == 3, "\(out)")
        #expect(out[0].output.text.contains("REPLACED"), "the attack itself did not work: \(out[0].output.text)")
        #expect(
            out[1].output.text.contains("refused by policy"), "the agent's policy took effect: \(out[1].output.text)")
        #expect(!FileManager.default.fileExists(atPath: r.ws + "/forbidden.txt"))
        // Nor on resume, which reads a policy file outside the workspace again but not this one.
        let resumed = try await nightshift(["resume", "sealed", "--db", r.db, "-q"], timeout: .seconds(60))
        #expect(resumed.stderr.contains("lies in the workspace"), "\(resumed.stderr)")
        let policies = try await SQLiteEventStore(path: r.db).readAll(RunID("sealed")).filter {
            $0.event.kind == "policy_set"
        }
        #expect(policies.count == 1)
        let verified = try await SQLiteEventStore(path: r.db).readAll(RunID("sealed"))
            .compactMap { if case let .protectedVerified(_, _, changed) = $0.event { changed } else { nil } }
        #expect(verified.first?.contains("conf/policy.yaml") == true, "\(verified)")
    }

    /// Model text and tool output with terminal escapes (window title, clipboard, clear screen) reach
    /// the operator's terminal escaped, in the live timeline and in `log`; `--json` stays lossless.
    @Test func terminalEscapesNeverReachTheTerminal() async throws {
        var r = try setup(
            "esc",
            scenario: """
                tasks:
                  t:
                    - say: "\\e]0;pwned\\a\\e[2J\\u009b31m hello"
                      tools:
                        - shell: {command: "printf '\\\\033]52;c;cHduZWQ=\\\\007 out'"}
                      done: "\\e[31mred"
                """)
        r.args.removeAll { $0 == "-q" }
        r.args += ["--no-baseline"]
        let run = try await nightshift(r.args, timeout: .seconds(120))
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let log = try await nightshift(["log", "esc", "--db", r.db])
        let json = try await nightshift(["log", "esc", "--db", r.db, "--json"])
        for (name, text) in [("run", run.stdout), ("log", log.stdout), ("json", json.stdout)] {
            let bad = text.unicodeScalars.filter {
                ($0.value < 0x20 && $0 != "\n" && $0 != "\t") || (0x7F...0x9F).contains($0.value)
            }
            #expect(bad.isEmpty, "\(name) printed control characters: \(bad.map { String($0.value, radix: 16) })")
        }
        #expect(log.stdout.contains("\\u001b]0;pwned"), "\(log.stdout)")
        // JSON lines still parse, and carry the escapes as the characters they are.
        var sawTitle = false
        for line in json.stdout.split(separator: "\n") {
            _ = try JSONSerialization.jsonObject(with: Data(line.utf8))
            if line.lowercased().contains("\\u001b]0;pwned") { sawTitle = true }
        }
        #expect(sawTitle, "\(json.stdout)")
    }

    /// A denial needs a reason that says something; usage errors are one line.
    @Test func aDenialWithoutAReasonIsRefusedInOneLine() async throws {
        let r = try setup("deny", scenario: "tasks: {}\n")
        for args in [
            ["deny", "deny", "m1.1", "--db", r.db], ["deny", "deny", "m1.1", "--db", r.db, "--reason", "  \n\t "],
        ] {
            let result = try await nightshift(args)
            #expect(result.status == 64, "\(args): \(result.status) \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
            #expect(result.stderr.contains("--reason"), "\(result.stderr)")
            #expect(result.stderr.contains("nightshift deny --help"), "\(result.stderr)")
        }
    }
}

/// The same attacks on the sandbox, with Nightshift run as an unprivileged user (as on a laptop):
/// bubblewrap then runs without root, and must hold the same lines.
@Suite(.enabled(if: (SandboxAvailable.yes || ProcessInfo.processInfo.environment["CI"] != nil) && getuid() == 0))
struct SandboxUnprivilegedTests {
    @Test func anUnprivilegedNightshiftHoldsTheSameLines() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "setpriv (util-linux) is needed")
        let root = tempDir("ns-unpriv")
        let ws = root + "/ws"
        try FileManager.default.createDirectory(atPath: ws + "/.nightshift", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/outside", withIntermediateDirectories: true)
        try "secret".write(toFile: root + "/outside/secret.txt", atomically: true, encoding: .utf8)
        try "title: t\ntasks:\n  - id: t\n    description: d\n    checks: ['true']\n".write(
            toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        let attack = """
            id -u; grep -E '^(CapEff|CapPrm|Seccomp):' /proc/self/status
            unshare -r true 2>/dev/null && echo UNSHARED
            mount -o remount,rw / 2>/dev/null && echo REMOUNTED
            mount -o remount,bind,rw /usr 2>/dev/null && echo REMOUNTED-USR
            echo x > /usr/planted 2>/dev/null && echo WROTE-USR
            echo x > \(root)/outside/planted 2>/dev/null && echo WROTE-OUTSIDE
            ls -A .nightshift
            cat \(root)/outside/secret.txt 2>/dev/null && echo READ-SECRET
            true
            """
        try """
        tasks:
          t:
            - tools:
                - shell: {command: \(jsonQuoted(attack))}
              done: tried
        """.write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
        // Everything the unprivileged user needs to write is theirs.
        for path in [root, ws, ws + "/.nightshift"] { chown(path, 65534, 65534) }
        let run = try await nightshift(
            [
                "run", "--plan", root + "/plan.yaml", "--workspace", ws, "--model", "scripted:\(root)/scenario.yaml",
                "--db", ws + "/.nightshift/ns.db", "--id", "u", "-q", "--no-baseline",
            ],
            env: ["HOME": root, "XDG_CONFIG_HOME": root + "/.config"], asUser: 65534, timeout: .seconds(120))
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let events = try await SQLiteEventStore(path: ws + "/.nightshift/ns.db").readAll(RunID("u")).map(\.event)
        let output = try #require(
            events.compactMap { if case let .toolFinished(_, r) = $0 { r.output.text } else { nil } }.first)
        let lines = output.split(separator: "\n").map(String.init)
        #expect(lines.contains("1000"), "\(output)")
        #expect(lines.contains { $0.hasPrefix("CapEff:") && $0.hasSuffix("0000000000000000") }, "\(output)")
        #expect(lines.contains { $0.hasPrefix("Seccomp:") && $0.hasSuffix("2") }, "\(output)")
        for marker in ["UNSHARED", "REMOUNTED", "REMOUNTED-USR", "WROTE-USR", "WROTE-OUTSIDE", "READ-SECRET", "ns.db"] {
            #expect(!lines.contains { $0.contains(marker) }, "\(marker): \(output)")
        }
        #expect(!FileManager.default.fileExists(atPath: root + "/outside/planted"))
        #expect(events.contains { if case .runFinished = $0 { true } else { false } })
    }
}

/// A string as a JSON (and so YAML flow) scalar, quoted and escaped.
func jsonQuoted(_ text: String) -> String {
    String(
        decoding: try! JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes]), as: UTF8.self
    )
    .dropFirst().dropLast().description
}

import Foundation
import NightshiftConfig
import NightshiftCore
import Testing

/// Hostile or broken input files: each gets one line that names the file, the line and what is
/// wrong, quickly, and never a trap, a hang or gigabytes of memory.
@Suite struct FileInputTests {
    /// Parses `text` as every file kind; returns each kind's error description (nil: accepted).
    static func parseAll(_ text: String) -> [String: String?] {
        var out: [String: String?] = [:]
        func attempt(_ kind: String, _ body: () throws(FileError) -> Void) {
            do {
                try body()
                out[kind] = .some(nil)
            } catch { out[kind] = .some(error.description) }
        }
        attempt("plan") { () throws(FileError) in _ = try PlanFile.parse(text, file: "f.yaml") }
        attempt("scenario") { () throws(FileError) in _ = try ScenarioFile.parse(text, file: "f.yaml") }
        attempt("policy") { () throws(FileError) in _ = try PolicyFile.parse(text, file: "f.yaml") }
        attempt("mcp") { () throws(FileError) in
            _ = try MCPConfigFile.parse(text, file: "f.yaml", searchPath: "/usr/bin:/bin")
        }
        attempt("profile") { () throws(FileError) in _ = try AgentProfileFile.parse(text, path: "f.yaml") }
        attempt("pricing") { () throws(FileError) in _ = try PricingFile.parse(text, file: "f.yaml") }
        attempt("configuration") { () throws(FileError) in
            _ = try ConfigFile.parse(text, file: "f.yaml", scope: .project, base: "/p")
        }
        attempt("user configuration") { () throws(FileError) in
            _ = try ConfigFile.parse(text, file: "f.yaml", scope: .user, base: "/home/u/.config/nightshift")
        }
        return out
    }

    func expectOneLineError(
        _ text: String, containing: String, line: Int? = nil, within limit: Duration = .seconds(30),
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let start = ContinuousClock.now
        for (kind, error) in Self.parseAll(text) {
            guard let error = error else {
                Issue.record("\(kind) accepted it", sourceLocation: sourceLocation)
                continue
            }
            #expect(!error.contains("\n"), "\(kind): \(error)", sourceLocation: sourceLocation)
            #expect(error.count < 600, "\(kind): \(error.count) characters", sourceLocation: sourceLocation)
            #expect(error.contains(containing), "\(kind): \(error)", sourceLocation: sourceLocation)
            if let line {
                #expect(error.hasPrefix("f.yaml:\(line)"), "\(kind): \(error)", sourceLocation: sourceLocation)
            }
        }
        #expect(ContinuousClock.now - start < limit, sourceLocation: sourceLocation)
    }

    @Test func billionLaughsIsRefusedBeforeItExpands() {
        var text = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for level in 1...9 {
            let refs = Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ")
            text += "a\(level): &a\(level) [\(refs)]\n"
        }
        text += "tasks: *a9\n"
        expectOneLineError(text, containing: "holds more than 250000 values")
    }

    @Test func anAliasAsAMappingKeyIsRefusedBeforeParsing() {
        var text = "k0: &k0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10}\n"
        for level in 1...7 {
            let entries = (0..<10).map { "*k\(level - 1) : \($0)" }.joined(separator: ", ")
            text += "k\(level): &k\(level) {\(entries)}\n"
        }
        expectOneLineError(text, containing: "used as a mapping key", line: 2)
        expectOneLineError("a: &x b\n? *x\n: c\n", containing: "used as a mapping key", line: 2)
    }

    @Test func duplicateKeysAreOneLineWithTheirLine() {
        let text = "title: t\n" + (0..<40).map { "filler\($0): x\n" }.joined() + "title: again\ntasks: []\n"
        expectOneLineError(text, containing: "appears more than once")
    }

    @Test func controlCharactersAndHugeLinesAreNotEchoed() {
        let text = "title: \u{01}" + String(repeating: "x", count: 200_000) + "\ntasks: []\n"
        expectOneLineError(text, containing: "not readable as YAML")
    }

    @Test func deepNestingIsOneLineWithoutTheParsersHint() {
        let text = String(repeating: "[", count: 20_000) + String(repeating: "]", count: 20_000) + "\n"
        for (kind, error) in Self.parseAll(text) {
            let e: String? = error ?? nil
            #expect(e != nil, "\(kind) accepted it")
            #expect(e?.contains("\n") == false, "\(kind)")
            #expect(e?.contains("yaml_set_max_nest_level") == false, "\(kind): \(e ?? "")")
        }
    }

    /// Numbers at the edges: refused in the file with a reason, never an overflow.
    @Test func extremeNumbersAreRefusedWhereTheyEnter() throws {
        let cases: [(String, String)] = [
            ("budgets:\n  run: {cost_usd: \"9223372.999999999999\"}\n", "cost_usd must be dollars"),
            ("budgets:\n  run: {cost_usd: \"99999999999999999999\"}\n", "cost_usd must be dollars"),
            ("budgets:\n  run: {wall_minutes: 9223372036854775807}\n", "wall_minutes must be at most"),
            ("budgets:\n  task: {wall_minutes: 153722867280912931}\n", "wall_minutes must be at most"),
            ("fleet: {max_depth: -1}\n", "p.yaml:1:20: fleet max_depth must be 0 … 32"),
            ("fleet:\n  max_children: 100001\n", "p.yaml:2:17: fleet max_children must be 0 … 100000"),
            ("fleet: {max_width: 3}\n", "max_width"),
        ]
        for (text, expected) in cases {
            #expect(throws: FileError.self) { try PolicyFile.parse(text, file: "p.yaml") }
            do { _ = try PolicyFile.parse(text, file: "p.yaml") } catch {
                #expect(error.description.contains(expected), "\(error)")
            }
        }
        let scenarios: [(String, String)] = [
            ("tasks:\n  t:\n    - done: x\n      usage: {input: -5, output: 1}\n", "usage is out of range"),
            (
                "tasks:\n  t:\n    - done: x\n      usage: {input: 9223372036854775807, output: 1}\n",
                "usage is out of range"
            ),
            ("tasks:\n  t:\n    - done: x\n      cost_usd: \"9223372.999999999999\"\n", "cost_usd must be"),
            ("tasks:\n  t:\n    - done: x\n      cost_usd: \"5000000\"\n", "at most 100000"),
        ]
        for (text, expected) in scenarios {
            do {
                _ = try ScenarioFile.parse(text, file: "s.yaml")
                Issue.record("accepted: \(text)")
            } catch {
                #expect(error.description.contains(expected), "\(error)")
            }
        }
        #expect(Money.parseUSD("9223372.036854775807") == Int64.max)
        #expect(Money.parseUSD("9223372.036854775808") == nil)
        #expect(Money.format(.max).hasPrefix("$9223372.0368"))
    }

    /// A task's checks: each once, at most 50; a check's timeout at most a day.
    @Test func repeatedOrTooManyChecksAreRefused() {
        let repeated =
            "tasks:\n  - id: t\n    description: d\n    checks:\n"
            + String(repeating: "      - make test\n", count: 1000)
        do {
            _ = try PlanFile.parse(repeated, file: "p.yaml")
            Issue.record("accepted")
        } catch {
            #expect(error.description.contains("at most 50"), "\(error)")
        }
        let twice = "tasks:\n  - id: t\n    description: d\n    checks: [make test, make lint, make test]\n"
        do {
            _ = try PlanFile.parse(twice, file: "p.yaml")
            Issue.record("accepted")
        } catch {
            #expect(error.description.contains("check 3 of task 't' repeats check 1"), "\(error)")
        }
        let slow =
            "tasks:\n  - id: t\n    description: d\n    checks:\n      - {command: x, timeout_seconds: 999999999999}\n"
        do {
            _ = try PlanFile.parse(slow, file: "p.yaml")
            Issue.record("accepted")
        } catch {
            #expect(error.description.contains("1…86400"), "\(error)")
        }
    }

    /// A task's `after` list: ids of the plan's other tasks, no cycle; the error names the line.
    @Test(arguments: [
        (
            "tasks:\n  - id: a\n    description: d\n    after: [zz]\n", "p.yaml:4:",
            "task a comes after 'zz', which is no task of the plan"
        ),
        ("tasks:\n  - id: a\n    description: d\n    after: [a]\n", "p.yaml:4:", "listed in its own 'after'"),
        (
            "tasks:\n  - id: a\n    description: d\n    after: [b]\n  - id: b\n    description: d\n    after: [a]\n",
            "p.yaml:4:", "goes round in a cycle"
        ),
        ("tasks:\n  - id: a\n    description: d\n    after: b\n", "p.yaml:4:", "after"),
    ])
    func dependenciesThatCannotBeFollowedAreRefusedWithTheirLine(text: String, place: String, message: String) {
        do {
            _ = try PlanFile.parse(text, file: "p.yaml")
            Issue.record("accepted")
        } catch {
            #expect(error.description.hasPrefix(place) && error.description.contains(message), "\(error)")
        }
    }

    @Test func aTaskMayComeAfterALaterOne() throws {
        let plan = try PlanFile.parse(
            "tasks:\n  - id: b\n    description: d\n    after: [a]\n  - id: a\n    description: d\n", file: "p.yaml")
        #expect(plan.tasks.map(\.after) == [[TaskID("a")], nil])
    }
}

/// Mutated files of the four kinds: every one either parses or gives one short line naming the
/// file; none traps or hangs. CI runs 400 mutations (a fixed seed); `NIGHTSHIFT_FUZZ_ITERATIONS`
/// runs more, and `NIGHTSHIFT_FUZZ_SEED` another sequence.
@Suite struct FileFuzzTests {
    static let seeds = [
        """
        title: Fix the calculator
        init: pip install -e .
        guards: [python3 -m unittest -q tests.test_legacy]
        tasks:
          - id: fix-add
            description: add(a, b) returns the wrong result
            checks:
              - command: python3 -m unittest -q tests.test_add
                expect_exit: 0
                timeout_seconds: 60
              - grep -q add USAGE.md
            rubric: [no special cases]
        """,
        """
        tasks:
          fix-add:
            - say: &look Let me look.
              tools:
                - read_file: {path: calc.py}
            - tools:
                - write_file: {path: calc.py, content: "def add(a, b): return a + b"}
              done: fixed
              usage: {input: 900, output: 120}
              cost_usd: "0.01"
        judge:
          fix-add:
            - verdict: rework
              reasons: [*look]
        """,
        """
        default: allow
        rules:
          - deny: shell
            command: "*rm -rf*"
            reason: no recursive deletes
          - ask: "mcp__github__*"
        protected: {paths: ["tests/**"], on_edit: deny}
        budgets:
          run: {cost_usd: 5.00, tokens: 2000000, tool_calls: 500, steps: 300, wall_minutes: 600}
        breakers: {failed_checks: 3, tool_errors: 5, repeated_call: 4}
        approvers: [alice]
        network: false
        """,
        """
        servers:
          - name: docs
            command: sh
            args: [server.py]
            env: [DOCS_TOKEN]
            read_only: [/opt/venv]
            timeout_seconds: 60
        """,
        """
        description: Reviews a diff for security problems
        model: anthropic:claude-sonnet-4-5
        guidance: ../.nightshift/reviewer.md
        policy: ../.nightshift/readonly.yaml
        tools: [read_file, grep, "mcp__github__*"]
        budget: {cost_usd: 2.00, steps: 100, tokens: 400000}
        max_concurrent: 4
        """,
        """
        gpt-4o: {input: 2.50, cached_input: 1.25, output: 10.00}
        my-local-model: {input: 0, output: 0}
        claude-sonnet-4: {input: 3, cached_input: 0.30, cache_write: 3.75, output: 15}
        """,
        "# the project's settings\r\nmodel: openai:gpt-4o\r\npolicy: .nightshift/policy.yaml\r\n"
            + "roles: {judge: \"anthropic-compatible:http://127.0.0.1:9/v1#j\"}\r\nsandbox: {allow_network: false, "
            + "read_only: [/opt/tool]}\r\ncontext: {window: 64000, compact_at: 0.5, reset_at: 0.8}\r\n"
            + "limits: {max_attempts: 3, max_turns: 50}\r\nbudgets:\r\n  run: {tokens: 100000, cost_usd: 5.00}\r\n"
            + "hooks:\r\n  - {on: after_edit, command: 'ruff check \"$@\"', blocking: true}\r\n"
            + "embeddings: {model: \"openai:text-embedding-3-small\", min_similarity: 0.3}\r\n",
    ]

    /// SplitMix64: the same seed gives the same mutations on every machine.
    struct Generator {
        var state: UInt64
        mutating func below(_ n: Int) -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(max(n, 1)))
        }
    }

    /// One mutation: bytes flipped, inserted or deleted; lines duplicated or swapped; a number made
    /// extreme; an anchor and nested aliases spliced in.
    static func mutate(_ text: String, _ g: inout Generator) -> String {
        var bytes = Array(text.utf8)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        switch g.below(8) {
        case 0:
            for _ in 0...g.below(4) where !bytes.isEmpty { bytes[g.below(bytes.count)] = UInt8(g.below(256)) }
            return String(decoding: bytes, as: UTF8.self)
        case 1:
            let junk: [String] = [
                "{", "}", "[", "]", ":", "- ", "&a ", "*a", "? ", "|", ">", "\"", "'", "#", "\t", "\u{0}", "!!binary ",
                "<<: ",
            ]
            bytes.insert(contentsOf: Array(junk[g.below(junk.count)].utf8), at: g.below(bytes.count + 1))
            return String(decoding: bytes, as: UTF8.self)
        case 2:
            if !bytes.isEmpty {
                let from = g.below(bytes.count)
                bytes.removeSubrange(from..<min(bytes.count, from + g.below(40) + 1))
            }
            return String(decoding: bytes, as: UTF8.self)
        case 3:
            if !lines.isEmpty {
                let i = g.below(lines.count)
                lines.insert(lines[i], at: i)
            }
        case 4:
            if lines.count > 1 { lines.swapAt(g.below(lines.count), g.below(lines.count)) }
        case 5:
            let extremes = [
                "9223372036854775807", "-9223372036854775808", "99999999999999999999999", "-1", "1e400", "0x7fffffff",
                "\"9223372.999999999999\"", ".nan",
            ]
            return text.replacing(/\b\d+(\.\d+)?\b/) { _ in extremes[g.below(extremes.count)] }
        case 6:
            let depth = 2 + g.below(6)
            var bomb = "b0: &b0 [x, x, x, x, x, x, x, x, x, x]\n"
            for level in 1...depth {
                bomb +=
                    "b\(level): &b\(level) [" + Array(repeating: "*b\(level - 1)", count: 10).joined(separator: ", ")
                    + "]\n"
            }
            return bomb + text
        default:
            let i = g.below(lines.count)
            lines[i] = String(repeating: " ", count: g.below(12)) + lines[i].trimmingCharacters(in: .whitespaces)
        }
        return lines.joined(separator: "\n")
    }

    @Test func mutatedFilesNeverTrapHangOrSpillOverOneLine() {
        let env = ProcessInfo.processInfo.environment
        let iterations = env["NIGHTSHIFT_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 400
        var g = Generator(state: env["NIGHTSHIFT_FUZZ_SEED"].flatMap(UInt64.init) ?? 0x5EED)
        var worst: Duration = .zero
        for n in 0..<iterations {
            var text = Self.seeds[n % Self.seeds.count]
            for _ in 0...g.below(3) { text = Self.mutate(text, &g) }
            let start = ContinuousClock.now
            for (kind, error) in FileInputTests.parseAll(text) {
                guard let error = error else { continue }
                #expect(
                    !error.contains("\n") && error.count < 700 && error.hasPrefix("f.yaml"),
                    "mutation \(n), \(kind): \(error.prefix(300))")
            }
            worst = max(worst, ContinuousClock.now - start)
        }
        #expect(worst < .seconds(10), "the slowest mutation took \(worst)")
    }
}

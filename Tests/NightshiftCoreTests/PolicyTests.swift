import Foundation
import NightshiftCore
import Testing

/// The gateway's decisions are a pure function of (policy, call): one table, every row a case.
@Suite struct PolicyTests {
    /// The traits the built-in tools declare (a Hands test checks that their specs say so).
    static let traits: [String: ToolTraits] = [
        "shell": .runsCommand, "write_file": .writesPath, "edit_file": .writesPath,
    ]
    static func decide(_ p: Policy, _ tool: String, _ args: String) -> PolicyVerdict {
        p.decide(tool: tool, arguments: args, traits: traits[tool] ?? [])
    }

    static let policy = Policy(
        rules: [
            PolicyRule(
                effect: .deny, tool: "shell", command: "*rm -rf*", reason: "no recursive deletes", origin: "p.yaml:3"),
            PolicyRule(effect: .ask, tool: "shell", command: "git push*", origin: "p.yaml:6"),
            PolicyRule(effect: .allow, tool: "shell", origin: "p.yaml:8"),
            PolicyRule(
                effect: .deny, tool: "write_file", path: "secrets/**", reason: "secrets are off limits",
                origin: "p.yaml:9"),
            PolicyRule(effect: .allow, tool: "write_file", path: "src/*.py", origin: "p.yaml:12"),
            PolicyRule(effect: .ask, tool: "mcp__github__*", origin: "p.yaml:14"),
            PolicyRule(effect: .allow, tool: "read_file", origin: "p.yaml:15"),
        ],
        defaultEffect: .deny, protectedPaths: ["tests/**", "policy.yaml"])

    static let table: [(tool: String, args: String, effect: PolicyEffect, rule: String)] = [
        ("shell", #"{"command":"ls -la"}"#, .allow, "p.yaml:8"),
        ("shell", #"{"command":"rm -rf /"}"#, .deny, "p.yaml:3"),
        ("shell", #"{"command":"cd x && rm -rf build"}"#, .deny, "p.yaml:3"),
        ("shell", #"{"command":"git push origin main"}"#, .ask, "p.yaml:6"),
        ("shell", #"{"command":"  git push"}"#, .ask, "p.yaml:6"),  // surrounding space is ignored
        ("shell", #"{"command":"echo git push"}"#, .allow, "p.yaml:8"),  // a glob on the whole command
        ("shell", #"{"command":"rm tests/test_calc.py"}"#, .deny, "protected: tests/**"),
        ("shell", #"{"command":"rm -r tests"}"#, .deny, "protected: tests/**"),
        ("shell", #"{"command":"echo '' > tests/test_calc.py"}"#, .deny, "protected: tests/**"),
        ("shell", #"{"command":"cat tests/test_calc.py"}"#, .allow, "p.yaml:8"),  // reading a protected file is fine
        ("shell", #"{"command":"sed -i s/x/y/ policy.yaml"}"#, .deny, "protected: policy.yaml"),
        ("write_file", #"{"path":"secrets/prod/key.txt","content":"x"}"#, .deny, "p.yaml:9"),
        ("write_file", #"{"path":"src/calc.py","content":"x"}"#, .allow, "p.yaml:12"),
        ("write_file", #"{"path":"./src/calc.py","content":"x"}"#, .allow, "p.yaml:12"),
        ("write_file", #"{"path":"src/pkg/calc.py","content":"x"}"#, .deny, "default"),  // `*` stays in one folder
        ("write_file", #"{"path":"tests/test_calc.py","content":"pass"}"#, .deny, "protected: tests/**"),
        (
            "edit_file", #"{"path":"tests/unit/test_a.py","old_string":"a","new_string":"b"}"#, .deny,
            "protected: tests/**"
        ),
        ("write_file", #"{"path":"policy.yaml","content":"default: allow"}"#, .deny, "protected: policy.yaml"),
        ("read_file", #"{"path":"tests/test_calc.py"}"#, .allow, "p.yaml:15"),
        ("mcp__github__create_issue", #"{"title":"x"}"#, .ask, "p.yaml:14"),
        ("mcp__docs__search", #"{"q":"x"}"#, .deny, "default"),
        ("list_files", "{}", .deny, "default"),
        ("shell", "not json", .allow, "p.yaml:8"),  // no command: rules with `command` do not match
    ]

    @Test func everyRowOfTheTable() {
        for row in Self.table {
            let v = Self.decide(Self.policy, row.tool, row.args)
            #expect(
                v.effect == row.effect && v.rule == row.rule,
                "\(row.tool) \(row.args) → \(v.effect) by \(v.rule), expected \(row.effect) by \(row.rule)")
            #expect(!v.reason.isEmpty)
        }
    }

    @Test func askForProtectedEditsWhenThePolicySaysSo() {
        var p = Self.policy
        p.protectedEffect = .ask
        #expect(Self.decide(p, "write_file", #"{"path":"tests/t.py","content":""}"#).effect == .ask)
        // A new file beside the protected ones is not protected by a rule on other files.
        var narrow = Policy(protectedPaths: ["tests/test_old.py"])
        narrow.defaultEffect = .allow
        #expect(
            Self.decide(narrow, "write_file", #"{"path":"tests/test_new.py","content":""}"#).effect == .allow
        )
    }

    @Test func globs() {
        let cases: [(String, String, Bool, Bool)] = [
            ("*", "anything/at/all", false, true), ("*", "a/b", true, false), ("**", "a/b/c", true, true),
            ("tests/**", "tests/a/b.py", true, true), ("tests/**", "tests", true, false),
            ("**/*.py", "a.py", true, true),
            ("**/*.py", "x/y/a.py", true, true), ("src/?.py", "src/a.py", true, true),
            ("src/?.py", "src/ab.py", true, false),
            ("mcp__*", "mcp__a__b", false, true), ("git push*", "git pushx", false, true),
            ("a*b*c", "aXbYc", false, true),
            ("a*b*c", "aXbY", false, false), ("", "", false, true), ("", "x", false, false),
            ("src/**/test_*.py", "src/test_a.py", true, true), ("src/**/test_*.py", "src/x/y/test_a.py", true, true),
            ("*forbidden*", "rm forbidden file", false, true), ("*forbidden*", "rm forbid", false, false),
            ("a?c*", "abcdef", false, true), ("**/x", "x", true, true),
        ]
        for (pattern, text, pathMode, expected) in cases {
            #expect(
                Glob.matches(pattern, text, pathMode: pathMode) == expected,
                "\(pattern) ~ \(text) (path mode \(pathMode))")
        }
    }

    @Test func dollarsParseExactly() {
        #expect(Money.parseUSD("5.00") == 5 * Money.picoPerDollar)
        #expect(Money.parseUSD("$0.0125") == 12_500_000_000)
        #expect(Money.parseUSD("3") == 3 * Money.picoPerDollar)
        #expect(Money.parseUSD("0.000000000001") == 1)
        for bad in ["-1", "1.2.3", "abc", "", "1.", "0.0000000000001", "99999999999"] {
            #expect(Money.parseUSD(bad) == nil, "\(bad)")
        }
    }

    /// The ratchet reads what a tool declares, not its name: an MCP tool that writes its `path` is
    /// refused on a protected file, and a built-in name without the trait is not judged as a writer.
    @Test func theRatchetAsksTheToolsTraitsNotItsName() {
        let p = Policy(defaultEffect: .allow, protectedPaths: ["tests/**"])
        let args = #"{"path":"tests/t.py","content":""}"#
        #expect(p.decide(tool: "mcp__fs__write", arguments: args, traits: .writesPath).effect == .deny)
        #expect(p.decide(tool: "mcp__fs__write", arguments: args, traits: []).effect == .allow)
        #expect(p.decide(tool: "write_file", arguments: args, traits: []).effect == .allow)
        let rm = #"{"command":"rm -f tests/t.py"}"#
        #expect(p.decide(tool: "mcp__sh__run", arguments: rm, traits: .runsCommand).effect == .deny)
        #expect(p.decide(tool: "shell", arguments: rm, traits: []).effect == .allow)
    }
}

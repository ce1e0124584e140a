import Foundation
public import NightshiftCore
import Yams

/// Loads a policy file (`nightshift run --policy FILE`):
///
/// ```yaml
/// default: allow                 # allow | deny | ask, for calls no rule matches
/// rules:                         # the first rule that matches decides
///   - deny: shell
///     command: "*rm -rf*"        # glob on the shell command
///     reason: no recursive deletes
///   - ask: shell
///     command: "git push*"
///   - deny: write_file
///     path: "secrets/**"         # glob on the path argument (relative to the workspace)
///   - ask: "mcp__github__*"      # glob on the tool name
/// protected:                     # the test ratchet: may add files here, never change or delete them
///   paths: ["tests/**"]
///   on_edit: deny                # deny | ask
/// budgets:
///   run:  {cost_usd: 5.00, tokens: 2000000, tool_calls: 500, steps: 300, wall_minutes: 600}
///   task: {cost_usd: 1.00, tool_calls: 100}
/// breakers: {failed_checks: 3, tool_errors: 5, repeated_call: 4}
/// approvers: [alice, bob]        # OS users who may approve; default: anyone who can open the database
/// network: false                 # sandboxed commands' network; false wins over --allow-network
/// fleet: {max_depth: 2, max_children: 300}   # sub-agents: how deep, how many per run (defaults 3, 1000)
/// ```
public enum PolicyFile {
    /// The parsed policy and the file's text (recorded whole, with its hash).
    public static func load(path: String) throws(FileError) -> (policy: Policy, text: String) {
        let text = try YAMLReader.readText(path, what: "policy")
        return (try parse(text, file: path), text)
    }

    public static func parse(_ text: String, file: String) throws(FileError) -> Policy {
        let r = YAMLReader(file: file)
        let root = try r.load(text)
        let top = try r.mapping(root, "the policy")
        try r.checkKeys(
            top,
            allowed: [
                "default", "rules", "protected", "budgets", "breakers", "approvers", "network", "fleet", "memory",
            ],
            in: "the policy")
        func field(_ entries: [(key: String, keyNode: Node, value: Node)], _ key: String) -> Node? {
            entries.first(where: { $0.key == key })?.value
        }
        func effect(_ node: Node, _ what: String) throws(FileError) -> PolicyEffect {
            let s = try r.string(node, what)
            guard let e = PolicyEffect(rawValue: s) else {
                throw r.fail(node, "\(what) must be allow, deny or ask, not '\(s)'")
            }
            return e
        }
        var policy = Policy()
        if let d = field(top, "default") { policy.defaultEffect = try effect(d, "default") }
        let name = URL(fileURLWithPath: file).lastPathComponent
        if let rules = field(top, "rules") {
            for (n, item) in try r.sequence(rules, "'rules'").enumerated() {
                let what = "rule \(n + 1)"
                let fields = try r.mapping(item, what)
                try r.checkKeys(fields, allowed: ["allow", "deny", "ask", "command", "path", "reason"], in: what)
                let effects = fields.filter { PolicyEffect(rawValue: $0.key) != nil }
                guard effects.count == 1, let e = effects.first else {
                    throw r.fail(
                        item,
                        "\(what) needs exactly one of allow, deny or ask, naming the tool (a glob: shell, mcp__x__*, *)"
                    )
                }
                let tool = try r.string(e.value, "\(what)'s tool")
                guard !tool.isEmpty else { throw r.fail(e.value, "\(what)'s tool is empty") }
                var rule = PolicyRule(
                    effect: PolicyEffect(rawValue: e.key)!, tool: tool, origin: "\(name):\(item.mark?.line ?? 0)")
                if let c = field(fields, "command") { rule.command = try r.string(c, "\(what)'s command") }
                if let p = field(fields, "path") { rule.path = try r.string(p, "\(what)'s path") }
                if let why = field(fields, "reason") { rule.reason = try r.string(why, "\(what)'s reason") }
                if rule.command != nil, !Glob.matches(tool, "shell", pathMode: false) {
                    throw r.fail(
                        item, "\(what): 'command' applies only to the shell tool, and this rule is for '\(tool)'")
                }
                policy.rules.append(rule)
            }
        }
        if let p = field(top, "protected") {
            let fields = try r.mapping(p, "'protected'")
            try r.checkKeys(fields, allowed: ["paths", "on_edit"], in: "'protected'")
            if let paths = field(fields, "paths") {
                for v in try r.sequence(paths, "protected paths") {
                    let glob = try r.string(v, "a protected path")
                    guard !glob.hasPrefix("/"), !glob.contains("..") else {
                        throw r.fail(v, "protected paths are globs inside the workspace, like tests/**")
                    }
                    policy.protectedPaths.append(glob)
                }
            }
            if let e = field(fields, "on_edit") {
                policy.protectedEffect = try effect(e, "on_edit")
                guard policy.protectedEffect != .allow else { throw r.fail(e, "on_edit must be deny or ask") }
            }
        }
        if let b = field(top, "budgets") {
            let fields = try r.mapping(b, "'budgets'")
            try r.checkKeys(fields, allowed: ["run", "task"], in: "'budgets'")
            if let run = field(fields, "run") { policy.runBudget = try budget(run, "the run budget", r) }
            if let task = field(fields, "task") { policy.taskBudget = try budget(task, "the task budget", r) }
        }
        if let b = field(top, "breakers") {
            let fields = try r.mapping(b, "'breakers'")
            try r.checkKeys(fields, allowed: ["failed_checks", "tool_errors", "repeated_call"], in: "'breakers'")
            func count(_ key: String) throws(FileError) -> Int? {
                guard let n = field(fields, key) else { return nil }
                let v = try r.int(n, "breaker \(key)")
                guard v >= 1 else { throw r.fail(n, "breaker \(key) must be at least 1") }
                return v
            }
            policy.breakers = Breakers(
                failedChecks: try count("failed_checks"), toolErrors: try count("tool_errors"),
                repeatedCall: try count("repeated_call"))
        }
        if let n = field(top, "network") {
            let v = try r.string(n, "network")
            guard v == "true" || v == "false" else { throw r.fail(n, "network must be true or false, not '\(v)'") }
            policy.network = v == "true"
        }
        if let a = field(top, "approvers") {
            for v in try r.sequence(a, "'approvers'") { policy.approvers.append(try r.string(v, "an approver")) }
        }
        if let f = field(top, "fleet") {
            let fields = try r.mapping(f, "'fleet'")
            try r.checkKeys(fields, allowed: ["max_depth", "max_children"], in: "'fleet'")
            var limits = FleetLimits()
            if let n = field(fields, "max_depth") {
                limits.maxDepth = try r.int(n, "fleet max_depth")
                guard (0...32).contains(limits.maxDepth) else { throw r.fail(n, "fleet max_depth must be 0 … 32") }
            }
            if let n = field(fields, "max_children") {
                limits.maxChildren = try r.int(n, "fleet max_children")
                guard (0...100_000).contains(limits.maxChildren) else {
                    throw r.fail(n, "fleet max_children must be 0 … 100000")
                }
            }
            policy.fleet = limits
        }
        if let m = field(top, "memory") {
            let fields = try r.mapping(m, "'memory'")
            try r.checkKeys(fields, allowed: ["write"], in: "'memory'")
            if let w = field(fields, "write") {
                let scopes = try r.mapping(w, "memory 'write'")
                try r.checkKeys(scopes, allowed: MemoryScope.Kind.allCases.map(\.rawValue), in: "memory 'write'")
                var rules: [MemoryWriteRule] = []
                for entry in scopes {
                    var kinds: [MemoryKind] = []
                    for k in try r.sequence(entry.value, "memory write \(entry.key)") {
                        let name = try r.string(k, "a memory kind")
                        guard let kind = MemoryKind(rawValue: name) else {
                            throw r.fail(
                                k,
                                "'\(name)' is not a memory kind: \(MemoryKind.allCases.map(\.rawValue).joined(separator: ", "))"
                            )
                        }
                        kinds.append(kind)
                    }
                    rules.append(MemoryWriteRule(scope: MemoryScope.Kind(rawValue: entry.key)!, kinds: kinds))
                }
                policy.memoryWrites = rules
            }
        }
        return policy
    }

    static func budget(_ node: Node, _ what: String, _ r: YAMLReader) throws(FileError) -> Budget {
        let fields = try r.mapping(node, what)
        try r.checkKeys(fields, allowed: ["cost_usd", "tokens", "tool_calls", "steps", "wall_minutes"], in: what)
        var b = Budget()
        for f in fields {
            if f.key == "cost_usd" {
                let text = try r.string(f.value, "\(what) cost_usd")
                guard let pico = Money.parseUSD(text) else {
                    throw r.fail(f.value, "\(what) cost_usd must be dollars like 5.00, not '\(text)'")
                }
                guard pico <= Budget.maxCostPicoUSD else {
                    throw r.fail(f.value, "\(what) cost_usd must be at most 1000000.00 dollars")
                }
                b.costPicoUSD = pico
                continue
            }
            let v = try r.int(f.value, "\(what) \(f.key)")
            guard v >= 0 else { throw r.fail(f.value, "\(what) \(f.key) must not be negative") }
            if f.key != "wall_minutes", v > Budget.maxCount {
                throw r.fail(f.value, "\(what) \(f.key) must be at most \(Budget.maxCount)")
            }
            // Minutes become seconds; a century is the most a budget can say.
            if f.key == "wall_minutes", v > Budget.maxWallMinutes {
                throw r.fail(f.value, "\(what) wall_minutes must be at most \(Budget.maxWallMinutes) (a century)")
            }
            switch f.key {
            case "tokens": b.tokens = v
            case "tool_calls": b.toolCalls = v
            case "steps": b.steps = v
            default: b.wallSeconds = v * 60
            }
        }
        return b
    }
}

import Foundation
public import NightshiftCore
import NightshiftModels
import Yams

/// One setting a configuration file, the environment or the command line may give. The raw value
/// is its dotted name in `nightshift config` and in errors.
public enum ConfigKey: String, CaseIterable, Sendable, Comparable {
    case model
    case rolePlanner = "roles.planner"
    case roleWorker = "roles.worker"
    case roleJudge = "roles.judge"
    case roleDreamer = "roles.dreamer"
    /// The memory bank's embeddings model (openai:MODEL or openai-compatible:URL#MODEL): hybrid search.
    case embeddings
    /// The least cosine a memory found by meaning needs (`embeddings: {model: …, min_similarity: …}`).
    case embeddingsMinSimilarity = "embeddings.min_similarity"
    case policy, guidance, mcp, db, pricing, agents
    /// A PostgreSQL database (postgres://USER@HOST:PORT/DATABASE) every run lives in instead of
    /// the SQLite file `db`: what many hosts share. Its password never comes from a file here.
    case store
    /// Where this process makes the runs' worktrees (its workspace home); default: beside the database.
    case workspaces
    case keyFile = "key_file"
    case unsandboxed = "sandbox.unsandboxed"
    case allowNetwork = "sandbox.allow_network"
    case readOnly = "sandbox.read_only"
    case contextWindow = "context.window"
    /// The most tokens a model's answer may take (`max_tokens`).
    case maxOutput = "context.max_output"
    case compactAt = "context.compact_at"
    case resetAt = "context.reset_at"
    case maxAttempts = "limits.max_attempts"
    case maxTurns = "limits.max_turns"
    case worktree, baseline
    case stopOnBlocked = "stop_on_blocked"
    case hooks
    case runBudget = "budgets.run"
    case taskBudget = "budgets.task"

    public static func < (a: ConfigKey, b: ConfigKey) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// Keys whose value is a file path: a relative path in a file is taken from that file's project
    /// (or, for the user file, its folder), not from wherever the command runs.
    public var isPath: Bool {
        [.policy, .guidance, .mcp, .db, .workspaces, .pricing, .keyFile, .agents].contains(self)
    }

    /// What is wrong with `address` as a `store:` (nil: nothing seen here; the connection checks
    /// the rest). A password in it is refused: an address is shown in messages and logs.
    public static func storeProblem(_ address: String) -> String? {
        guard let url = URLComponents(string: address), ["postgres", "postgresql"].contains(url.scheme ?? "") else {
            return "must be a postgres://USER@HOST:PORT/DATABASE address"
        }
        if url.password != nil || url.queryItems?.contains(where: { $0.name != "sslmode" }) == true {
            return """
                the address holds a password or an option other than sslmode: give a password in PGPASSWORD or \
                ~/.pgpass instead (an address is shown and logged)
                """
        }
        return nil
    }

    /// The keys of the roles a user may give a model of their own, with the role's name.
    public static let roles: [(role: String, key: ConfigKey)] = [
        ("planner", .rolePlanner), ("worker", .roleWorker), ("judge", .roleJudge), ("dreamer", .roleDreamer),
    ]
}

/// A setting's value, typed as the key wants it.
public enum ConfigValue: Sendable, Equatable, CustomStringConvertible {
    case text(String)
    case flag(Bool)
    case number(Int)
    case share(Double)
    case list([String])
    case hooks([Hook])
    case budget(Budget)

    public var description: String {
        switch self {
        case let .text(s): s
        case let .flag(b): b ? "true" : "false"
        case let .number(n): String(n)
        case let .share(d): String(d)
        case let .list(l): "[" + l.joined(separator: ", ") + "]"
        case let .budget(b):
            [
                b.costPicoUSD.map { "cost_usd \(Money.format($0))" }, b.tokens.map { "tokens \($0)" },
                b.toolCalls.map { "tool_calls \($0)" }, b.steps.map { "steps \($0)" },
                b.wallSeconds.map { "wall_minutes \($0 / 60)" },
            ].compactMap { $0 }.joined(separator: ", ")
        case let .hooks(h):
            "[" + h.map { "\($0.on): \($0.command)\($0.blocking ? " (blocking)" : "")" }.joined(separator: "; ") + "]"
        }
    }
}

/// The settings one source gives, each with where it came from ("FILE:LINE", "--model", "NIGHTSHIFT_DB").
public struct ConfigLayer: Sendable, Equatable {
    public var values: [ConfigKey: ConfigValue] = [:]
    public var origins: [ConfigKey: String] = [:]
    /// API keys (`NAME: value`), only ever from the user's own file.
    public var keys: [String: String] = [:]
    /// Webhooks (`webhooks:`), only ever from the user's own file.
    public var webhooks: [WebhookEntry] = []
    public init() {}

    public mutating func set(_ key: ConfigKey, _ value: ConfigValue?, from origin: String) {
        guard let value else { return }
        values[key] = value
        origins[key] = origin
    }
}

/// Reads `.nightshift/config.yaml` (the project's) or the user's `config.yaml`:
///
/// ```yaml
/// model: openai:gpt-4o             # every role; roles: {planner: …, worker: …, judge: …, dreamer: …} for one
/// policy: .nightshift/policy.yaml  # paths are relative to the project (the folder holding .nightshift/)
/// guidance: .nightshift/guidance.md
/// mcp: .nightshift/mcp.yaml
/// db: .nightshift/nightshift.db
/// store: postgres://nightshift@db.internal:5432/nightshift   # instead of db: one PostgreSQL for many hosts
///                                                             # (its password: PGPASSWORD or ~/.pgpass, never here)
/// pricing: pricing.yaml
/// key_file: ~/.config/nightshift/keys.env
/// agents: agents                   # the folder of agent profiles (default: agents/ in the project)
/// embeddings: openai-compatible:http://127.0.0.1:11434/v1#all-minilm   # hybrid memory search, or:
/// embeddings: {model: "openai-compatible:http://127.0.0.1:11434/v1#nomic-embed-text", min_similarity: 0.45}
/// sandbox: {unsandboxed: false, allow_network: false, read_only: [/opt/toolchain]}
/// context: {window: 128000, compact_at: 0.6, reset_at: 0.85, max_output: 4096}
/// limits: {max_attempts: 3, max_turns: 200}
/// worktree: true                   # false: work in the repository itself (--no-worktree)
/// baseline: true
/// stop_on_blocked: false
/// budgets:                         # over the policy's (they apply under a policy)
///   run: {cost_usd: 10.00, wall_minutes: 600}
/// hooks:                           # commands run in the sandbox at points of the agent's work
///   - {on: after_edit, command: 'ruff check "$@"', timeout_seconds: 60, blocking: true}
///   - {on: shift_start, command: make lint}
///   - {on: before_check, command: mypy .}
/// keys: {OPENAI_API_KEY: sk-…}      # the user's file only: never in a project
/// webhooks:                        # the user's file only: POST /hooks/NAME on `nightshift serve`
///   ci-failed: {secret_file: ~/.config/nightshift/ci.secret, goal: "Fix the build of {{ref}}",
///               agent: fixer, workspace: ~/src/app}
/// ```
public enum ConfigFile {
    /// Whose file it is: a project's is reviewed and shared like code, so it may hold no secret.
    public enum Scope: Sendable { case project, user }

    /// The layer a file gives; relative paths are resolved against `base`.
    public static func load(path: String, scope: Scope, base: String) throws(FileError) -> ConfigLayer {
        let text = try YAMLReader.readText(path, what: "configuration")
        return try parse(text, file: path, scope: scope, base: base)
    }

    public static func parse(
        _ raw: String, file: String, scope: Scope, base: String
    ) throws(FileError)
        -> ConfigLayer
    {
        let text = LineEnds.unix(raw)
        let r = YAMLReader(file: file)
        var layer = ConfigLayer()
        let name = file
        // An empty file (every line a comment, as `nightshift init` writes it) sets nothing.
        guard
            text.split(separator: "\n").contains(where: {
                !$0.trimmingCharacters(in: .whitespaces).hasPrefix("#")
                    && !$0.trimmingCharacters(in: .whitespaces).isEmpty
            })
        else { return layer }
        let root = try r.load(text)
        let top = try r.mapping(root, "the configuration")
        try r.checkKeys(
            top,
            allowed: [
                "model", "roles", "policy", "guidance", "mcp", "db", "store", "workspaces", "pricing", "key_file",
                "agents",
                "sandbox",
                "context", "embeddings",
                "limits", "worktree", "baseline", "stop_on_blocked", "keys", "hooks", "budgets", "webhooks",
            ], in: "the configuration")
        try refuseSecrets(top, r, scope: scope)

        func origin(_ node: Node) -> String { "\(name):\(node.mark?.line ?? 0)" }
        // A scripted model's scenario is a file like any other path here.
        func scripted(_ spec: String) -> String {
            spec.hasPrefix("scripted:") ? "scripted:" + resolve(String(spec.dropFirst(9)), base: base) : spec
        }
        /// A model spec, checked where it is written (an unknown one is refused with this file's line).
        func model(_ node: Node, _ what: String) throws(FileError) -> String {
            let spec = try r.string(node, what)
            do { _ = try ModelSpec.parse(spec) } catch { throw r.fail(node, "\(what): \(error.message)") }
            return scripted(spec)
        }
        func path(_ node: Node, _ what: String) throws(FileError) -> String {
            let p = try r.string(node, what)
            guard !p.isEmpty else { throw r.fail(node, "\(what) is empty") }
            return resolve(p, base: base)
        }
        func flag(_ node: Node, _ what: String) throws(FileError) -> Bool {
            switch try r.string(node, what) {
            case "true", "yes", "on": return true
            case "false", "no", "off": return false
            case let other: throw r.fail(node, "\(what) must be true or false, not '\(other)'")
            }
        }
        func share(_ node: Node, _ what: String) throws(FileError) -> Double {
            let s = try r.string(node, what)
            guard let d = Double(s), (0.05...0.99).contains(d) else {
                throw r.fail(node, "\(what) must be a share of the window between 0.05 and 0.99, not '\(s)'")
            }
            return d
        }
        func count(_ node: Node, _ what: String, min: Int) throws(FileError) -> Int {
            let n = try r.int(node, what)
            guard n >= min, n <= 1_000_000_000 else { throw r.fail(node, "\(what) must be at least \(min)") }
            return n
        }

        for (key, _, value) in top {
            switch key {
            case "model": layer.set(.model, .text(try model(value, "model")), from: origin(value))
            case "embeddings":
                // A model spec, or {model, min_similarity}: a model under which unrelated texts score
                // high needs a higher floor than the default 0.2.
                guard case .mapping = value else {
                    layer.set(.embeddings, .text(try model(value, "embeddings")), from: origin(value))
                    continue
                }
                let e = try r.mapping(value, "'embeddings'")
                try r.checkKeys(e, allowed: ["model", "min_similarity"], in: "'embeddings'")
                guard e.contains(where: { $0.0 == "model" }) else {
                    throw r.fail(value, "'embeddings' needs a model (openai:MODEL or openai-compatible:URL#MODEL)")
                }
                for (k, _, v) in e {
                    if k == "model" {
                        layer.set(.embeddings, .text(try model(v, "embeddings.model")), from: origin(v))
                        continue
                    }
                    let s = try r.string(v, "embeddings.min_similarity")
                    guard let d = Double(s), (0.0...0.99).contains(d) else {
                        throw r.fail(v, "embeddings.min_similarity must be a cosine between 0 and 0.99, not '\(s)'")
                    }
                    layer.set(.embeddingsMinSimilarity, .share(d), from: origin(v))
                }
            case "store":
                let address = try r.string(value, "store")
                if let problem = ConfigKey.storeProblem(address) { throw r.fail(value, "store: \(problem)") }
                layer.set(.store, .text(address), from: origin(value))
            case "roles":
                let roles = try r.mapping(value, "'roles'")
                try r.checkKeys(roles, allowed: ConfigKey.roles.map(\.role), in: "'roles'")
                for (role, _, spec) in roles {
                    let k = ConfigKey.roles.first { $0.role == role }!.key
                    layer.set(k, .text(try model(spec, "the \(role)'s model")), from: origin(spec))
                }
            case "policy", "guidance", "mcp", "db", "workspaces", "pricing", "key_file", "agents":
                let k = ConfigKey(rawValue: key)!
                layer.set(k, .text(try path(value, key)), from: origin(value))
            case "sandbox":
                let s = try r.mapping(value, "'sandbox'")
                try r.checkKeys(s, allowed: ["unsandboxed", "allow_network", "read_only"], in: "'sandbox'")
                for (k, _, v) in s {
                    switch k {
                    case "unsandboxed": layer.set(.unsandboxed, .flag(try flag(v, k)), from: origin(v))
                    case "allow_network": layer.set(.allowNetwork, .flag(try flag(v, k)), from: origin(v))
                    default:
                        var list: [String] = []
                        for item in try r.sequence(v, "sandbox.read_only") { list.append(try path(item, "a path")) }
                        layer.set(.readOnly, .list(list), from: origin(v))
                    }
                }
            case "context":
                let c = try r.mapping(value, "'context'")
                try r.checkKeys(c, allowed: ["window", "compact_at", "reset_at", "max_output"], in: "'context'")
                for (k, _, v) in c {
                    switch k {
                    case "window":
                        layer.set(.contextWindow, .number(try count(v, "context.window", min: 2000)), from: origin(v))
                    case "max_output":
                        let n = try count(v, "context.max_output", min: 256)
                        guard n <= 1_000_000 else { throw r.fail(v, "context.max_output is at most 1000000 tokens") }
                        layer.set(.maxOutput, .number(n), from: origin(v))
                    case "compact_at":
                        layer.set(.compactAt, .share(try share(v, "context.compact_at")), from: origin(v))
                    default: layer.set(.resetAt, .share(try share(v, "context.reset_at")), from: origin(v))
                    }
                }
            case "limits":
                let l = try r.mapping(value, "'limits'")
                try r.checkKeys(l, allowed: ["max_attempts", "max_turns"], in: "'limits'")
                for (k, _, v) in l {
                    let ck: ConfigKey = k == "max_attempts" ? .maxAttempts : .maxTurns
                    layer.set(ck, .number(try count(v, "limits.\(k)", min: 1)), from: origin(v))
                }
            case "worktree", "baseline", "stop_on_blocked":
                layer.set(ConfigKey(rawValue: key)!, .flag(try flag(value, key)), from: origin(value))
            case "budgets":
                let fields = try r.mapping(value, "'budgets'")
                try r.checkKeys(fields, allowed: ["run", "task"], in: "'budgets'")
                for (k, _, v) in fields {
                    let b = try PolicyFile.budget(v, "the \(k) budget", r)
                    layer.set(k == "run" ? .runBudget : .taskBudget, .budget(b), from: origin(v))
                }
            case "hooks":
                var hooks: [Hook] = []
                for (n, item) in try r.sequence(value, "'hooks'").enumerated() {
                    let what = "hook \(n + 1)"
                    let fields = try r.mapping(item, what)
                    try r.checkKeys(fields, allowed: ["on", "command", "timeout_seconds", "blocking"], in: what)
                    func field(_ k: String) -> Node? { fields.first { $0.key == k }?.value }
                    guard let onNode = field("on"), let commandNode = field("command") else {
                        throw r.fail(item, "\(what) needs on: (after_edit, shift_start or before_check) and command:")
                    }
                    let onText = try r.string(onNode, "\(what)'s on")
                    guard let on = Hook.When(rawValue: onText) else {
                        throw r.fail(
                            onNode, "\(what)'s on must be after_edit, shift_start or before_check, not '\(onText)'")
                    }
                    let command = try r.string(commandNode, "\(what)'s command")
                    guard command.contains(where: { !$0.isWhitespace }) else {
                        throw r.fail(commandNode, "\(what)'s command is empty")
                    }
                    var hook = Hook(on: on, command: command)
                    if let t = field("timeout_seconds") {
                        hook.timeoutSeconds = try count(t, "\(what)'s timeout_seconds", min: 1)
                        guard hook.timeoutSeconds <= 3600 else {
                            throw r.fail(t, "\(what)'s timeout_seconds is at most 3600")
                        }
                    }
                    if let b = field("blocking") {
                        hook.blocking = try flag(b, "\(what)'s blocking")
                        if hook.blocking, on != .afterEdit {
                            throw r.fail(
                                b,
                                "only after_edit hooks can be blocking; \(on) hooks are advisory (checks decide a task)"
                            )
                        }
                    }
                    hooks.append(hook)
                }
                guard hooks.count <= 20 else { throw r.fail(value, "at most 20 hooks") }
                layer.set(.hooks, .hooks(hooks), from: origin(value))
            case "webhooks":  // the user's file only; refused above in a project's
                layer.webhooks = try WebhookEntry.parse(value, r, base: base)
            default:  // keys (the user's file only; refused above in a project's)
                for (k, _, v) in try r.mapping(value, "'keys'") { layer.keys[k] = try r.string(v, "the key \(k)") }
            }
        }
        if case let .share(c)? = layer.values[.compactAt], case let .share(s)? = layer.values[.resetAt], c >= s {
            throw FileError(file: file, message: "context.compact_at (\(c)) must be below context.reset_at (\(s))")
        }
        return layer
    }

    /// `~/…` from the home folder; a relative path from `base`; an absolute one as it is.
    public static func resolve(_ path: String, base: String) -> String {
        if path.hasPrefix("~/") { return NSHomeDirectory() + String(path.dropFirst()) }
        if path.hasPrefix("/") { return path }
        return URL(fileURLWithPath: base).appendingPathComponent(path).standardizedFileURL.path
    }

    /// Whether a key's name says it holds a secret: a word of it is `token`, `secret`, `password`
    /// (`github_token`, `apiSecret`), or it is an API key. A budget's `tokens` is a count, not one.
    static func holdsSecret(_ name: String) -> Bool {
        let lower = name.lowercased()
        if lower.contains("api_key") || lower.contains("apikey") || lower.contains("api-key") { return true }
        var words: [String] = []
        var word = ""
        for c in name {
            if c.isUppercase, !word.isEmpty, word.last?.isLowercase == true {
                words.append(word)
                word = ""
            }
            if c.isLetter || c.isNumber {
                word.append(c)
            } else if !word.isEmpty {
                words.append(word)
                word = ""
            }
        }
        if !word.isEmpty { words.append(word) }
        return words.map { $0.lowercased() }.contains { ["token", "secret", "password", "passwd"].contains($0) }
    }

    /// Names that hold a secret, and values that look like one: a project's file is committed and
    /// read by everyone with the repository, so a key there is refused, pointing to where keys go.
    static func refuseSecrets(
        _ top: [(key: String, keyNode: Node, value: Node)], _ r: YAMLReader, scope: Scope
    ) throws(FileError) {
        guard scope == .project else { return }
        let hint =
            "keys never go in a project's file: use the environment, --key-file, or keys: in ~/.config/nightshift/config.yaml"
        if let keys = top.first(where: { $0.key == "keys" }) { throw r.fail(keys.keyNode, hint) }
        if let hooks = top.first(where: { $0.key == "webhooks" }) {
            throw r.fail(
                hooks.keyNode,
                "webhooks never go in a project's file (each has a secret, and what it starts is yours to choose): put them in ~/.config/nightshift/config.yaml"
            )
        }
        func scan(_ node: Node) throws(FileError) {
            switch node {
            case let .scalar(s):
                let v = s.string
                if ["sk-", "sk_", "xoxb-", "ghp_", "github_pat_", "AKIA"].contains(where: { v.hasPrefix($0) }),
                    v.count >= 16
                {
                    throw r.fail(node, "this looks like a secret; " + hint)
                }
            case let .mapping(m):
                for (k, v) in m {
                    if holdsSecret(k.string ?? "") {
                        throw r.fail(k, "'\(k.string ?? "")' would hold a secret; " + hint)
                    }
                    try scan(v)
                }
            case let .sequence(s): for v in s { try scan(v) }
            case .alias: break
            }
        }
        for entry in top { try scan(entry.value) }
    }
}

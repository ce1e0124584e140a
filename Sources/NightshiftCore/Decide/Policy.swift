import Foundation

/// What the policy gateway does with one proposed tool call.
public enum PolicyEffect: String, Sendable, Codable, Equatable {
    case allow, deny, ask
}

/// One rule: the first rule that matches a call decides it. `tool` is a glob on the tool's name
/// (`shell`, `mcp__github__*`); `command` a glob on a shell command; `path` a glob on a file
/// tool's `path` argument, relative to the workspace (`*` stays within a folder, `**` crosses them).
public struct PolicyRule: Sendable, Codable, Equatable {
    public var effect: PolicyEffect
    public var tool: String
    public var command: String?
    public var path: String?
    public var reason: String?
    /// Where the rule was written ("policy.yaml:12"), so a decision can name it.
    public var origin: String
    public init(
        effect: PolicyEffect, tool: String, command: String? = nil, path: String? = nil, reason: String? = nil,
        origin: String
    ) {
        self.effect = effect
        self.tool = tool
        self.command = command
        self.path = path
        self.reason = reason
        self.origin = origin
    }
}

/// Limits on what a run, or one task of it, may spend. Nil means no limit.
public struct Budget: Sendable, Codable, Equatable {
    public var tokens: Int?
    /// In 10⁻¹² USD, like the cost ledger.
    public var costPicoUSD: Int64?
    public var toolCalls: Int?
    /// Model turns.
    public var steps: Int?
    /// Wall-clock seconds since the run (or task) started, by the log's own timestamps.
    public var wallSeconds: Int?
    public init(
        tokens: Int? = nil, costPicoUSD: Int64? = nil, toolCalls: Int? = nil, steps: Int? = nil, wallSeconds: Int? = nil
    ) {
        self.tokens = tokens
        self.costPicoUSD = costPicoUSD
        self.toolCalls = toolCalls
        self.steps = steps
        self.wallSeconds = wallSeconds
    }
    public var isEmpty: Bool { self == Budget() }
    /// The longest wall-clock budget, in minutes: a century (so minutes × 60 never overflows).
    public static let maxWallMinutes = 100 * 366 * 24 * 60
    /// The most tokens, tool calls or steps a budget may hold: a trillion. More is refused where
    /// it enters (a policy, a profile, a configuration, a model's `spawn_agents`, `nightshift
    /// budget`), so sums of many reservations stay far inside the range.
    public static let maxCount = 1_000_000_000_000
    /// The most a cost budget may hold: $1,000,000 (10¹⁸ picodollars).
    public static let maxCostPicoUSD: Int64 = 1_000_000_000_000_000_000

    /// Why this budget cannot be used (a limit below zero or past the most a budget holds), or nil.
    public var outOfRange: String? {
        for (name, value) in [("tokens", tokens), ("tool_calls", toolCalls), ("steps", steps)] {
            if let value, !(0...Self.maxCount).contains(value) {
                return "\(name) must be 0 … \(Self.maxCount), not \(value)"
            }
        }
        if let c = costPicoUSD, !(0...Self.maxCostPicoUSD).contains(c) {
            return "cost_usd must be 0 … 1000000.00 dollars, not \(Money.format(c))"
        }
        if let w = wallSeconds, !(0...Self.maxWallMinutes * 60).contains(w) {
            return "wall_minutes must be 0 … \(Self.maxWallMinutes) (a century)"
        }
        return nil
    }
}

/// Trip after this many in a row; nil: never.
public struct Breakers: Sendable, Codable, Equatable {
    /// Attempts whose checks failed.
    public var failedChecks: Int?
    /// Tool calls that ended in an error.
    public var toolErrors: Int?
    /// The same tool with the same arguments.
    public var repeatedCall: Int?
    public init(failedChecks: Int? = nil, toolErrors: Int? = nil, repeatedCall: Int? = nil) {
        self.failedChecks = failedChecks
        self.toolErrors = toolErrors
        self.repeatedCall = repeatedCall
    }
}

/// A run's policy: read from a YAML file (NightshiftConfig), recorded in the log whole, and
/// applied by a pure function, so a decision can be replayed and explained from the log alone.
public struct Policy: Sendable, Codable, Equatable {
    public var rules: [PolicyRule]
    /// When no rule matches. Defaults to allow.
    public var defaultEffect: PolicyEffect
    /// Globs of files the worker may not edit, rename or delete (the test ratchet); adding new files is fine.
    public var protectedPaths: [String]
    /// What an edit to a protected file gets: deny (default) or ask.
    public var protectedEffect: PolicyEffect
    public var runBudget: Budget
    public var taskBudget: Budget
    public var breakers: Breakers
    /// OS user names that may approve or deny; empty: anyone who can open the database.
    public var approvers: [String]
    /// Network for sandboxed commands: true allows it, false forbids it even when `--allow-network`
    /// was passed; nil leaves it to that flag. Applies from the next process start (the sandbox is
    /// set up per process), not mid-run like the rules.
    public var network: Bool?
    /// How deep and wide the run's sub-agents may go (`fleet:`); nil: ``FleetLimits``' defaults.
    public var fleet: FleetLimits?
    /// Which memories the worker's `remember` writes straight into the bank (`memory: {write:
    /// {project: [lesson]}}`); anything else it proposes waits for a person. Nil: nothing is direct.
    public var memoryWrites: [MemoryWriteRule]?

    /// Whether `remember` of `kind` into the run's `scope` needs no person.
    public func allowsMemoryWrite(_ scope: MemoryScope.Kind, _ kind: MemoryKind) -> Bool {
        (memoryWrites ?? []).contains { $0.scope == scope && $0.kinds.contains(kind) }
    }
    public init(
        rules: [PolicyRule] = [], defaultEffect: PolicyEffect = .allow, protectedPaths: [String] = [],
        protectedEffect: PolicyEffect = .deny, runBudget: Budget = Budget(), taskBudget: Budget = Budget(),
        breakers: Breakers = Breakers(), approvers: [String] = []
    ) {
        self.rules = rules
        self.defaultEffect = defaultEffect
        self.protectedPaths = protectedPaths
        self.protectedEffect = protectedEffect
        self.runBudget = runBudget
        self.taskBudget = taskBudget
        self.breakers = breakers
        self.approvers = approvers
    }
}

/// A decision and why: which rule (or the default, or the ratchet) and its reason.
public struct PolicyVerdict: Sendable, Equatable {
    public var effect: PolicyEffect
    public var rule: String
    public var reason: String
}

extension Policy {
    /// Decides a call given as its arguments' text (parsed here; the harness passes the call's own parse).
    public func decide(tool: String, arguments: String, traits: ToolTraits, workspace: String? = nil) -> PolicyVerdict {
        decide(tool: tool, arguments: ToolArguments(parsing: arguments), traits: traits, workspace: workspace)
    }

    /// Decides one call. Pure: the same policy and call give the same verdict.
    /// - Parameter workspace: the run's workspace (a real path); an absolute `path` argument inside
    ///   it is judged by its path relative to it, as the file tools resolve it.
    /// - Parameter traits: what the tool's spec declares about its arguments (``ToolTraits``).
    public func decide(
        tool: String, arguments: ToolArguments, traits: ToolTraits, workspace: String? = nil
    ) -> PolicyVerdict {
        let command = traits.contains(.runsCommand) ? arguments.command : nil
        let path = arguments.path.map { Policy.normalize($0, workspace: workspace) }
        if let path, traits.contains(.writesPath),
            let glob = protectedPaths.first(where: { Glob.matches($0, path, pathMode: true) })
        {
            return PolicyVerdict(
                effect: protectedEffect, rule: "protected: \(glob)",
                reason: "\(path) is protected (the test ratchet): add new files instead of changing this one")
        }
        if let command, !protectedPaths.isEmpty,
            let hit = Policy.destructiveMention(command, of: protectedPaths, workspace: workspace)
        {
            return PolicyVerdict(
                effect: protectedEffect, rule: "protected: \(hit.glob)",
                reason: "the command would change \(hit.path), which is protected (the test ratchet)")
        }
        let trimmed = command.map {
            String(decoding: Array($0.trimmingCharacters(in: .whitespacesAndNewlines).utf8), as: UTF8.self)
        }
        // By index: copying each rule (five strings) would cost more than matching it.
        let toolBytes = Array(tool.utf8), commandBytes = trimmed.map { Array($0.utf8) },
            pathBytes = path.map { Array($0.utf8) }
        for i in rules.indices {
            guard Glob.matches(rules[i].tool, toolBytes, pathMode: false) else { continue }
            if let c = rules[i].command {
                guard let commandBytes, Glob.matches(c, commandBytes, pathMode: false) else { continue }
            }
            if let p = rules[i].path {
                guard let pathBytes, Glob.matches(p, pathBytes, pathMode: true) else { continue }
            }
            let rule = rules[i]
            return PolicyVerdict(
                effect: rule.effect, rule: rule.origin,
                reason: rule.reason ?? "\(rule.effect.rawValue) by \(rule.origin)")
        }
        return PolicyVerdict(
            effect: defaultEffect, rule: "default", reason: "no rule matched; the default is \(defaultEffect.rawValue)")
    }

    /// A path argument as the file tools resolve it, lexically (they follow no symbolic link):
    /// relative to the workspace, without `.`, `..` or repeated slashes. Every spelling of one file
    /// in the workspace gives the same string, so a rule cannot be sidestepped by spelling. A path
    /// that leaves the workspace keeps its leading `..` or `/` (no rule for workspace files matches
    /// it, and the tools refuse it).
    public static func normalize(_ path: String, workspace: String? = nil) -> String {
        var relative = Substring(path)
        var absolute = path.hasPrefix("/")
        if absolute, let workspace, !workspace.isEmpty {
            let root = workspace.hasSuffix("/") ? String(workspace.dropLast()) : workspace
            if path == root {
                relative = ""
                absolute = false
            } else if path.hasPrefix(root + "/") {
                relative = path.dropFirst(root.count + 1)
                absolute = false
            }
        }
        var parts: [Substring] = []
        var escapes = 0
        for component in relative.split(separator: "/", omittingEmptySubsequences: true) {
            if component == "." { continue }
            if component == ".." {
                if parts.isEmpty { if !absolute { escapes += 1 } } else { parts.removeLast() }
                continue
            }
            parts.append(component)
        }
        let joined = (Array(repeating: Substring(".."), count: escapes) + parts).joined(separator: "/")
        if absolute { return "/" + joined }
        return joined.isEmpty ? "." : joined
    }

    /// A shell command that deletes, moves, truncates or rewrites a file matching one of `globs`.
    /// A heuristic (shell is a language); the hash check of protected files before a task is
    /// accepted is the guarantee.
    static func destructiveMention(
        _ command: String, of globs: [String], workspace: String? = nil
    ) -> (glob: String, path: String)? {
        let separators: Set<UInt8> = Set(" \t\n;&|()'\"<>".utf8)
        let words = command.utf8.split(whereSeparator: { separators.contains($0) }).map {
            String(decoding: $0, as: UTF8.self)
        }
        let destructive =
            command.utf8.contains(UInt8(ascii: ">"))
            || words.contains { word in
                let name =
                    word.utf8.lastIndex(of: UInt8(ascii: "/")).map { String(word[word.utf8.index(after: $0)...]) }
                    ?? word
                return destructiveVerbs.contains(name)
            }
        guard destructive else { return nil }
        for glob in globs {
            let top = glob.split(separator: "/").first.map(String.init)
            for w in words {
                let candidate = normalize(w, workspace: workspace)
                if !candidate.isEmpty, Glob.matches(glob, candidate, pathMode: true) { return (glob, candidate) }
                // A whole protected folder: `rm -rf tests`.
                if let top, !candidate.contains("*"), candidate == top || candidate == top + "/" {
                    return (glob, candidate)
                }
            }
        }
        return nil
    }

    static let destructiveVerbs: Set<String> = [
        "rm", "mv", "unlink", "truncate", "shred", "sed", "perl", "git", "cp", "tee", "dd", "chmod", "ln",
    ]
}

/// One scope whose memories of these kinds the worker may write without review.
public struct MemoryWriteRule: Sendable, Codable, Equatable {
    public var scope: MemoryScope.Kind
    public var kinds: [MemoryKind]
    public init(scope: MemoryScope.Kind, kinds: [MemoryKind]) {
        self.scope = scope
        self.kinds = kinds
    }
}

import Foundation
public import NightshiftConfig
public import NightshiftCore

/// The settings in force for one command, and where each came from. Precedence, highest first:
/// the command line, the environment (`NIGHTSHIFT_MODEL`, `NIGHTSHIFT_DB`, `NIGHTSHIFT_POLICY`,
/// `NIGHTSHIFT_GUIDANCE`, `NIGHTSHIFT_KEY_FILE`, `NIGHTSHIFT_EMBEDDINGS`), the project's `.nightshift/config.yaml` (found from
/// the working folder up, or `--config FILE`), the user's `config.yaml` under the XDG config folder,
/// and the defaults.
public struct Settings: Sendable {
    /// The layers in precedence order, each with its name.
    public var layers: [(name: String, layer: ConfigLayer)]
    /// The project's configuration file, when one was found or given.
    public var projectFile: String?
    /// The user's configuration file (whether or not it exists).
    public var userFile: String
    /// API keys from the user's file (`keys:`), the last place keys are looked for.
    public var keys: [String: String]

    /// The value in force for `key`, and where it came from.
    public func entry(_ key: ConfigKey) -> (value: ConfigValue, origin: String)? {
        for (_, layer) in layers {
            if let v = layer.values[key] { return (v, layer.origins[key] ?? "") }
        }
        return nil
    }

    public func text(_ key: ConfigKey) -> String? {
        if case let .text(s)? = entry(key)?.value { return s }
        return nil
    }
    public func flag(_ key: ConfigKey) -> Bool? {
        if case let .flag(b)? = entry(key)?.value { return b }
        return nil
    }
    public func number(_ key: ConfigKey) -> Int? {
        if case let .number(n)? = entry(key)?.value { return n }
        return nil
    }
    public func share(_ key: ConfigKey) -> Double? {
        if case let .share(d)? = entry(key)?.value { return d }
        return nil
    }
    /// The folder of agent profiles: the configuration's `agents`, else `agents/` in the project
    /// (the folder holding `.nightshift/`), else in the working folder.
    public var agentsFolder: String {
        if let folder = text(.agents) { return folder }
        if let projectFile {
            let folder = URL(fileURLWithPath: projectFile).deletingLastPathComponent()
            let root = folder.lastPathComponent == ".nightshift" ? folder.deletingLastPathComponent() : folder
            return root.appendingPathComponent("agents").path
        }
        return FileManager.default.currentDirectoryPath + "/agents"
    }

    /// Budgets the configuration sets, by scope.
    public var budgets: [BudgetScope: Budget] {
        var out: [BudgetScope: Budget] = [:]
        if case let .budget(b)? = entry(.runBudget)?.value { out[.run] = b }
        if case let .budget(b)? = entry(.taskBudget)?.value { out[.task] = b }
        return out
    }
    /// Where the budgets came from, for the record.
    public var budgetOrigin: String { entry(.runBudget)?.origin ?? entry(.taskBudget)?.origin ?? "configuration" }

    public var hooks: [Hook] {
        if case let .hooks(h)? = entry(.hooks)?.value { return h }
        return []
    }
    public func list(_ key: ConfigKey) -> [String] {
        if case let .list(l)? = entry(key)?.value { return l }
        return []
    }

    /// The defaults, as a layer: what applies when no source says otherwise.
    public static var defaults: ConfigLayer {
        var d = ConfigLayer()
        d.set(.db, .text(StoreConfig.defaultPath), from: "default")
        d.set(.unsandboxed, .flag(false), from: "default")
        d.set(.allowNetwork, .flag(false), from: "default")
        d.set(.compactAt, .share(0.6), from: "default")
        d.set(.resetAt, .share(0.85), from: "default")
        d.set(.maxAttempts, .number(3), from: "default")
        d.set(.maxTurns, .number(200), from: "default")
        d.set(.worktree, .flag(true), from: "default")
        d.set(.baseline, .flag(true), from: "default")
        d.set(.stopOnBlocked, .flag(false), from: "default")
        return d
    }

    /// The environment variables that set a key, by key.
    public static let environmentNames: [ConfigKey: String] = [
        .model: "NIGHTSHIFT_MODEL", .db: "NIGHTSHIFT_DB", .policy: "NIGHTSHIFT_POLICY",
        .guidance: "NIGHTSHIFT_GUIDANCE", .keyFile: "NIGHTSHIFT_KEY_FILE", .embeddings: "NIGHTSHIFT_EMBEDDINGS",
    ]

    /// Reads every source. `commandLine` holds only what was given on the command line.
    /// - Throws: a ``FileError`` naming the file and line of a bad configuration file, or a
    ///   ``RuntimeError`` for a `--config` file that does not exist.
    public static func resolve(
        commandLine: ConfigLayer, configFile: String? = nil, workingFolder: String? = nil,
        environment: [String: String]? = nil
    ) throws -> Settings {
        let environment = environment ?? ProcessInfo.processInfo.environment
        let cwd = workingFolder ?? FileManager.default.currentDirectoryPath
        var env = ConfigLayer()
        for (key, name) in environmentNames {
            guard let v = environment[name], !v.isEmpty else { continue }
            env.set(key, .text(key.isPath ? ConfigFile.resolve(v, base: cwd) : v), from: name)
        }
        var project = ConfigLayer()
        var projectFile: String?
        if let configFile {
            guard FileManager.default.fileExists(atPath: configFile) else {
                throw RuntimeError(.notFound, "no configuration file at \(configFile) (--config)")
            }
            projectFile = ConfigFile.resolve(configFile, base: cwd)
        } else {
            projectFile = Self.findProjectFile(from: cwd)
        }
        if let projectFile {
            // Paths in a project's file are the project's: from the folder that holds `.nightshift/`.
            let folder = URL(fileURLWithPath: projectFile).deletingLastPathComponent()
            let root = folder.lastPathComponent == ".nightshift" ? folder.deletingLastPathComponent() : folder
            project = try ConfigFile.load(path: projectFile, scope: .project, base: root.path)
        }
        let userFile = Self.userFile(environment)
        var user = ConfigLayer()
        if FileManager.default.fileExists(atPath: userFile) {
            user = try ConfigFile.load(
                path: userFile, scope: .user, base: URL(fileURLWithPath: userFile).deletingLastPathComponent().path)
        }
        return Settings(
            layers: [
                ("command line", commandLine), ("environment", env), ("project", project), ("user", user),
                ("default", defaults),
            ], projectFile: projectFile, userFile: userFile, keys: user.keys)
    }

    /// `.nightshift/config.yaml` in `folder` or the nearest folder above it that has one.
    public static func findProjectFile(from folder: String) -> String? {
        var dir = URL(fileURLWithPath: folder).standardizedFileURL
        while true {
            let candidate = dir.appendingPathComponent(".nightshift/config.yaml").path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
            let up = dir.deletingLastPathComponent()
            if up.path == dir.path { return nil }
            dir = up
        }
    }

    /// `$XDG_CONFIG_HOME/nightshift/config.yaml`, or `~/.config/nightshift/config.yaml`.
    public static func userFile(_ environment: [String: String]) -> String {
        let base = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.config")
        return base + "/nightshift/config.yaml"
    }

    // MARK: - The use cases' values

    public var store: StoreConfig { StoreConfig(db: text(.db) ?? StoreConfig.defaultPath) }

    public var models: ModelConfig {
        var roles: [String] = []
        for (role, key) in ConfigKey.roles {
            if let spec = text(key) { roles.append("\(role)=\(spec)") }
        }
        var m = ModelConfig(model: text(.model), roleModels: roles, keyFile: text(.keyFile), pricing: text(.pricing))
        m.keys = keys
        return m
    }

    public var sandbox: SandboxConfig {
        SandboxConfig(
            unsandboxed: flag(.unsandboxed) ?? false, allowNetwork: flag(.allowNetwork) ?? false,
            readOnlyPaths: list(.readOnly))
    }

    /// Lines for `nightshift config`: every key with its value and source; secrets never shown.
    public var report: [String] {
        var lines: [String] = []
        for key in ConfigKey.allCases {
            guard let (value, origin) = entry(key) else {
                lines.append("\(key.rawValue) = (not set)")
                continue
            }
            lines.append("\(key.rawValue) = \(value)    # \(origin)")
        }
        for name in keys.keys.sorted() { lines.append("keys.\(name) = •••• (masked)    # user") }
        return lines
    }
}

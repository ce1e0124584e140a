import Foundation
public import NightshiftConfig
public import NightshiftCore

/// The settings in force for one command, and where each came from. Precedence, highest first:
/// the command line, the environment (`NIGHTSHIFT_MODEL`, `NIGHTSHIFT_DB`, `NIGHTSHIFT_POLICY`,
/// `NIGHTSHIFT_GUIDANCE`, `NIGHTSHIFT_KEY_FILE`, `NIGHTSHIFT_EMBEDDINGS`), the project's `.nightshift/config.yaml` (found from
/// the working folder up, or `--config FILE`), the user's `config.yaml` under the XDG config folder,
/// and the defaults.
///
/// A project's file that was found (not named with `--config`), and every file a project's file
/// names, configures Nightshift only when a person trusted its exact content (``ConfigTrust``):
/// an agent can write files in a project, and a person's next command must never obey one
/// nobody reviewed.
public struct Settings: Sendable {
    /// The layers in precedence order, each with its name.
    public var layers: [(name: String, layer: ConfigLayer)]
    /// The project's configuration file, when one was found or given.
    public var projectFile: String?
    /// The project file as read (its hash and text), when it is in force.
    public var project: PinnedFile?
    /// Whether the project file was named with `--config` rather than found.
    public var projectNamed = false
    /// A found project file that is not trusted, which this command set aside (only `config` and
    /// `doctor` go on without it, to say so); nil when there is none.
    public var untrusted: RuntimeError?
    /// The user's configuration file (whether or not it exists).
    public var userFile: String
    /// API keys from the user's file (`keys:`), the last place keys are looked for.
    public var keys: [String: String]
    /// The webhooks of the user's own file (a project's may hold none).
    public var webhooks: [WebhookEntry] { layers.first { $0.name == "user" }?.layer.webhooks ?? [] }
    /// Reads the files the settings name, refusing found ones nobody trusted.
    public var trust: ConfigTrust
    /// The folder the settings were resolved from (the command's working folder, or a run
    /// template's workspace): where `agents/` is looked for when no project names one.
    public var workingFolder: String = FileManager.default.currentDirectoryPath

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
        if let projectRoot { return projectRoot + "/agents" }
        return workingFolder + "/agents"
    }

    /// The folder that holds `.nightshift/` (the project's root), when a project file is in force.
    public var projectRoot: String? {
        guard let projectFile else { return nil }
        // From where the file really is: a folder linked into another project is that project.
        let folder = URL(fileURLWithPath: ConfigTrust.key(projectFile)).deletingLastPathComponent()
        return (folder.lastPathComponent == ".nightshift" ? folder.deletingLastPathComponent() : folder).path
    }

    /// Where the file a path setting names came from: named by a person (the command line, the
    /// environment, their own file), or found through a project's file.
    public func provenance(of key: ConfigKey) -> ConfigProvenance {
        for (name, layer) in layers where layer.values[key] != nil {
            let origin = layer.origins[key] ?? name
            return name == "project" ? .found(how: "named in \(origin)") : .named(by: origin)
        }
        // The profiles folder nobody named is found: agents/ in the project or the working folder.
        return key == .agents ? .found(how: "found at \(agentsFolder)") : .named(by: "default")
    }

    /// The file the path setting `key` names, read once and checked (nil when the setting is not set).
    /// - Throws: ``RuntimeError`` `.untrusted` for a found file nobody trusted; `.notFound` when missing.
    public func read(_ key: ConfigKey) throws -> PinnedFile? {
        guard let path = text(key) else { return nil }
        return try trust.read(path, provenance(of: key), what: key.what)
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
        .model: "NIGHTSHIFT_MODEL", .db: "NIGHTSHIFT_DB", .store: "NIGHTSHIFT_STORE",
        .workspaces: "NIGHTSHIFT_WORKSPACES",
        .policy: "NIGHTSHIFT_POLICY",
        .guidance: "NIGHTSHIFT_GUIDANCE", .keyFile: "NIGHTSHIFT_KEY_FILE", .embeddings: "NIGHTSHIFT_EMBEDDINGS",
    ]

    /// Reads every source. `commandLine` holds only what was given on the command line.
    /// - Parameters:
    ///   - trust: the trust store and whether `--trust-project` was given; nil: the person's own
    ///     store (under the XDG config folder), without `--trust-project`.
    ///   - setAsideUntrusted: go on without a found project file nobody trusted, recording why in
    ///     ``untrusted`` (for commands that report on the settings: `config`, `doctor`).
    /// - Throws: a ``FileError`` naming the file and line of a bad configuration file, a
    ///   ``RuntimeError`` for a `--config` file that does not exist, or `.untrusted` for a found
    ///   project file nobody trusted.
    public static func resolve(
        commandLine: ConfigLayer, configFile: String? = nil, workingFolder: String? = nil,
        environment: [String: String]? = nil, trust: ConfigTrust? = nil, setAsideUntrusted: Bool = false
    ) throws -> Settings {
        let environment = environment ?? ProcessInfo.processInfo.environment
        let trust = trust ?? ConfigTrust(store: FileTrustStore(folder: FileTrustStore.defaultFolder(environment)))
        let cwd = workingFolder ?? FileManager.default.currentDirectoryPath
        var env = ConfigLayer()
        for (key, name) in environmentNames {
            guard let v = environment[name], !v.isEmpty else { continue }
            env.set(key, .text(key.isPath ? ConfigFile.resolve(v, base: cwd) : v), from: name)
        }
        var project = ConfigLayer()
        var projectFile: String?
        var pinned: PinnedFile?
        var untrusted: RuntimeError?
        if let configFile {
            guard FileManager.default.fileExists(atPath: configFile) else {
                throw RuntimeError(.notFound, "no configuration file at \(configFile)")
            }
            projectFile = ConfigFile.resolve(configFile, base: cwd)
        } else {
            projectFile = Self.findProjectFile(from: cwd)
        }
        if let file = projectFile {
            // Paths in a project's file are the project's: from the folder that really holds
            // `.nightshift/` (a linked folder does not move the project).
            let folder = URL(fileURLWithPath: ConfigTrust.key(file)).deletingLastPathComponent()
            let root = folder.lastPathComponent == ".nightshift" ? folder.deletingLastPathComponent() : folder
            let provenance: ConfigProvenance =
                configFile != nil ? .named(by: "--config") : .found(how: "found from \(cwd)")
            do {
                let read = try trust.read(file, provenance, what: "the project's configuration")
                project = try ConfigFile.parse(read.text, file: file, scope: .project, base: root.path)
                pinned = read
            } catch let e as RuntimeError where e.code == .untrusted && setAsideUntrusted {
                untrusted = e
                projectFile = nil
            }
        }
        let userFile = Self.userFile(environment)
        var user = ConfigLayer()
        if FileManager.default.fileExists(atPath: userFile) {
            user = try ConfigFile.load(
                path: userFile, scope: .user, base: URL(fileURLWithPath: userFile).deletingLastPathComponent().path)
        }
        var settings = Settings(
            layers: [
                ("command line", commandLine), ("environment", env), ("project", project), ("user", user),
                ("default", defaults),
            ], projectFile: projectFile, userFile: userFile, keys: user.keys, trust: trust)
        settings.project = pinned
        settings.workingFolder = cwd
        settings.projectNamed = configFile != nil
        settings.untrusted = untrusted
        return settings
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

    /// The database: as named, else the default in the project (the folder holding `.nightshift/`),
    /// else in the working folder. One nobody named on the command line, in the environment or in
    /// their own file must be one Nightshift made for them (see ``StoreConfig/mustBeKnownTo``).
    public var store: StoreConfig {
        let origin = layers.first { $0.layer.values[.db] != nil }?.name ?? "default"
        var db = text(.db) ?? StoreConfig.defaultPath
        if origin == "default", let projectRoot { db = projectRoot + "/" + StoreConfig.defaultPath }
        var config = StoreConfig(db: db)
        config.workspaces = text(.workspaces)
        // The nearer source wins between the two: `--db` over a `NIGHTSHIFT_STORE`, a project's
        // `store:` over the user's `db:` (the defaults' `db` never over a `store`).
        let dbRank = layers.firstIndex { $0.name != "default" && $0.layer.values[.db] != nil } ?? layers.count
        let storeRank = layers.firstIndex { $0.layer.values[.store] != nil } ?? layers.count
        if storeRank <= dbRank { config.postgres = text(.store) }
        if origin == "default" || origin == "project" { config.mustBeKnownTo = trust.store }
        return config
    }

    /// The models, keys and prices these settings name. The price list, a file, is read (and
    /// checked like every configuration file) and handed on by content.
    public func modelConfig() throws -> ModelConfig {
        var roles: [String] = []
        for (role, key) in ConfigKey.roles {
            if let spec = text(key) { roles.append("\(role)=\(spec)") }
        }
        var m = ModelConfig(model: text(.model), roleModels: roles, keyFile: text(.keyFile))
        m.pricing = try read(.pricing)
        m.keys = keys
        return m
    }

    public var sandbox: SandboxConfig {
        var config = SandboxConfig(
            unsandboxed: flag(.unsandboxed) ?? false, allowNetwork: flag(.allowNetwork) ?? false,
            readOnlyPaths: list(.readOnly))
        if config.unsandboxed { config.unsandboxedBy = source(of: .unsandboxed) }
        return config
    }

    /// Where the value in force for `key` came from, for the record: `--flag`, an environment
    /// variable, `FILE:LINE (sha256 …, trusted by …)` for a configuration file, or `default`.
    public func source(of key: ConfigKey) -> String {
        for (name, layer) in layers where layer.values[key] != nil {
            let origin = layer.origins[key] ?? name
            if name == "project", let project {
                return "\(origin) (\(trust.describe(project, projectNamed ? .named(by: "--config") : .found(how: ""))))"
            }
            return origin
        }
        return "default"
    }

    /// Every setting in force, with its value and where it came from: what a run records when it starts.
    public var sources: [SettingSource] {
        ConfigKey.allCases.compactMap { key in
            guard let (value, _) = entry(key) else { return nil }
            return SettingSource(key: key.rawValue, value: "\(value)", source: source(of: key))
        }
    }

    /// Lines for `nightshift config`: every key with its value and source; secrets never shown.
    public var report: [String] {
        var lines: [String] = []
        for key in ConfigKey.allCases {
            guard let (value, _) = entry(key) else {
                lines.append("\(key.rawValue) = (not set)")
                continue
            }
            lines.append("\(key.rawValue) = \(value)    # \(source(of: key))")
        }
        for name in keys.keys.sorted() { lines.append("keys.\(name) = •••• (masked)    # user") }
        return lines
    }
}

extension ConfigKey {
    /// What the file a path setting names is, in words ("the policy").
    var what: String {
        switch self {
        case .policy: "the policy"
        case .guidance: "the guidance"
        case .mcp: "the MCP server list"
        case .pricing: "the price list"
        case .agents: "the profiles folder"
        case .keyFile: "the key file"
        default: "the file of \(rawValue)"
        }
    }
}

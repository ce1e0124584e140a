import ArgumentParser
import NightshiftConfig
import NightshiftRuntime

/// Sandbox options shared by `run` and `resume`.
struct SandboxOptions: ParsableArguments {
    @Flag(
        help:
            "Run tool commands and checks without the bubblewrap sandbox. Recorded in the run's log. Only for trusted work."
    )
    var unsandboxed = false

    @Flag(help: "Give sandboxed commands network access (off by default).")
    var allowNetwork = false

    @Option(
        help: ArgumentHelp(
            "Bind a host path read-only into the sandbox (e.g. a toolchain under /opt). Repeatable.", valueName: "PATH")
    )
    var sandboxRo: [String] = []
}

/// Where a process that drives runs makes their worktrees: `run`, `resume` and `worker`.
struct WorkspaceHomeOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            """
            This process's workspace home: the folder it makes runs' worktrees in (default: the configuration's \
            workspaces, else worktrees/ beside the database). A run whose worktree is not on this host is made \
            again here from its branch, with the work committed so far.
            """, valueName: "DIR"))
    var workspaces: String?

    /// Adds the option to the command line's settings layer.
    func add(to layer: inout ConfigLayer) {
        layer.set(.workspaces, workspaces.map { .text($0) }, from: "--workspaces")
    }

    /// The store `options` name, with this workspace home: what a worker (or `serve`) drives runs
    /// in, chosen once for the process.
    func store(_ options: StoreOptions) throws -> StoreConfig {
        var layer = ConfigLayer()
        add(to: &layer)
        var config = try options.settings(layer).store
        config.lockTimeoutSeconds = options.lockTimeout
        return config
    }
}

/// Model options shared by `run` and `resume`.
struct ModelOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            """
            The model for every role: openai:MODEL, anthropic:MODEL, openai-compatible:URL#MODEL \
            (Ollama, vLLM, llama.cpp, LiteLLM, OpenRouter), anthropic-compatible:URL#MODEL, or scripted:FILE \
            (the scripted test double).
            """, valueName: "SPEC"))
    var model: String?

    @Option(
        help: ArgumentHelp(
            "A different model for one role (planner, worker, judge, dreamer). Repeatable.", valueName: "ROLE=SPEC"))
    var roleModel: [String] = []

    @Option(
        help: ArgumentHelp(
            "A file of NAME=VALUE lines with API keys (OPENAI_API_KEY, ANTHROPIC_API_KEY, NIGHTSHIFT_API_KEY). Keys are never written to the log.",
            valueName: "FILE"))
    var keyFile: String?

    @Option(
        help: ArgumentHelp(
            "Price overrides, YAML: MODEL_PREFIX: {input: 2.50, cached_input: 1.25, output: 10} in USD per million tokens.",
            valueName: "FILE"))
    var pricing: String?
}

extension SandboxOptions {
    /// What these flags say, for the settings' command-line layer (a flag can only turn a setting on).
    func add(to layer: inout ConfigLayer) {
        if unsandboxed { layer.set(.unsandboxed, .flag(true), from: "--unsandboxed") }
        if allowNetwork { layer.set(.allowNetwork, .flag(true), from: "--allow-network") }
        if !sandboxRo.isEmpty { layer.set(.readOnly, .list(sandboxRo), from: "--sandbox-ro") }
    }
}

extension ConfigLayer {
    func adding(_ sandbox: SandboxOptions) -> ConfigLayer {
        var layer = self
        sandbox.add(to: &layer)
        return layer
    }
}

extension ModelOptions {
    /// What these options say, for the settings' command-line layer.
    func layer() throws -> ConfigLayer {
        var layer = ConfigLayer()
        layer.set(.model, model.map { .text($0) }, from: "--model")
        for entry in roleModel {
            guard let eq = entry.firstIndex(of: "=") else {
                throw ValidationError("--role-model takes ROLE=SPEC, e.g. judge=anthropic:claude-sonnet-4-5")
            }
            guard let key = ConfigKey.roles.first(where: { $0.role == entry[..<eq] })?.key else {
                throw ValidationError(
                    "--role-model: unknown role '\(entry[..<eq])'; roles are "
                        + ConfigKey.roles.map(\.role).joined(separator: ", "))
            }
            layer.set(key, .text(String(entry[entry.index(after: eq)...])), from: "--role-model")
        }
        layer.set(.keyFile, keyFile.map { .text($0) }, from: "--key-file")
        layer.set(.pricing, pricing.map { .text($0) }, from: "--pricing")
        return layer
    }
}

extension ModelOptions {
    /// For a run that exists: its recorded models and prices stay unless this command line names
    /// others; the key file and keys come from the settings (never from the run's record).
    func forResume(_ settings: Settings) throws -> ModelConfig {
        var m = ModelConfig(model: model, roleModels: roleModel, keyFile: settings.text(.keyFile))
        m.keys = settings.keys
        if let pricing { m.pricing = try settings.trust.read(pricing, .named(by: "--pricing"), what: "the price list") }
        return m
    }
}

extension SandboxOptions {
    /// What these flags add to a run's recorded sandbox.
    var flags: SandboxConfig {
        SandboxConfig(
            unsandboxed: unsandboxed, allowNetwork: allowNetwork, readOnlyPaths: sandboxRo,
            unsandboxedBy: unsandboxed ? "--unsandboxed" : nil)
    }
}

/// How many runs of a fleet this process drives at once.
struct FleetOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            """
            When the run waits for its sub-agents (spawn_agents, wait_agents), drive them in this process, \
            this many runs at once; 0 leaves them to other processes (nightshift worker).
            """, valueName: "N"))
    var concurrency = 4

    func validate() throws {
        guard (0...1000).contains(concurrency) else { throw ValidationError("--concurrency must be 0 … 1000") }
    }
}

/// A length of time as a person types it: `30d`, `12h`, `90m`.
func parseAge(_ text: String, option: String) throws -> Duration {
    guard let unit = text.last, let n = Int(text.dropLast()), n > 0, n <= 3650 * 24 * 60 else {
        throw ValidationError("\(option): '\(text)' is not a time like 30d, 12h or 90m")
    }
    switch unit {
    case "d": return .seconds(n * 86400)
    case "h": return .seconds(n * 3600)
    case "m": return .seconds(n * 60)
    default: throw ValidationError("\(option): '\(text)' is not a time like 30d, 12h or 90m")
    }
}

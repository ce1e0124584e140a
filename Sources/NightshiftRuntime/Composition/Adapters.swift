import Foundation
import Logging
import NightshiftConfig
public import NightshiftCore
public import NightshiftHands
public import NightshiftHarness
public import NightshiftModels
import NightshiftPostgres
public import NightshiftSQLite

#if canImport(Glibc)
import Glibc
#endif

/// The composition root: the one place that picks concrete adapters (SQLite, bubblewrap, the
/// providers, git) from plain configuration and wires them into a harness. The use cases call it;
/// front ends never pick an adapter themselves.
public enum Adapters {
    /// Opens (creating if needed) the event store at `config.db`, or the PostgreSQL database
    /// `config.postgres` names (connected, and its schema made, at its first use). A SQLite file
    /// it creates is recorded as one Nightshift made; an existing one nobody named must be one
    /// (see ``StoreConfig/mustBeKnownTo``).
    public static func openStore(_ config: StoreConfig) throws -> any RunDatabase {
        if let address = config.postgres {
            var logger = Logger(label: "nightshift.postgres")
            // The connection's own chatter stays out of a command's output; failures reach the caller.
            logger.logLevel = .critical
            do { return try PostgresDatabase(address: address, logger: logger) } catch {
                throw RuntimeError(.invalidInput, "store: \(error)")
            }
        }
        let existed = FileManager.default.fileExists(atPath: config.db)
        if existed, let known = config.mustBeKnownTo { try KnownDatabase.require(config.db, known: known) }
        let store = try SQLiteEventStore(
            path: config.db, configuration: .init(busyTimeout: .seconds(config.lockTimeoutSeconds)))
        if !existed, let known = config.mustBeKnownTo { try? KnownDatabase.remember(config.db, in: known) }
        return store
    }

    /// For commands that only look at or continue existing runs: never creates an empty database.
    public static func openExistingStore(_ config: StoreConfig) throws -> any RunDatabase {
        guard config.postgres != nil || FileManager.default.fileExists(atPath: config.db) else {
            throw RuntimeError(
                .notFound,
                "no database at \(config.db): start a run first (nightshift demo, nightshift run) or pass --db")
        }
        return try openStore(config)
    }

    /// Builds the model roster from `--model` and `--role-model`, reading keys from the
    /// environment or a key file. The HTTP client it may create must be shut down by the caller.
    static func models(
        _ options: ModelConfig, recorded: String? = nil, http settings: ModelHTTPSettings = ModelHTTPSettings()
    ) async throws -> (any ModelProvider, ModelHTTPClient?) {
        var defaultSpec = options.model
        var overrides: [(role: Role, spec: String)] = []
        if let recorded {
            let parsed = ModelRoster.parseLabel(recorded)
            defaultSpec = defaultSpec ?? parsed.default
            overrides = parsed.byRole
        }
        for entry in options.roleModels {
            guard let eq = entry.firstIndex(of: "=") else {
                throw RuntimeError(
                    .invalidInput, "--role-model takes ROLE=SPEC, e.g. judge=anthropic:claude-sonnet-4-5")
            }
            let name = String(entry[..<eq])
            guard let role = Role(rawValue: name), Role.configurable.contains(role) else {
                throw RuntimeError(
                    .invalidInput,
                    "--role-model: unknown role '\(name)'; roles are \(Role.configurable.map(\.rawValue).joined(separator: ", "))"
                )
            }
            overrides.removeAll { $0.role == role }
            overrides.append((role, String(entry[entry.index(after: eq)...])))
        }
        guard let defaultSpec else {
            throw RuntimeError(
                .invalidInput, "--model is required, e.g. --model openai:gpt-4o or --model scripted:scenario.yaml")
        }
        let keys = try KeySource(keyFile: options.keyFile, configured: options.keys)
        var pricing = PricingTable.defaults
        if let file = options.pricing {
            pricing = pricing.merging(try PricingFile.parse(file.text, file: file.source))
        }
        var http: ModelHTTPClient?
        func make(_ text: String) throws -> any ModelProvider {
            let spec: ModelSpec
            do { spec = try ModelSpec.parse(text) } catch { throw RuntimeError(.invalidInput, error.message) }
            switch spec {
            case let .scripted(path):
                let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
                return ScriptedModelWithPath(
                    ScriptedModel(scenario: try ScenarioFile.load(path: absolute)), path: absolute)
            case let .openAI(model, url, _):
                let client = http ?? ModelHTTPClient(settings: settings)
                http = client
                return OpenAIProvider(
                    model: model, baseURL: url, key: try keys.key(for: spec), keyHint: keys.hint(for: spec),
                    label: spec.description, http: client, pricing: pricing)
            case let .anthropic(model, url, _):
                let client = http ?? ModelHTTPClient(settings: settings)
                http = client
                return AnthropicProvider(
                    model: model, baseURL: url, key: try keys.key(for: spec), keyHint: keys.hint(for: spec),
                    label: spec.description, http: client, pricing: pricing)
            }
        }
        do {
            let roster = ModelRoster(
                default: try make(defaultSpec), byRole: try overrides.map { ($0.role, try make($0.spec)) })
            return (overrides.isEmpty ? roster.defaultModel : roster, http)
        } catch {
            try? await http?.shutdown()
            throw error
        }
    }

    /// The embeddings endpoint `spec` names (openai:MODEL, openai-compatible:URL#MODEL), with its
    /// key from the environment or the key file (a compatible server may need none).
    static func embedder(_ spec: String, models: ModelConfig, http: ModelHTTPClient) throws -> any Embedder {
        let parsed: ModelSpec
        do { parsed = try ModelSpec.parse(spec) } catch {
            throw RuntimeError(.invalidInput, "embeddings: \(error.message)")
        }
        guard case let .openAI(model, url, _) = parsed else {
            throw RuntimeError(
                .invalidInput,
                "embeddings: '\(spec)' is not an OpenAI-compatible model (openai:MODEL or openai-compatible:URL#MODEL)")
        }
        let keys = try KeySource(keyFile: models.keyFile, configured: models.keys)
        return OpenAIEmbedder(model: model, baseURL: url, key: try keys.key(for: parsed), http: http)
    }

    /// Decides how commands are isolated: bubblewrap when it works here; otherwise only with `--unsandboxed`.
    static func isolation(
        _ options: SandboxConfig, sealed: [String] = [], hidden: [String] = [], policyNetwork: Bool? = nil
    ) throws -> Isolation {
        var limits = SandboxLimits()
        limits.sealedPaths = sealed
        limits.hiddenPaths = hidden
        limits.network = policyNetwork ?? options.allowNetwork  // the policy, when it says, wins over the flag
        limits.readOnlyPaths = options.readOnlyPaths
        // NIGHTSHIFT_BWRAP names a bubblewrap binary elsewhere than /usr/bin.
        switch Isolation.detect(limits: limits, bwrap: ProcessInfo.processInfo.environment["NIGHTSHIFT_BWRAP"]) {
        case let .success(isolation):
            // Says truly who chose it: a flag, or a configuration file (with its line and hash).
            return options.unsandboxed
                ? .none(reason: "unsandboxed by \(options.unsandboxedBy ?? "--unsandboxed")") : isolation
        case let .failure(unavailable):
            guard options.unsandboxed else {
                throw RuntimeError(
                    .unavailable,
                    """
                    cannot sandbox tool commands: \(unavailable.reason). Install bubblewrap (apt-get install bubblewrap), \
                    or pass --unsandboxed to run commands without isolation (recorded in the run's log)
                    """)
            }
            return .none(reason: "unsandboxed by \(options.unsandboxedBy ?? "--unsandboxed") (\(unavailable.reason))")
        }
    }

    /// The built-in tools plus the run's MCP servers, started in the sandbox. Servers that cannot
    /// start are an error before anything is recorded. The caller stops the servers when done.
    static func tools(
        isolation: Isolation, servers: [ToolServer], workspace: String, sealed: [String] = [], hidden: [String] = [],
        git: GitWorkspace.Trust
    ) async throws
        -> (any ToolRunner, [Event], @Sendable () async -> Void)
    {
        let builtin = ToolBox.standard(
            isolation: isolation, sealed: Set(sealed), hidden: hidden,
            git: GitWorkspace(trust: git, sealed: relative(sealed, in: workspace)))
        guard !servers.isEmpty else { return (builtin, [], {}) }
        do {
            let (runner, events) = try await MCPToolRunner.start(
                servers, builtin: builtin, isolation: isolation, workspace: workspace)
            return (runner, events, { await runner.shutdown() })
        } catch {
            throw RuntimeError(.unavailable, error.message)
        }
    }

    /// A harness wired for one run in this process, and how to release what it holds.
    struct Wiring: Sendable {
        let harness: Harness
        let isolation: Isolation
        /// Events the tool servers' start gave (recorded with the run's first commit).
        let started: [Event]
        /// Stops the tool servers and the HTTP client.
        let release: @Sendable () async -> Void
    }

    /// Picks the isolation, the models and the tools (MCP servers started) for a run, and wires a
    /// harness with them. Nothing is left running when it throws.
    static func wire(
        store: any EventStore, models: ModelConfig, recorded: String? = nil, sandbox: SandboxConfig,
        sealed: [String], hidden: [String], policyNetwork: Bool?, servers: [ToolServer], workspace: String,
        git: GitWorkspace.Trust, allowedTools: [String]? = nil, children: (any ChildRunMaker)? = nil,
        settled: SettledRuns? = nil, memories: (any MemoryStore)? = nil, memoryScopes: [MemoryScope]? = nil,
        embeddings: String? = nil, minSimilarity: Double? = nil, observer: (@Sendable (EventEnvelope) -> Void)?
    ) async throws -> Wiring {
        let isolation = try Adapters.isolation(sandbox, sealed: sealed, hidden: hidden, policyNetwork: policyNetwork)
        let (model, modelHTTP) = try await Adapters.models(models, recorded: recorded)
        var memories = memories
        var embeddingsHTTP: ModelHTTPClient?
        if let spec = embeddings, let bank = memories {
            let client = ModelHTTPClient(settings: OpenAIEmbedder.httpSettings)
            embeddingsHTTP = client
            do {
                memories = HybridMemoryStore(
                    base: bank, embedder: try embedder(spec, models: models, http: client), minSimilarity: minSimilarity
                )
            } catch {
                try? await client.shutdown()
                try? await modelHTTP?.shutdown()
                throw error
            }
        }
        let http = modelHTTP
        let tools: (runner: any ToolRunner, started: [Event], stop: @Sendable () async -> Void)
        do {
            tools = try await Adapters.tools(
                isolation: isolation, servers: servers, workspace: workspace, sealed: sealed, hidden: hidden, git: git)
        } catch {
            try? await http?.shutdown()
            try? await embeddingsHTTP?.shutdown()
            throw error
        }
        // `recall` searches the run's own memory scopes; a profile's globs apply to it like any tool.
        let withMemory: any ToolRunner =
            if let memories, let memoryScopes {
                MemoryToolRunner(inner: tools.runner, bank: memories, scopes: memoryScopes)
            } else {
                tools.runner
            }
        let runner: any ToolRunner =
            allowedTools.map { ProfileToolRunner(inner: withMemory, globs: $0) } ?? withMemory
        // A profile that does not allow spawn_agents makes a run that cannot spawn.
        let maker = AgentProfile.allows(allowedTools, ToolSpec.spawnAgents.name) ? children : nil
        let harness = Adapters.harness(
            store: store, model: model, observer: observer, isolation: isolation, tools: runner, git: git,
            sealed: relative(sealed, in: workspace), children: maker, settled: settled, memories: memories)
        let clients = [http, embeddingsHTTP].compactMap { $0 }
        return Wiring(
            harness: harness, isolation: isolation, started: tools.started,
            release: {
                await tools.stop()
                for client in clients { try? await client.shutdown() }
            })
    }

    /// The maker of sub-agents for a run that may spawn the pinned profiles `registry` (empty:
    /// none), or whose plan is worked by a coding fleet's `workers`.
    static func children(
        store: any EventStore, registry: [PinnedProfile], worktreesRoot: String, workers: Bool = false,
        legacy: Bool = false
    ) throws -> (any ChildRunMaker)? {
        ChildRuns(
            store: store, registry: registry, worktreesRoot: worktreesRoot, workers: workers,
            refusal: legacy
                ? "this run was started before runs pinned their agent profiles, so no new sub-agent is made for it "
                    + "(a profile's files may have changed since): start the rest of the work in a new run" : nil,
            workspaces: { workspaces(home: $0) })
    }

    /// Said when a run starts where nothing caps a command's processes.
    static let noProcessCapNotice =
        "warning: nothing caps the processes of a tool command here (no writable pids cgroup, and RLIMIT_NPROC "
        + "does not bind root): a fork bomb is stopped only by the command's timeout. Run as an ordinary user, "
        + "or where the cgroup v2 pids controller is delegated (nightshift doctor says which)"

    /// The workspace provider for a workspace home: git worktrees made with Nightshift's own git.
    static func workspaces(home: String) -> any WorkspaceProvider { GitWorkspaceProvider(home: home) }

    /// Makes the run's git worktree (`remake`: again from scratch, after a crash left it unrecorded); its event for the log.
    static func worktree(
        repository: String, run: RunID, in workspaces: any WorkspaceProvider, remake: Bool = false
    ) -> @Sendable () async throws -> [Event] {
        {
            let w = try await workspaces.provision(repository: repository, run: run, from: nil, remake: remake)
            return [.workspaceProvisioned(path: w.path, branch: w.branch, base: w.commit)]
        }
    }

    public static func harness(
        store: any EventStore, model: any ModelProvider, observer: (@Sendable (EventEnvelope) -> Void)?,
        isolation: Isolation = .none(reason: "inspection only: runs no commands"), tools: (any ToolRunner)? = nil,
        git: GitWorkspace.Trust = .none, sealed: [String] = [], children: (any ChildRunMaker)? = nil,
        settled: SettledRuns? = nil, memories: (any MemoryStore)? = nil
    ) -> Harness {
        let stopAt = ProcessInfo.processInfo.environment["NIGHTSHIFT_TEST_STOP_AFTER_SEQ"].flatMap(Int64.init)
        return Harness(
            store: store, model: model,
            tools: tools ?? ToolBox.standard(isolation: isolation, git: GitWorkspace(trust: git)),
            checks: ShellCheckRunner(isolation: isolation),
            vcs: GitWorkspace(trust: git, sealed: sealed), files: LocalWorkspaceFiles(),
            observer: { envelope in
                observer?(envelope)
                // Test hook (crash tests): freeze right after this event is committed, so the
                // test can SIGKILL the process at an exact event boundary.
                if let stopAt, envelope.seq == stopAt { raise(SIGSTOP) }
            }, children: children, settled: settled, memories: memories)
    }

    /// The context size the worker model's server reports, when it is one people run themselves
    /// (llama.cpp, Ollama) and says; nil otherwise.
    static func serverWindow(_ models: ModelConfig) async -> Int? {
        let worker = models.roleModels.first { $0.hasPrefix("worker=") }.map { String($0.dropFirst(7)) }
        guard let spec = try? ModelSpec.parse(worker ?? ModelRoster.parseLabel(models.model ?? "").default) else {
            return nil
        }
        let key = try? KeySource(keyFile: models.keyFile, configured: models.keys).key(for: spec)
        var settings = ModelHTTPSettings()
        settings.connectTimeout = .seconds(3)
        let http = ModelHTTPClient(settings: settings)
        let window = await ServerContext.window(spec, key: key ?? nil, http: http)
        try? await http.shutdown()
        // A size no window can be (a broken or hostile server) is not believed: the default holds.
        return window.flatMap { LoopSettings.windowRange.contains($0) ? $0 : nil }
    }

    /// The worker model's context window and bytes per token, by provider (the estimate compaction uses).
    /// Local servers get a conservative window; `--context-window` overrides.
    static func contextProfile(model spec: String) -> (window: Int, bytesPerTokenX100: Int) {
        let worker = ModelRoster.parseLabel(spec).default
        if worker.hasPrefix("anthropic") { return (200_000, 350) }
        if worker.hasPrefix("openai:") || worker.hasPrefix("scripted:") { return (128_000, 400) }
        return (32_000, 400)
    }

    /// The paths of `absolute` that lie in `workspace`, relative to it.
    static func relative(_ absolute: [String], in workspace: String) -> [String] {
        absolute.filter { $0.hasPrefix(workspace + "/") }.map { String($0.dropFirst(workspace.count + 1)) }
    }

    /// The run's own policy and guidance files that lie inside its workspace: tools may not change them.
    static func sealed(_ files: [String?], workspace: String) -> [String] {
        files.compactMap { $0 }.filter { isInside($0, workspace) }.map { Workspace.canonical($0) }
    }

    /// Whether `path` lies inside `folder`, both taken by their real paths (a link cannot hide it).
    public static func isInside(_ path: String, _ folder: String) -> Bool {
        let p = Workspace.canonical(path), f = Workspace.canonical(folder)
        return p.hasPrefix(f + "/")
    }

    /// Which git directory Nightshift's own git may use for a run: what was recorded before any
    /// tool ran (a worktree Nightshift made, or the repository of a `--no-worktree` run), never a
    /// `.git` found in the workspace now.
    public static func gitTrust(_ state: RunState) -> GitWorkspace.Trust {
        if state.branch != nil || state.settings.worktreeOf != nil { return .worktree }
        if let git = state.settings.git { return .repository(git) }
        return .none
    }

    /// Nightshift's own files that lie inside the workspace, which the sandbox hides from commands
    /// and the file tools refuse: the database's folder (with its WAL and the worktrees of other
    /// runs), the audit key's folder, a key file.
    /// - Throws: when the database lies directly in the workspace, where hiding its folder would
    ///   hide the whole workspace.
    static func hiddenPaths(
        db: String, workspace: String, keyFile: String?, worktreesRoot: String? = nil
    ) throws -> [String] {
        let ws = Workspace.canonical(workspace)
        let dbFolder = Workspace.canonical(
            URL(fileURLWithPath: db).standardizedFileURL.deletingLastPathComponent().path)
        var hidden: [String] = []
        if dbFolder == ws {
            throw RuntimeError(
                .invalidInput,
                """
                the database \(db) lies directly in the workspace \(ws), where the agent's commands could read and change it: \
                give it a folder of its own (the default, --db .nightshift/nightshift.db, is one) or put it outside the workspace
                """)
        }
        if dbFolder.hasPrefix(ws + "/") { hidden.append(dbFolder) }
        // Other runs' worktrees, when the workspace home lies in this workspace.
        if let worktreesRoot {
            // A link on the way to the home that lies in the workspace is the agent's: it would
            // decide where worktrees are made (anywhere on the host). Refused, not followed.
            if let link = linkInside(worktreesRoot, workspace: ws) {
                throw RuntimeError(
                    .invalidInput,
                    "the workspace home \(worktreesRoot) goes through \(link), a link in the workspace \(ws): "
                        + "remove the link, or set workspaces: outside the workspace")
            }
            let root = Workspace.canonical(worktreesRoot)
            if root == ws {
                throw RuntimeError(
                    .invalidInput,
                    "the workspace home \(root) (workspaces:) is the workspace itself, where the agent could reach every "
                        + "run's worktree: give worktrees a folder of their own")
            }
            if root.hasPrefix(ws + "/"), !hidden.contains(where: { root == $0 || root.hasPrefix($0 + "/") }) {
                // Made now, as a real folder: the sandbox hides what exists when a command starts,
                // and the agent could otherwise put a folder or a link of its own there first.
                try? FileManager.default.createDirectory(
                    atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                var info = stat()
                guard lstat(root, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
                    throw RuntimeError(
                        .invalidInput,
                        "the workspace home \(root) lies in the workspace \(ws) and is not a folder Nightshift can hide "
                            + "(a link, or a file): move it away, or set workspaces: outside the workspace")
                }
                hidden.append(root)
            }
        }
        let keyFolder = URL(fileURLWithPath: AuditKey.defaultPath).deletingLastPathComponent().path
        if isInside(keyFolder, ws) || Workspace.canonical(keyFolder) == ws {
            throw RuntimeError(
                .invalidInput,
                "the audit key's folder \(keyFolder) lies in the workspace \(ws); set XDG_CONFIG_HOME outside it")
        }
        if let keyFile, isInside(keyFile, ws) { hidden.append(Workspace.canonical(keyFile)) }
        return hidden
    }

    /// The first symbolic link on the way to `path` (each folder from the top, as it now is) that
    /// lies inside `workspace` (canonical); nil when there is none.
    static func linkInside(_ path: String, workspace ws: String) -> String? {
        var current = ""
        for part in URL(fileURLWithPath: path).standardizedFileURL.pathComponents.dropFirst() {
            current += "/" + part
            var info = stat()
            guard lstat(current, &info) == 0 else { return nil }  // the rest does not exist yet
            if info.st_mode & S_IFMT == S_IFLNK {
                let parent = Workspace.canonical(URL(fileURLWithPath: current).deletingLastPathComponent().path)
                if parent == ws || parent.hasPrefix(ws + "/") { return current }
                current = Workspace.canonical(current)  // a link outside the workspace (the host's) is followed
            }
        }
        return nil
    }

    /// A policy or guidance file inside the workspace is read once, when the run starts, and never
    /// again: the agent's commands can change files there (moving a sealed file's folder away and
    /// writing a new one), so an edit to it must never take effect. The notice says so once.
    static func frozenNotice(_ file: String, kind: String) -> String {
        """
        note: the \(kind) file \(file) lies in the workspace, where the agent could change it; \
        the version recorded when the run started stays in force and edits to the file are not applied \
        (keep it outside the workspace to edit it during a run)
        """
    }

    /// Runs `body`, then `cleanup` whether or not it threw (an async `defer`).
    static func finally<T>(_ body: () async throws -> T, cleanup: () async -> Void) async throws -> T {
        let result: T
        do { result = try await body() } catch {
            await cleanup()
            throw error
        }
        await cleanup()
        return result
    }

    /// The clock every use case reads when it is not given one.
    public static let clock: any WallClock = SystemClock()

    /// A fresh run id: time-ordered and unique enough for one database.
    public static func newRunID(clock: any WallClock = Adapters.clock) -> RunID {
        let ms = clock.now().milliseconds
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        return RunID("r\(String(ms, radix: 36))\(suffix)")
    }
}

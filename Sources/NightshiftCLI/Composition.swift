import ArgumentParser
import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftHands
import NightshiftHarness
import NightshiftModels
import NightshiftSQLite

#if canImport(Glibc)
import Glibc
#endif

/// The composition root: the one place that picks concrete adapters and wires them.
enum Composition {
    static func openStore(_ options: StoreOptions) throws -> SQLiteEventStore {
        try SQLiteEventStore(path: options.db, configuration: .init(busyTimeout: .seconds(options.lockTimeout)))
    }

    /// For commands that only look at or continue existing runs: never creates an empty database.
    static func openExistingStore(_ options: StoreOptions) throws -> SQLiteEventStore {
        guard FileManager.default.fileExists(atPath: options.db) else {
            throw CLIError(
                "no database at \(options.db): start a run first (nightshift demo, nightshift run) or pass --db")
        }
        return try openStore(options)
    }

    /// Builds the model roster from `--model` and `--role-model`, reading keys from the
    /// environment or a key file. The HTTP client it may create must be shut down by the caller.
    static func models(
        _ options: ModelOptions, recorded: String? = nil
    ) async throws -> (any ModelProvider, ModelHTTPClient?) {
        var defaultSpec = options.model
        var overrides: [(role: Role, spec: String)] = []
        if let recorded {
            let parsed = ModelRoster.parseLabel(recorded)
            defaultSpec = defaultSpec ?? parsed.default
            overrides = parsed.byRole
        }
        for entry in options.roleModel {
            guard let eq = entry.firstIndex(of: "=") else {
                throw CLIError("--role-model takes ROLE=SPEC, e.g. judge=anthropic:claude-sonnet-4-5")
            }
            let name = String(entry[..<eq])
            guard let role = Role(rawValue: name), Role.configurable.contains(role) else {
                throw CLIError(
                    "--role-model: unknown role '\(name)'; roles are \(Role.configurable.map(\.rawValue).joined(separator: ", "))"
                )
            }
            overrides.removeAll { $0.role == role }
            overrides.append((role, String(entry[entry.index(after: eq)...])))
        }
        guard let defaultSpec else {
            throw CLIError("--model is required, e.g. --model openai:gpt-4o or --model scripted:scenario.yaml")
        }
        let keys = try KeySource(keyFile: options.keyFile)
        var pricing = PricingTable.defaults
        if let file = options.pricing { pricing = pricing.merging(try PricingFile.load(path: file)) }
        var http: ModelHTTPClient?
        func make(_ text: String) throws -> any ModelProvider {
            let spec: ModelSpec
            do { spec = try ModelSpec.parse(text) } catch { throw CLIError(error.message) }
            switch spec {
            case let .scripted(path):
                let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
                return ScriptedModelWithPath(
                    ScriptedModel(scenario: try ScenarioFile.load(path: absolute)), path: absolute)
            case let .openAI(model, url, _):
                let client = http ?? ModelHTTPClient()
                http = client
                return OpenAIProvider(
                    model: model, baseURL: url, key: try keys.key(for: spec), keyHint: keys.hint(for: spec),
                    label: spec.description, http: client, pricing: pricing)
            case let .anthropic(model, url, _):
                let client = http ?? ModelHTTPClient()
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

    /// Decides how commands are isolated: bubblewrap when it works here; otherwise only with `--unsandboxed`.
    static func isolation(
        _ options: SandboxOptions, sealed: [String] = [], hidden: [String] = [], policyNetwork: Bool? = nil
    ) throws -> Isolation {
        var limits = SandboxLimits()
        limits.sealedPaths = sealed
        limits.hiddenPaths = hidden
        limits.network = policyNetwork ?? options.allowNetwork  // the policy, when it says, wins over the flag
        limits.readOnlyPaths = options.sandboxRo
        // NIGHTSHIFT_BWRAP names a bubblewrap binary elsewhere than /usr/bin.
        switch Isolation.detect(limits: limits, bwrap: ProcessInfo.processInfo.environment["NIGHTSHIFT_BWRAP"]) {
        case let .success(isolation):
            return options.unsandboxed ? .none(reason: "--unsandboxed was passed") : isolation
        case let .failure(unavailable):
            guard options.unsandboxed else {
                throw CLIError(
                    """
                    cannot sandbox tool commands: \(unavailable.reason). Install bubblewrap (apt-get install bubblewrap), \
                    or pass --unsandboxed to run commands without isolation (recorded in the run's log)
                    """)
            }
            return .none(reason: "--unsandboxed was passed (\(unavailable.reason))")
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
            isolation: isolation, sealed: Set(sealed), hidden: hidden, git: GitWorkspace(trust: git))
        guard !servers.isEmpty else { return (builtin, [], {}) }
        do {
            let (runner, events) = try await MCPToolRunner.start(
                servers, builtin: builtin, isolation: isolation, workspace: workspace)
            return (runner, events, { await runner.shutdown() })
        } catch {
            throw CLIError(error.message)
        }
    }

    /// Makes the run's git worktree (`remake`: again from scratch, after a crash left it unrecorded); its event for the log.
    static func worktree(
        repository: String, run: RunID, worktreesRoot: String, remake: Bool = false
    ) -> @Sendable () async throws -> [Event] {
        {
            let w =
                remake
                ? try await GitWorkspace.remake(repository: repository, run: run, worktreesRoot: worktreesRoot)
                : try await GitWorkspace.provision(repository: repository, run: run, worktreesRoot: worktreesRoot)
            return [.workspaceProvisioned(path: w.path, branch: w.branch, base: w.base)]
        }
    }

    static func harness(
        store: any EventStore, model: any ModelProvider, printer: TimelinePrinter?,
        isolation: Isolation = .none(reason: "inspection only: runs no commands"), tools: (any ToolRunner)? = nil,
        git: GitWorkspace.Trust = .none
    ) -> Harness {
        let stopAt = ProcessInfo.processInfo.environment["NIGHTSHIFT_TEST_STOP_AFTER_SEQ"].flatMap(Int64.init)
        return Harness(
            store: store, model: model,
            tools: tools ?? ToolBox.standard(isolation: isolation, git: GitWorkspace(trust: git)),
            checks: ShellCheckRunner(isolation: isolation),
            vcs: GitWorkspace(trust: git), files: LocalWorkspaceFiles(),
            observer: { envelope in
                printer?.print(envelope)
                // Test hook (crash tests): freeze right after this event is committed, so the
                // test can SIGKILL the process at an exact event boundary.
                if let stopAt, envelope.seq == stopAt { raise(SIGSTOP) }
            })
    }

    /// The worker model's context window and bytes per token, by provider (the estimate compaction uses).
    /// Local servers get a conservative window; `--context-window` overrides.
    static func contextProfile(model spec: String) -> (window: Int, bytesPerTokenX100: Int) {
        let worker = ModelRoster.parseLabel(spec).default
        if worker.hasPrefix("anthropic") { return (200_000, 350) }
        if worker.hasPrefix("openai:") || worker.hasPrefix("scripted:") { return (128_000, 400) }
        return (32_000, 400)
    }

    /// The run's own policy and guidance files that lie inside its workspace: tools may not change them.
    static func sealed(_ files: [String?], workspace: String) -> [String] {
        files.compactMap { $0 }.filter { isInside($0, workspace) }.map { Workspace.canonical($0) }
    }

    /// Whether `path` lies inside `folder`, both taken by their real paths (a link cannot hide it).
    static func isInside(_ path: String, _ folder: String) -> Bool {
        let p = Workspace.canonical(path), f = Workspace.canonical(folder)
        return p.hasPrefix(f + "/")
    }

    /// Which git directory Nightshift's own git may use for a run: what was recorded before any
    /// tool ran (a worktree Nightshift made, or the repository of a `--no-worktree` run), never a
    /// `.git` found in the workspace now.
    static func gitTrust(_ state: RunState) -> GitWorkspace.Trust {
        if state.branch != nil || state.settings.worktreeOf != nil { return .worktree }
        if let git = state.settings.git { return .repository(git) }
        return .none
    }

    /// Nightshift's own files that lie inside the workspace, which the sandbox hides from commands
    /// and the file tools refuse: the database's folder (with its WAL and the worktrees of other
    /// runs), the audit key's folder, a key file.
    /// - Throws: when the database lies directly in the workspace, where hiding its folder would
    ///   hide the whole workspace.
    static func hiddenPaths(db: String, workspace: String, keyFile: String?) throws -> [String] {
        let ws = Workspace.canonical(workspace)
        let dbFolder = Workspace.canonical(
            URL(fileURLWithPath: db).standardizedFileURL.deletingLastPathComponent().path)
        var hidden: [String] = []
        if dbFolder == ws {
            throw CLIError(
                """
                the database \(db) lies directly in the workspace \(ws), where the agent's commands could read and change it: \
                give it a folder of its own (the default, --db .nightshift/nightshift.db, is one) or put it outside the workspace
                """)
        }
        if dbFolder.hasPrefix(ws + "/") { hidden.append(dbFolder) }
        let keyFolder = URL(fileURLWithPath: AuditKey.defaultPath).deletingLastPathComponent().path
        if isInside(keyFolder, ws) || Workspace.canonical(keyFolder) == ws {
            throw CLIError(
                "the audit key's folder \(keyFolder) lies in the workspace \(ws); set XDG_CONFIG_HOME outside it")
        }
        if let keyFile, isInside(keyFile, ws) { hidden.append(Workspace.canonical(keyFile)) }
        return hidden
    }

    /// A policy or guidance file inside the workspace is read once, when the run starts, and never
    /// again: the agent's commands can change files there (moving a sealed file's folder away and
    /// writing a new one), so an edit to it must never take effect. Said once on stderr.
    static func frozenNotice(_ file: String, kind: String) {
        writeErr(
            """
            nightshift: note: the \(kind) file \(file) lies in the workspace, where the agent could change it; \
            the version recorded when the run started stays in force and edits to the file are not applied \
            (keep it outside the workspace to edit it during a run)

            """)
    }

    /// How long a run's lease outlives its holder's last heartbeat. A holder on this host is
    /// checked by its pid at once; the time-to-live is for holders that cannot be checked so.
    static let leaseTTL: Duration = .seconds(30)

    /// Holds `run`'s lease while `body` runs: taken first (a live holder elsewhere makes this a
    /// ``RunBusy``, exit status 5), renewed every ten seconds, released at the end whatever happened.
    /// Every append `body` makes with the lease is fenced: once taken over, this process stops.
    static func withLease<T>(_ run: RunID, store: any EventStore, _ body: (Lease) async throws -> T) async throws -> T {
        let lease: Lease
        do {
            lease = try await store.acquireLease(
                run, holder: LocalProcess.holder, ttl: leaseTTL, isAlive: LocalProcess.isAlive)
        } catch let error as StoreError where error.code == .leaseHeld {
            throw RunBusy(message: error.message)
        }
        // Scoped to this call: cancelled when the body ends. A renewal that finds the lease taken
        // over just stops; the body learns it at its next (fenced) append and stops too.
        let heartbeat = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: leaseTTL / 3)
                if Task.isCancelled { return }
                do { try await store.renewLease(lease) } catch { return }
            }
        }
        defer { heartbeat.cancel() }
        do {
            let result = try await body(lease)
            try? await store.releaseLease(lease)
            return result
        } catch {
            try? await store.releaseLease(lease)
            throw error
        }
    }

    /// When the run's log ends before the head witnessed outside the database: how far it had
    /// reached, and a one-line account of what was lost. Nil when the log is where it was.
    static func rollback(_ run: RunID, store: any EventStore) async throws -> (witnessed: Int64, message: String)? {
        guard let witness = try await store.witnessedHead(of: run), let summary = try await store.summary(of: run)
        else { return nil }
        if witness.seq > summary.headSeq {
            return (
                witness.seq,
                """
                run \(run)'s log ends at event \(summary.headSeq) but it had reached event \(witness.seq) (its head witness beside the \
                database): events \(summary.headSeq + 1)–\(witness.seq) were lost, likely with the database's -wal file, and what \
                they did may have happened; restore the lost file and try again
                """
            )
        }
        // A head that cannot be read is the chain's problem, which verification reports in its own words.
        if witness.seq == summary.headSeq,
            let head = (try? await store.read(run, after: max(witness.seq - 1, 0), limit: 1))?.last,
            head.hash.hex != witness.hash
        {
            return (
                witness.seq,
                "run \(run)'s event \(witness.seq) is not the one its head witness recorded: the log was replaced or rewritten"
            )
        }
        return nil
    }

    /// For a run the database does not have: what its witness says, when it has one.
    static func lostRun(_ run: RunID, store: any EventStore) async throws -> String? {
        guard let witness = try await store.witnessedHead(of: run) else { return nil }
        return """
            the database has no run \(run), but its head witness says it had reached event \(witness.seq): its log was lost \
            (a deleted -wal file, or an older copy of the database); its effects may remain in its workspace
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

    /// A fresh run id: time-ordered and unique enough for one database.
    static func newRunID() -> RunID {
        let ms = Int64(Date().timeIntervalSince1970 * 1000)
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        return RunID("r\(String(ms, radix: 36))\(suffix)")
    }
}

/// Where API keys come from: the environment, or a key file of `NAME=VALUE` lines (which wins).
struct KeySource {
    var fromFile: [String: String] = [:]
    let file: String?

    init(keyFile: String?) throws {
        file = keyFile
        guard let keyFile else { return }
        guard let text = try? String(contentsOfFile: keyFile, encoding: .utf8) else {
            throw CLIError("cannot read the key file \(keyFile)")
        }
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.isEmpty || t.hasPrefix("#") { continue }
            guard let eq = t.firstIndex(of: "=") else { throw CLIError("\(keyFile):\(n + 1): expected NAME=VALUE") }
            fromFile[String(t[..<eq]).replacingOccurrences(of: "export ", with: "")] = String(t[t.index(after: eq)...])
                .trimmingCharacters(in: CharacterSet(charactersIn: "\"' "))
        }
    }

    func key(for spec: ModelSpec) throws -> Secret? {
        guard let variable = spec.keyVariable else { return nil }
        if let v = fromFile[variable] ?? ProcessInfo.processInfo.environment[variable], !v.isEmpty { return Secret(v) }
        if spec.keyRequired {
            throw CLIError("\(variable) is not set: export it, or pass --key-file FILE with a line \(variable)=…")
        }
        return nil
    }

    func hint(for spec: ModelSpec) -> String {
        (spec.keyVariable ?? "the API key") + (file.map { " (in \($0) or the environment)" } ?? "")
    }
}

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
            "A different model for one role (planner, worker, judge). Repeatable.", valueName: "ROLE=SPEC"))
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

/// The scripted model, labelled with the scenario's full path so `resume` can find it again.
struct ScriptedModelWithPath: ModelProvider {
    let inner: ScriptedModel
    let path: String
    init(_ inner: ScriptedModel, path: String) {
        self.inner = inner
        self.path = path
    }
    var label: String { "scripted:\(path)" }
    func respond(to request: ModelRequest) async throws -> ModelResponse { try await inner.respond(to: request) }
}

/// Another live process drives the run; exits 5, so scripts can tell "busy" from a failure.
struct RunBusy: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// A one-line error for the user; exits 1.
public struct CLIError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Maps a stop reason to the documented exit status.
func exitStatus(for reason: StopReason) -> ExitCode {
    switch reason {
    case .finished: .success
    case .paused: ExitCode(3)
    case .failed: ExitCode(4)
    }
}

/// Prints errors the way every command does: one line on stderr, no stack trace.
public func reportErrors<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch let e as ExitCode { throw e } catch let e as CleanExit { throw e } catch let e
        as ValidationError
    {
        throw e
    } catch let e as RunBusy {
        writeErr("nightshift: \(e.message)\n")
        throw ExitCode(5)
    } catch let e as StoreError where e.code == .leaseLost {
        writeErr("nightshift: \(e.message)\n")
        throw ExitCode(5)
    } catch {
        writeErr("nightshift: error: \(error)\n")
        throw ExitCode.failure
    }
}

/// Writes a line to stdout unbuffered, so lines from every part of the CLI stay in order.
public func say(_ text: String = "") {
    writeOut((text + "\n"))
}

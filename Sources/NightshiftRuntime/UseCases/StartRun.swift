import Foundation
import NightshiftConfig
public import NightshiftCore
import NightshiftHands
import NightshiftHarness
import NightshiftModels
import NightshiftSQLite

/// Everything a new run is made from, as plain values.
public struct StartRequest: Sendable {
    /// A plan (tasks with checks), or a goal the planner role turns into one.
    public enum Source: Sendable {
        case plan(Plan)
        case goal(String)
    }
    public var source: Source
    /// The folder the agent works in. A git repository gets a worktree of its own unless `useWorktree` is off.
    public var workspace: String
    public var id: RunID?
    public var useWorktree = true
    /// MCP servers whose tools the model may use; recorded in the run so resume restarts them.
    public var servers: [ToolServer] = []
    /// The policy, as read (and checked) from its file: recorded by content. Its file is watched
    /// for a new version a person trusted when it lies outside the workspace.
    public var policy: PinnedFile?
    /// The guidance, as read from its file, in every context.
    public var guidance: PinnedFile?
    public var reviewPlan = false
    public var baseline = true
    /// The worker's window in tokens; nil: what a self-run server says it has (llama.cpp, Ollama),
    /// else by provider.
    public var contextWindow: Int?
    /// The most tokens a model's answer may take; nil: 4,096 (the brief roles half of it).
    public var maxOutput: Int?
    public var compactAt = 0.6
    public var resetAt = 0.85
    public var maxAttempts = 3
    public var maxTurns = 200
    public var stopOnBlocked = false
    /// The project's hooks, recorded in the run (a resumed run keeps them).
    public var hooks: [Hook] = []
    /// Budgets over the policy's, recorded as `budget_set` when the run starts (`by` says where from).
    public var budgets: [BudgetScope: Budget] = [:]
    public var budgetsFrom = "configuration"
    /// The agent profile the run is started from: recorded with its version; its tools are the
    /// only ones offered (the caller has applied its model, guidance, policy and budget).
    public var profile: PinnedProfile?
    /// The folder the profiles were read from (for people; never read again).
    public var agentsFolder: String?
    /// The profiles the run may spawn sub-agents as (`spawn_agents`), pinned: the run and its
    /// sub-agents spawn from these, never from the folder again. Empty: it cannot spawn.
    public var profiles: [PinnedProfile] = []
    /// Nightshift's configuration files and folders (the project's `.nightshift`, the profiles
    /// folder, the policy, guidance and the files profiles name): sealed where they lie in the workspace.
    public var configurationPaths: [String] = []
    /// Every setting in force, with where it came from: recorded in the run.
    public var sources: [SettingSource] = []
    /// The policy was named by the person on the command line or in the environment: sub-agents keep it.
    public var policyNamed = false
    /// Where a changed policy or guidance file must be trusted before it applies; nil: nothing
    /// applies after the start.
    public var trust: (any TrustStore)?
    /// When the run waits for its sub-agents, drive them in this process, this many at once
    /// (0: leave them to other processes, e.g. `nightshift worker`).
    public var fleetConcurrency = 4
    /// A coding fleet: hand the plan's tasks to up to this many worker sub-agents at once, each in
    /// its own worktree, and merge their branches one at a time (the merge queue). Nil: the run
    /// works through its tasks itself. Needs a git repository (a worktree).
    public var workers: Int?
    /// Who starts the run: their memories (`user:NAME`) are among those its shifts are shown.
    public var user: String?
    /// What started the run when no person at a terminal did; recorded in `run_created`.
    public var trigger: RunTrigger?
    /// Show each shift the top memories of the run's scopes (the project, the user, the profile).
    public var memory = true
    /// The embeddings model for hybrid memory search (configuration `embeddings`); nil: full-text alone.
    public var embeddings: String?
    /// The vector hits' floor for hybrid search (configuration `embeddings.min_similarity`); nil: 0.2.
    public var embeddingsMinSimilarity: Double?
    public var store = StoreConfig()
    public var models = ModelConfig()
    public var sandbox = SandboxConfig()

    public init(source: Source, workspace: String = ".") {
        self.source = source
        self.workspace = workspace
    }

    /// Why these settings cannot make a run, in the words of the CLI's options; nil when they can.
    public var problem: String? {
        if case .plan = source, reviewPlan { return Self.reviewOwnPlan }
        guard (0.05...0.99).contains(compactAt), (0.05...0.99).contains(resetAt), compactAt < resetAt else {
            return
                "--compact-at and --reset-at are shares of the window between 0.05 and 0.99, and --compact-at must be below --reset-at"
        }
        if let contextWindow, !LoopSettings.windowRange.contains(contextWindow) {
            return "--context-window must be 2000 … 1000000000 tokens"
        }
        if let maxOutput, !(256...1_000_000).contains(maxOutput) { return "--max-output must be 256 … 1000000 tokens" }
        if let contextWindow, let maxOutput, maxOutput * 2 > contextWindow {
            return
                "--max-output (\(maxOutput)) must leave at least half of the window (\(contextWindow)) to the request"
        }
        guard maxAttempts >= 1 else { return "--max-attempts must be at least 1" }
        guard maxTurns >= 1 else { return "--max-turns must be at least 1" }
        if let id, !Self.isValidID(id.rawValue) { return "--id must be letters, digits, '-', '_' or '.'" }
        if let workers {
            guard (1...Self.maxWorkers).contains(workers) else { return "--workers must be 1 … \(Self.maxWorkers)" }
            guard useWorktree else {
                return "--workers needs worktrees (each worker works on its own branch): drop --no-worktree"
            }
        }
        if !budgets.isEmpty, policy == nil {
            return
                "the budgets set by \(budgetsFrom) apply under a policy: set policy: too (nightshift init writes one)"
        }
        return nil
    }

    /// The most workers one coding fleet runs at once.
    public static let maxWorkers = 64

    public static let reviewOwnPlan =
        "--review-plan is for a plan the planner makes (--goal); review your own plan file before running it"

    static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) }
    }
}

/// Starting a run: checks everything that can be checked before anything is made (the plan,
/// the policy, the guidance, the workspace, where the database lies, the sandbox, the models, the
/// tool servers), takes the run's lease before the run exists, records it, and drives it until it
/// finishes, fails or pauses.
public enum StartRun {
    public static func start(_ request: StartRequest, observer: RunObserver) async throws -> RunOutcome {
        try await start(request, observer: observer, open: { try Adapters.openStore(request.store) })
    }

    /// - Parameter open: the store, opened once the checks that must come before it are done
    ///   (a ``Runtime`` hands its own).
    /// - Parameter recorded: called once the run is recorded (its first events are in the log),
    ///   before it is driven: a caller may answer with the run's id while the drive goes on.
    static func start(
        _ request: StartRequest, observer: RunObserver, open: () throws -> any RunDatabase,
        recorded: @Sendable (RunID) -> Void = { _ in }
    ) async throws -> RunOutcome {
        if let problem = request.problem { throw RuntimeError(.invalidInput, problem) }
        // A bad policy or guidance fails before anything is made.
        if let policy = request.policy { _ = try PolicyWatcher.event(policy, workspace: "/") }
        let guidanceEvent = try request.guidance.map { try GuidanceFile.event($0) }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: request.workspace, isDirectory: &isDir), isDir.boolValue else {
            throw RuntimeError(
                .notFound,
                "the workspace \(request.workspace) does not exist or is not a folder: create it or pass another --workspace"
            )
        }
        // The real path: the policy gateway judges absolute paths against it, as the file tools do.
        var ws = Workspace.canonical(request.workspace)
        let repository = request.useWorktree ? await GitWorkspace.repositoryRoot(ws) : nil
        let keyFile = request.models.keyFile
        // Working in the folder itself: refuse a database that would lie in the agent's reach
        // before the database is made (a worktree lies elsewhere; checked again below).
        if repository == nil {
            _ = try Adapters.hiddenPaths(
                db: request.store.db, workspace: ws, keyFile: keyFile, worktreesRoot: request.store.worktreesRoot)
        }
        let store = try open()
        let runID = request.id ?? Adapters.newRunID()
        if try await store.summary(of: runID) != nil {
            throw RuntimeError(.exists, "a run with id \(runID) already exists in \(request.store.location)")
        }
        // A run of this id whose log was lost is reported, never silently started anew.
        if let lost = try await Leasing.lostRun(runID, store: store) {
            throw RuntimeError(.lost, lost + "; choose another run id")
        }
        // A git repository gets a worktree of its own, beside the database: the user's checkout is never touched.
        // It is made while the first model call is in flight (the harness waits for it before any tool runs).
        var announce: [Event] = []
        var provision: (@Sendable () async throws -> [Event])?
        var worktreeOf: String?
        var gitLocation: RunSettings.GitLocation?
        if let repository {
            let workspaces = Adapters.workspaces(home: request.store.worktreesRoot)
            ws = workspaces.path(of: runID)
            worktreeOf = repository
            let make = Adapters.worktree(repository: repository, run: runID, in: workspaces)
            if request.servers.isEmpty {
                provision = make
            } else {
                // MCP servers run in the workspace and their tools are needed for the first call: make it first.
                announce += try await make()
            }
        } else {
            // Working in the folder itself: its repository, if any, is fixed now, before any tool
            // runs; Nightshift's git never looks for a `.git` there again.
            gitLocation = await GitWorkspace.discover(ws)
        }
        if request.workers != nil, worktreeOf == nil {
            throw RuntimeError(
                .invalidInput,
                "--workers needs the workspace to be in a git repository with a commit: each worker works on a branch "
                    + "of its own and the merge queue merges them (git init, commit, and run again)")
        }
        let gitTrust: GitWorkspace.Trust =
            worktreeOf != nil ? .worktree : gitLocation.map { .repository($0) } ?? .none
        let hidden = try Adapters.hiddenPaths(
            db: request.store.db, workspace: ws, keyFile: keyFile, worktreesRoot: request.store.worktreesRoot)
        let policyEvent = try request.policy.map { try PolicyWatcher.event($0, workspace: ws) }
        // Nightshift's configuration as it lies in this workspace (a worktree holds the repository's
        // copy): the agent may read it, never change it.
        // (A worktree holds the repository's files at their paths from its top; a folder worked in
        // place seals only what lies in it.)
        let sealedPaths = Sealing.paths(request.configurationPaths, workspace: ws, source: worktreeOf)
        let sealed = Sealing.absolute(sealedPaths, workspace: ws)
        let agentsFolder = request.agentsFolder.map { Workspace.canonical($0) }
        let children = try Adapters.children(
            store: store, registry: request.profiles, worktreesRoot: request.store.worktreesRoot,
            workers: request.workers != nil)
        let policyNetwork: Bool? = if case let .policySet(p, _, _, _)? = policyEvent { p.network } else { nil }
        // The run's memory scopes. The project is the repository (a worktree's and its own
        // checkout's memories are one bank).
        var memory: MemorySettings?
        if request.memory {
            var scopes = [MemoryScope(.project, worktreeOf ?? gitLocation?.workTree ?? ws)]
            if let user = request.user { scopes.append(MemoryScope(.user, user)) }
            if let profile = request.profile { scopes.append(MemoryScope(.agent, profile.name)) }
            memory = MemorySettings(
                scopes: scopes, embeddings: request.embeddings,
                minSimilarity: request.embeddings == nil ? nil : request.embeddingsMinSimilarity)
        }
        let wiring = try await Adapters.wire(
            store: store, models: request.models, sandbox: request.sandbox, sealed: sealed, hidden: hidden,
            policyNetwork: policyNetwork, servers: request.servers, workspace: ws, git: gitTrust,
            allowedTools: request.profile?.tools, children: children, memories: store.memoryBank,
            memoryScopes: memory?.scopes, embeddings: memory?.embeddings, minSimilarity: memory?.minSimilarity,
            observer: observer.event)
        let (harness, isolation) = (wiring.harness, wiring.isolation)
        let profile = Adapters.contextProfile(model: request.models.model ?? "")
        // A server people run themselves says how large its context is: the run's window is that.
        var sources = request.sources
        var window = request.contextWindow
        if window == nil, let reported = await Adapters.serverWindow(request.models) {
            window = reported
            sources.append(
                SettingSource(
                    key: "context.window", value: "\(reported)", source: "the model's server (its context size)"))
        }
        var loop = LoopSettings(
            baseline: request.baseline, reviewPlan: request.reviewPlan,
            contextWindow: window ?? profile.window, compactAtPercent: Int(request.compactAt * 100),
            resetAtPercent: Int(request.resetAt * 100), bytesPerTokenX100: profile.bytesPerTokenX100)
        loop.maxOutputTokens = request.maxOutput
        if let cap = request.maxOutput, cap * 2 > loop.contextWindow {
            throw RuntimeError(
                .invalidInput,
                "the model's window (\(loop.contextWindow) tokens) is too small for answers of up to "
                    + "\(loop.maxOutput(.worker)) tokens: lower context.max_output (--max-output) to at most half of it"
            )
        }
        var settings = RunSettings(
            maxAttempts: request.maxAttempts, stopOnBlocked: request.stopOnBlocked,
            maxTurnsPerAttempt: request.maxTurns, toolServers: request.servers.isEmpty ? nil : request.servers,
            worktreeOf: worktreeOf, loop: loop, git: gitLocation, hooks: request.hooks.isEmpty ? nil : request.hooks)
        settings.profile = request.profile?.reference
        if let children, !children.profiles.isEmpty {
            settings.agents = agentsFolder
            settings.pinnedProfiles = request.profiles
        }
        settings.workers = request.workers
        settings.memory = memory
        settings.pricing = request.models.pricing
        settings.sandbox = request.sandbox.choice
        settings.sealed = sealedPaths
        settings.sources = sources.isEmpty ? nil : sources
        settings.trigger = request.trigger
        if request.policyNamed, request.policy != nil { settings.policyNamed = true }
        let reason = try await Adapters.finally(
            {
                // The lease before the run exists: no other process can start driving it in between.
                try await Leasing.withLease(runID, store: store) { lease in
                    switch request.source {
                    case let .plan(plan):
                        try await harness.create(
                            runID, title: plan.title, plan: plan, workspace: ws, settings: settings)
                    case let .goal(goal):
                        let title = String(goal.split(separator: "\n").first?.prefix(80) ?? "goal")
                        try await harness.create(runID, title: title, goal: goal, workspace: ws, settings: settings)
                    }
                    recorded(runID)
                    var watcher: PolicyWatcher?
                    if let policy = request.policy {
                        if Adapters.isInside(policy.source, ws) {
                            observer.notice(Adapters.frozenNotice(policy.source, kind: "policy"))
                        } else if let trust = request.trust {
                            watcher = PolicyWatcher(
                                path: policy.source, recordedHash: policy.sha256, workspace: ws, trust: trust,
                                notice: observer.notice)
                        }
                    }
                    if let guidance = request.guidance, Adapters.isInside(guidance.source, ws) {
                        observer.notice(Adapters.frozenNotice(guidance.source, kind: "guidance"))
                    }
                    if !Isolation.processCapAvailable(isolation) {
                        observer.notice(Adapters.noProcessCapNotice)
                    }
                    return try await harness.drive(
                        runID,
                        announce: (policyEvent.map { [$0] } ?? []) + (guidanceEvent.map { [$0] } ?? [])
                            + BudgetScope.allCases.compactMap { scope in
                                request.budgets[scope].map {
                                    Event.budgetSet(scope: scope, budget: $0, by: request.budgetsFrom)
                                }
                            } + announce
                            + [.isolationSet(mode: isolation.label)] + wiring.started,
                        provision: provision, policyChanges: PolicyWatcher.hook(watcher), lease: lease)
                }
            },
            cleanup: wiring.release)
        let outcome = RunOutcome(run: runID, reason: reason, alreadyEnded: false)
        guard request.fleetConcurrency > 0 else { return outcome }
        var template = ResumeRequest(run: runID, by: "nightshift (pid \(getpid()))")
        template.store = request.store
        // Sub-agents keep the models, prices and sandbox recorded in their own logs.
        template.models = ModelConfig(keyFile: request.models.keyFile)
        template.models.keys = request.models.keys
        template.trust = request.trust
        return try await DriveFleet.after(
            outcome, store: store, template: template, concurrency: request.fleetConcurrency, observer: observer)
    }
}

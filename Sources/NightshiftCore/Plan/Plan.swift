/// A plan: ordered tasks, each with machine-checkable acceptance checks. The plan is fixed
/// before work starts and lives in the log, so the worker cannot rewrite its done-condition.
public struct Plan: Sendable, Codable, Equatable {
    /// Tasks one plan may have (a file's, or the planner's).
    public static let maxTasks = 200
    /// Checks one task may have; each runs at every done claim.
    public static let maxChecksPerTask = 50

    public var title: String
    public var tasks: [PlanTask]
    /// A shell script the harness runs once in the workspace before the baseline (installs, fixtures).
    public var initScript: String?
    /// Plan-wide regression checks (a whole test suite): those that pass at the baseline must keep
    /// passing for any task to be accepted; those that already fail are recorded and do not block.
    public var guards: [Check]?
    public init(title: String, tasks: [PlanTask], initScript: String? = nil, guards: [Check]? = nil) {
        self.title = title
        self.tasks = tasks
        self.initScript = initScript
        self.guards = guards
    }
}

public struct PlanTask: Sendable, Codable, Equatable {
    public var id: TaskID
    public var description: String
    /// Run by the harness (never the model) once the worker claims the task done.
    public var checks: [Check]
    /// Qualities a check cannot see ("the error message names the file"), graded by the judge role
    /// from artifacts only. A task with rubric items needs the judge's pass as well as its checks.
    public var rubric: [String]?
    /// Tasks that must be done before this one starts (a coding fleet hands a task to a worker
    /// only once they are merged). Nil: none; a task that depends on a blocked one is blocked.
    public var after: [TaskID]?
    public init(id: TaskID, description: String, checks: [Check], rubric: [String]? = nil, after: [TaskID]? = nil) {
        self.id = id
        self.description = description
        self.checks = checks
        self.rubric = rubric
        self.after = after
    }
}

/// A shell command run in the workspace whose exit status decides pass or fail.
public struct Check: Sendable, Codable, Equatable {
    public var command: String
    /// The exit status that counts as a pass. Defaults to 0.
    public var expectExit: Int32
    /// Seconds before the check is killed and counted as failed. Defaults to 120.
    public var timeoutSeconds: Int
    /// Declared as a guard: expected to pass already and to keep passing. A check that is not a
    /// guard and already passes at the baseline is no evidence of progress.
    public var alreadyPasses: Bool?
    public init(command: String, expectExit: Int32 = 0, timeoutSeconds: Int = 120, alreadyPasses: Bool? = nil) {
        self.command = command
        self.expectExit = expectExit
        self.timeoutSeconds = timeoutSeconds
        self.alreadyPasses = alreadyPasses
    }
}

/// Settings fixed when a run is created and recorded in its first event.
public struct RunSettings: Sendable, Codable, Equatable {
    /// How many times the worker may claim a task done before the task is blocked. Defaults to 3.
    public var maxAttempts: Int
    /// Whether a blocked task stops the run (true) or the run goes on to the next task. Defaults to false.
    public var stopOnBlocked: Bool
    /// Model turns allowed in one attempt before it counts as failed. Defaults to 200.
    public var maxTurnsPerAttempt: Int
    /// MCP servers whose tools the model is offered besides the built-in ones. Nil (the key is
    /// absent) when the run has none, so logs written before servers existed read the same.
    public var toolServers: [ToolServer]?
    /// The git repository the run's workspace is a worktree of, when it is one. The worktree is
    /// made while the first model call is in flight; a run that died before it was recorded as
    /// made (`workspace_provisioned`) gets it made on resume from this.
    public var worktreeOf: String?
    /// The planner / worker / judge loop: baseline and ratchet, judge, shifts and compaction. Nil
    /// (logs written before it existed, and bare harness runs) keeps the plain check loop.
    public var loop: LoopSettings?
    /// For a run that works in an existing repository directly (`--no-worktree`): its git
    /// directory and work tree, found before any tool ran. Nightshift's own git uses exactly
    /// these and never looks for a `.git` in the workspace again (the agent could make one).
    /// Nil for worktree runs (their `.git` file is Nightshift's) and for folders not under git.
    public var git: GitLocation?
    /// The project's hooks (see ``Hook``); nil when it has none, so earlier logs read the same.
    public var hooks: [Hook]?
    /// The agent profile the run was started from, with its version; nil for a run without one.
    public var profile: AgentProfile.Reference?
    /// For a sub-agent: the run that spawned it; nil for a root run.
    public var parent: ParentLink?
    /// The folder of agent profiles its `spawn_agents` draws on (recorded so a resumed run spawns
    /// from the same registry); nil: it cannot spawn.
    public var agents: String?
    /// A coding fleet: the plan's tasks are handed to up to this many worker sub-agents at once,
    /// each in its own worktree, and their work is merged one at a time by the merge queue. Nil:
    /// the run works through its tasks itself, one at a time.
    public var workers: Int?
    /// The memory scopes the run reads (the top memories for each shift's task go into its
    /// context); nil: it reads no memories.
    public var memory: MemorySettings?
    /// The agent profiles the run may spawn, as they were when its fleet's root started (a
    /// sub-agent that may spawn gets a copy); nil: none pinned (logs written before profiles were
    /// pinned, whose runs spawn nothing new).
    public var pinnedProfiles: [PinnedProfile]?
    /// The price overrides in force when the run started; nil: the shipped list prices.
    public var pricing: PinnedFile?
    /// How commands are isolated, as chosen when the run started; nil for logs written before it
    /// was recorded (their resumes start from the defaults).
    public var sandbox: SandboxChoice?
    /// Workspace-relative paths of Nightshift's configuration (`.nightshift`, the profiles folder,
    /// the policy and guidance files) that the agent may read but never change.
    public var sealed: [String]?
    /// Every setting in force when the run started, with where it came from.
    public var sources: [SettingSource]?
    /// The run's policy was named by the person on the command line or in the environment: its
    /// sub-agents keep it over their profiles' policies, as a run started as a profile does.
    public var policyNamed: Bool?
    /// What started the run when no person at a terminal did (the API, a webhook, a schedule);
    /// nil for a run a person started.
    public var trigger: RunTrigger?
    public init(
        maxAttempts: Int = 3, stopOnBlocked: Bool = false, maxTurnsPerAttempt: Int = 200,
        toolServers: [ToolServer]? = nil,
        worktreeOf: String? = nil, loop: LoopSettings? = nil, git: GitLocation? = nil, hooks: [Hook]? = nil
    ) {
        self.hooks = hooks
        self.maxAttempts = maxAttempts
        self.stopOnBlocked = stopOnBlocked
        self.maxTurnsPerAttempt = maxTurnsPerAttempt
        self.toolServers = toolServers
        self.worktreeOf = worktreeOf
        self.loop = loop
        self.git = git
    }

    /// Where a repository keeps its git directory, and the top of its work tree.
    public struct GitLocation: Sendable, Codable, Equatable {
        public var gitDir: String
        public var workTree: String
        public init(gitDir: String, workTree: String) {
            self.gitDir = gitDir
            self.workTree = workTree
        }
    }
}

/// How the planner / worker / judge loop runs. Recorded in the run's settings.
public struct LoopSettings: Sendable, Codable, Equatable {
    /// Run every check once before the first task and hold tasks to the ratchet. Defaults to true.
    public var baseline: Bool
    /// Pause after the planner's plan until a human approves it (`nightshift approve RUN plan`).
    public var reviewPlan: Bool
    /// The worker model's context window, in tokens (estimated; see `bytesPerToken`).
    public var contextWindow: Int
    /// Percent of the window at which older turns of a shift are summarised. Defaults to 60.
    public var compactAtPercent: Int
    /// Percent of the window at which the shift ends and a new one starts from its handoff note. Defaults to 85.
    public var resetAtPercent: Int
    /// Compactions allowed in one shift before it is reset (a summary of summaries loses detail). Defaults to 4.
    public var compactionsPerShift: Int
    /// The provider's bytes of text per token, ×100 (400: four bytes a token), for the estimate.
    public var bytesPerTokenX100: Int
    /// Invalid plans or verdicts accepted from the planner or judge before a human is asked. Defaults to 3.
    public var roleRetries: Int
    /// Re-plans the judge may trigger by escalating a task as mis-specified. Defaults to 2.
    public var maxReplans: Int
    /// Events of a shift's transcript after which older turns are summarised even below the token
    /// threshold, so the context builder's bounded read never drops a turn silently. Defaults to 80.
    public var compactAfterEvents: Int
    /// The most tokens a model's answer may take (`max_tokens`), as configured (`context.max_output`);
    /// nil: 4,096, or a quarter of a smaller window. The judge, the compactor and the handoff get half.
    public var maxOutputTokens: Int?
    public init(
        baseline: Bool = true, reviewPlan: Bool = false, contextWindow: Int = 128_000, compactAtPercent: Int = 60,
        resetAtPercent: Int = 85, compactionsPerShift: Int = 4, bytesPerTokenX100: Int = 400, roleRetries: Int = 3,
        maxReplans: Int = 2,
        compactAfterEvents: Int = 80
    ) {
        self.baseline = baseline
        self.reviewPlan = reviewPlan
        self.contextWindow = contextWindow
        self.compactAtPercent = compactAtPercent
        self.resetAtPercent = resetAtPercent
        self.compactionsPerShift = compactionsPerShift
        self.bytesPerTokenX100 = bytesPerTokenX100
        self.roleRetries = roleRetries
        self.maxReplans = maxReplans
        self.compactAfterEvents = compactAfterEvents
    }

    /// Missing keys take their defaults, so settings recorded before a key existed still read.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = LoopSettings()
        baseline = try c.decodeIfPresent(Bool.self, forKey: .baseline) ?? d.baseline
        reviewPlan = try c.decodeIfPresent(Bool.self, forKey: .reviewPlan) ?? d.reviewPlan
        contextWindow = try c.decodeIfPresent(Int.self, forKey: .contextWindow) ?? d.contextWindow
        compactAtPercent = try c.decodeIfPresent(Int.self, forKey: .compactAtPercent) ?? d.compactAtPercent
        resetAtPercent = try c.decodeIfPresent(Int.self, forKey: .resetAtPercent) ?? d.resetAtPercent
        compactionsPerShift = try c.decodeIfPresent(Int.self, forKey: .compactionsPerShift) ?? d.compactionsPerShift
        bytesPerTokenX100 = try c.decodeIfPresent(Int.self, forKey: .bytesPerTokenX100) ?? d.bytesPerTokenX100
        roleRetries = try c.decodeIfPresent(Int.self, forKey: .roleRetries) ?? d.roleRetries
        maxReplans = try c.decodeIfPresent(Int.self, forKey: .maxReplans) ?? d.maxReplans
        compactAfterEvents = try c.decodeIfPresent(Int.self, forKey: .compactAfterEvents) ?? d.compactAfterEvents
        maxOutputTokens = try c.decodeIfPresent(Int.self, forKey: .maxOutputTokens)
    }

    /// The default answer cap, for a window of four times it or more: long enough for a file of
    /// several hundred lines (and Anthropic's default before caps were per role); a smaller
    /// window gets a quarter of itself, leaving most of a small local model's window to the request.
    public static let defaultMaxOutput = 8192

    /// The windows a run accepts, from a flag, a file or a server's report: below 2,000 tokens no
    /// request fits; above a billion the number is not a window.
    public static let windowRange = 2000...1_000_000_000

    /// The cap on `role`'s answers: the configured one, and for the roles that answer briefly (a
    /// verdict, a summary, a handoff note) at most half of it.
    public func maxOutput(_ role: Role) -> Int {
        let base = maxOutputTokens ?? min(Self.defaultMaxOutput, max(256, contextWindow / 4))
        return [Role.judge, Role.compactor, Role.handoff].contains(role) ? max(base / 2, 256) : base
    }

    /// The limits of a request for `role`.
    public func limits(_ role: Role) -> RequestLimits {
        RequestLimits(
            window: contextWindow, maxOutput: maxOutput(role), bytesPerTokenX100: bytesPerTokenX100,
            configured: maxOutputTokens != nil)
    }

    /// Events of recent history the context builder reads for a run with these settings.
    public func transcriptWindow(atLeast window: Int) -> Int { max(window, compactAfterEvents + 16) }
    /// Tokens an estimated text of `bytes` takes.
    public func tokens(bytes: Int) -> Int { bytes * 100 / max(bytesPerTokenX100, 1) }
}

/// What a shift leaves the next one: written by the worker (its done claim, or when its context is reset).
public struct Handoff: Sendable, Codable, Equatable {
    public var done: String
    public var left: String
    public var learned: String
    public var risks: String
    public init(done: String = "", left: String = "", learned: String = "", risks: String = "") {
        self.done = done
        self.left = left
        self.learned = learned
        self.risks = risks
    }
    public var markdown: String {
        [("Done", done), ("Left", left), ("Learned", learned), ("Risks", risks)].filter { !$0.1.isEmpty }
            .map { "**\($0.0):** \($0.1)" }.joined(separator: "\n")
    }
}

/// An MCP server started over stdio, inside the sandbox, as a source of tools. Recorded in the
/// run's settings so `resume` starts the same servers; only variable *names* are recorded.
public struct ToolServer: Sendable, Codable, Equatable {
    /// Letters, digits and '-': its tools are offered as `mcp__NAME__TOOL`.
    public var name: String
    /// The executable, as an absolute path (resolved on the host's PATH when the config is read).
    public var command: String
    public var args: [String]
    /// Names of Nightshift's environment variables passed to the server; nothing else is inherited.
    public var env: [String]
    /// Host paths bound read-only into the sandbox (the server's script, its interpreter, a venv).
    public var readOnly: [String]
    /// Seconds one tool call may take before the server is killed and restarted. Defaults to 120.
    public var timeoutSeconds: Int
    /// Seconds the server has to start and list its tools; nil: ``defaultStartupSeconds``. A
    /// server fetched on its first start (`npx -y …`) or a large Python import on a busy machine
    /// can need more.
    public var startupSeconds: Int?
    /// The start window when none is set.
    public static let defaultStartupSeconds = 30
    public init(
        name: String, command: String, args: [String] = [], env: [String] = [], readOnly: [String] = [],
        timeoutSeconds: Int = 120, startupSeconds: Int? = nil
    ) {
        self.name = name
        self.command = command
        self.args = args
        self.env = env
        self.readOnly = readOnly
        self.timeoutSeconds = timeoutSeconds
        self.startupSeconds = startupSeconds
    }
}

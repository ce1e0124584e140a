/// A plan: ordered tasks, each with machine-checkable acceptance checks. The plan is fixed
/// before work starts and lives in the log, so the worker cannot rewrite its done-condition.
public struct Plan: Sendable, Codable, Equatable {
    public var title: String
    public var tasks: [PlanTask]
    public init(title: String, tasks: [PlanTask]) { self.title = title; self.tasks = tasks }
}

public struct PlanTask: Sendable, Codable, Equatable {
    public var id: TaskID
    public var description: String
    /// Run by the harness (never the model) once the worker claims the task done.
    public var checks: [Check]
    public init(id: TaskID, description: String, checks: [Check]) {
        self.id = id; self.description = description; self.checks = checks
    }
}

/// A shell command run in the workspace whose exit status decides pass or fail.
public struct Check: Sendable, Codable, Equatable {
    public var command: String
    /// The exit status that counts as a pass. Defaults to 0.
    public var expectExit: Int32
    /// Seconds before the check is killed and counted as failed. Defaults to 120.
    public var timeoutSeconds: Int
    public init(command: String, expectExit: Int32 = 0, timeoutSeconds: Int = 120) {
        self.command = command; self.expectExit = expectExit; self.timeoutSeconds = timeoutSeconds
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
    public init(maxAttempts: Int = 3, stopOnBlocked: Bool = false, maxTurnsPerAttempt: Int = 200, toolServers: [ToolServer]? = nil,
                worktreeOf: String? = nil) {
        self.maxAttempts = maxAttempts; self.stopOnBlocked = stopOnBlocked; self.maxTurnsPerAttempt = maxTurnsPerAttempt
        self.toolServers = toolServers; self.worktreeOf = worktreeOf
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
    public init(name: String, command: String, args: [String] = [], env: [String] = [], readOnly: [String] = [], timeoutSeconds: Int = 120) {
        self.name = name; self.command = command; self.args = args; self.env = env; self.readOnly = readOnly
        self.timeoutSeconds = timeoutSeconds
    }
}

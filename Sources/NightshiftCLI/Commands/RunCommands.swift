import ArgumentParser
import Foundation
import Logging
import NightshiftConfig
import NightshiftCore
import NightshiftHarness
import NightshiftRuntime

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Start a run from a plan file or a goal and drive it until it finishes, fails or pauses.",
        discussion: """
            The plan (YAML or JSON) lists tasks, each with acceptance checks: shell commands and the exit status \
            they must return. For each task the model works with tools (shell, read_file, write_file, edit_file, \
            list_files, grep, git, note, and those of --mcp servers) in the workspace until it claims the task \
            done; then Nightshift runs the checks itself. A failed check goes back to the model; after \
            --max-attempts the task is blocked. Commands run in the bubblewrap sandbox.

            Plan file:
              title: Fix the calculator
              tasks:
                - id: fix-add
                  description: make add() return the sum
                  checks:
                    - command: python3 -m unittest tests.test_add
                      expect_exit: 0          # optional, default 0
                  rubric: [no special cases]  # optional: graded by the judge

            (Also optional: `init:` a script run once first, `guards:` plan-wide checks. See the README.)

            Or give a goal (--goal TEXT or --goal-file FILE): the planner role turns it into such a plan (written \
            as PLAN.md in the workspace), optionally waiting for your approval (--review-plan).

            Before the first task every check runs once (the baseline): checks that already fail do not block \
            other tasks, and a task is accepted only when no check that passed before fails now. A task with \
            rubric items (or whose checks already passed) also needs the judge role's pass; the judge sees \
            only the diff and the check results. Long tasks have their older turns summarised when the \
            context passes --compact-at of the model's window, and start a new shift from a handoff note at \
            --reset-at.

            If the process dies, `nightshift resume RUN` continues the run from its log.
            """)

    @OptionGroup var store: StoreOptions
    @Option(help: ArgumentHelp("The plan file (YAML or JSON).", valueName: "FILE")) var plan: String?
    @Option(
        help: ArgumentHelp("What the run should achieve; the planner role makes the plan from it.", valueName: "TEXT"))
    var goal: String?
    @Option(help: ArgumentHelp("The goal, from a file (markdown or text).", valueName: "FILE")) var goalFile: String?
    @Flag(
        help:
            "With a goal: pause after the planner's plan until `nightshift approve RUN plan` (or `deny RUN plan --reason …` for a new version)."
    )
    var reviewPlan = false
    @Flag(help: "Do not run every check before the first task (no baseline, no ratchet on other tasks' checks).")
    var noBaseline = false
    @Option(
        help: ArgumentHelp(
            "The worker model's context window in tokens (default: by provider: 200000 Anthropic, 128000 OpenAI and scripted; for other servers the size a llama.cpp or Ollama server reports at start, else 32000; at most 1000000000).",
            valueName: "TOKENS"))
    var contextWindow: Int?
    @Option(
        help: ArgumentHelp(
            "The most tokens a model's answer may take, sent as its max_tokens (default 8192, or a quarter of a smaller window; the judge, summaries and handoffs get half). Every request is made to fit the window with it.",
            valueName: "TOKENS"))
    var maxOutput: Int?
    @Option(
        help: ArgumentHelp(
            "Summarise older turns when the context passes this share of the window (default 0.6).",
            valueName: "SHARE"))
    var compactAt: Double?
    @Option(
        help: ArgumentHelp(
            "End the shift and start a new one from its handoff note at this share (default 0.85).", valueName: "SHARE")
    ) var resetAt: Double?
    @Option(help: ArgumentHelp("The folder the agent works in. Defaults to the current folder.", valueName: "DIR"))
    var workspace: String = "."
    @OptionGroup var models: ModelOptions
    @OptionGroup var sandbox: SandboxOptions
    @OptionGroup var home: WorkspaceHomeOptions
    @Option(help: "Done claims allowed per task before it is blocked (default 3).") var maxAttempts: Int?
    @Option(help: "Model turns allowed per attempt (default 200).") var maxTurns: Int?
    @Flag(help: "Stop the whole run when a task is blocked (default: go on to the next task).") var stopOnBlocked =
        false
    @Flag(
        help:
            "Work in --workspace directly even when it is a git repository (default: a worktree on branch nightshift/RUN, committed after each task)."
    )
    var noWorktree = false
    @Option(
        help: ArgumentHelp(
            """
            A coding fleet: hand the plan's tasks (in the order their 'after' lists allow) to up to N worker \
            sub-agents at once, each in its own worktree from the run's branch; merge each finished worker's branch \
            one at a time, re-running every check that passed before on the merged tree; send a conflict or a \
            failing check back as rework. Needs a git repository.
            """, valueName: "N"))
    var workers: Int?
    @Flag(
        help:
            "Show no memories (by default each shift is shown the top memories of the project, your user and the profile: nightshift memory)."
    )
    var noMemory = false
    @Option(
        help: ArgumentHelp(
            """
            MCP servers whose tools the model may use (YAML: servers: [{name, command, args, env, read_only, timeout_seconds}]). \
            They run in the sandbox; their tools are offered as mcp__NAME__TOOL. Recorded in the run, so resume restarts them.
            """, valueName: "FILE"))
    var mcp: String?
    @Option(
        help: ArgumentHelp(
            """
            The policy (YAML): tool rules that allow, deny or ask a human, protected paths, budgets, breakers, approvers. \
            Recorded in the run by content; an edit to the file applies from the next step once you trust it (nightshift trust FILE). Without it every known tool runs.
            """, valueName: "FILE"))
    var policy: String?
    @Option(
        help: ArgumentHelp(
            """
            The agent's behavioural guidance (markdown: what it is for, what it must never do, when to escalate), \
            included in every context; its hash is recorded. The agent cannot change it.
            """, valueName: "FILE"))
    var guidance: String?
    @Option(
        help: ArgumentHelp(
            "Start the run as this agent profile (agents/NAME.yaml): its model, guidance, policy, tools and budget, under what the command line gives.",
            valueName: "NAME"))
    var agent: String?
    @Option(
        help: ArgumentHelp(
            "The folder of agent profiles (default: the configuration's agents, else agents/ in the project).",
            valueName: "DIR"))
    var agents: String?
    @OptionGroup var fleet: FleetOptions
    @Option(help: ArgumentHelp("Use this run id instead of a generated one.", valueName: "ID")) var id: String?
    @Flag(help: "Print events as JSON lines instead of the timeline.") var json = false
    @Flag(name: .shortAndLong, help: "Print only the outcome.") var quiet = false

    func validate() throws {
        guard [plan, goal, goalFile].compactMap({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --plan FILE, --goal TEXT or --goal-file FILE")
        }
        if reviewPlan, plan != nil { throw ValidationError(StartRequest.reviewOwnPlan) }
        // The use case's rules on what was given here, as usage errors; values from a
        // configuration file are checked when they are merged (with the file's name).
        var given = StartRequest(source: .goal(""))
        given.id = id.map { RunID($0) }
        given.contextWindow = contextWindow
        given.maxOutput = maxOutput
        given.compactAt = compactAt ?? min(given.compactAt, (resetAt ?? 1) - 0.01)
        given.resetAt = resetAt ?? max(given.resetAt, (compactAt ?? 0) + 0.01)
        given.maxAttempts = maxAttempts ?? 1
        given.maxTurns = maxTurns ?? 1
        given.workers = workers
        given.useWorktree = !noWorktree
        if let problem = given.problem { throw ValidationError(problem) }
    }

    /// What this command's options say, for the settings' command-line layer.
    func commandLine() throws -> ConfigLayer {
        var layer = try models.layer()
        sandbox.add(to: &layer)
        home.add(to: &layer)
        layer.set(.policy, policy.map { .text($0) }, from: "--policy")
        layer.set(.agents, agents.map { .text($0) }, from: "--agents")
        layer.set(.guidance, guidance.map { .text($0) }, from: "--guidance")
        layer.set(.mcp, mcp.map { .text($0) }, from: "--mcp")
        layer.set(.contextWindow, contextWindow.map { .number($0) }, from: "--context-window")
        layer.set(.maxOutput, maxOutput.map { .number($0) }, from: "--max-output")
        layer.set(.compactAt, compactAt.map { .share($0) }, from: "--compact-at")
        layer.set(.resetAt, resetAt.map { .share($0) }, from: "--reset-at")
        layer.set(.maxAttempts, maxAttempts.map { .number($0) }, from: "--max-attempts")
        layer.set(.maxTurns, maxTurns.map { .number($0) }, from: "--max-turns")
        if noWorktree { layer.set(.worktree, .flag(false), from: "--no-worktree") }
        if noBaseline { layer.set(.baseline, .flag(false), from: "--no-baseline") }
        if stopOnBlocked { layer.set(.stopOnBlocked, .flag(true), from: "--stop-on-blocked") }
        return layer
    }

    /// The use case's request: this command's own options, then the settings in force (the
    /// runtime reads and checks the files they name).
    func request(source: StartRequest.Source, settings: Settings) throws -> StartRequest {
        var r = StartRequest(source: source, workspace: workspace)
        r.id = id.map { RunID($0) }
        r.reviewPlan = reviewPlan
        r.workers = workers
        r.user = Governance.user
        r.memory = !noMemory
        // The workers are driven in this process unless told otherwise: room for all of them.
        r.fleetConcurrency = fleet.concurrency == 0 ? 0 : max(fleet.concurrency, workers ?? 0)
        try r.configure(from: settings, agent: agent)
        r.store.lockTimeoutSeconds = store.lockTimeout
        return r
    }

    mutating func run() async throws {
        let outcome = try await reportErrors { () async throws -> RunOutcome in
            let source: StartRequest.Source
            if let plan {
                source = .plan(try PlanFile.load(path: plan))
            } else {
                source = .goal(try goal ?? GoalFile.read(goalFile ?? ""))
            }
            let settings = try store.settings(try commandLine())
            let printer = quiet ? nil : TimelinePrinter(json: json)
            let request = try request(source: source, settings: settings)
            let runtime = Runtime(.init(store: request.store, createsDatabase: true), logger: .commandLine)
            let again = store.again
            let outcome = try await StopSignals.serving(runtime) { runtime in
                let id = try await runtime.create(
                    request, observer: RunObserver(event: printer?.events, notice: notice))
                return try await continueHint(id, again: again) { try await runtime.outcome(of: id) }
            }
            if outcome.reason == .finished, !quiet, !json {
                await printReport(outcome.run, try store.resolved())
            }
            await printOutcome(
                outcome.run, outcome.reason, again: store.again, config: try? store.resolved())
            return outcome
        }
        throw exitStatus(for: outcome.reason)
    }
}

/// Waits for a drive's outcome; when the process was asked to stop meanwhile, says how to go on.
func continueHint(_ run: RunID, again: String, _ outcome: () async throws -> RunOutcome) async throws -> RunOutcome {
    do {
        return try await outcome()
    } catch let e as RuntimeError where e.code == .stopped {
        writeOut("\nrun \(run) stopped with this process\ncontinue: nightshift resume \(run)\(again)\n")
        throw e
    }
}

extension Logger {
    /// For commands a person runs: what the runtime logs is for the worker's log, so only
    /// warnings and worse reach the terminal, on stderr.
    static var commandLine: Logger {
        Logger(label: "nightshift") { _ in
            LineLogHandler(format: .text, level: .warning, write: { writeErr($0 + "\n") })
        }
    }
}

/// A notice from the runtime for the person at the terminal: one paragraph on stderr.
@Sendable func notice(_ text: String) {
    writeErr("nightshift: \(text)\n")
}

/// Prints the final report (the `run_reported` event) of a run that finished.
func printReport(_ run: RunID, _ config: StoreConfig) async {
    if let report = try? await Inspect.finalReport(of: run, config) { say("\n" + report) }
}

/// - Parameter again: the store's options as the person gave them (repeated in the commands to type next).
/// - Parameter config: the database as resolved (read for what a paused run waits for).
func printOutcome(_ run: RunID, _ reason: StopReason, again dbArg: String, config: StoreConfig?) async {
    var text = "\nrun \(run) \(reason.text)\n"
    switch reason {
    case .finished:
        text +=
            "inspect: nightshift status \(run)\(dbArg) · nightshift log \(run)\(dbArg) · nightshift audit verify \(run)\(dbArg)\n"
    case .paused:
        if let config, let need = try? await Inspect.waitsFor(run, config),
            let decide = PauseAdvice.decide(need.kind, run: run, call: need.call)
        {
            text += "decide: \(decide)\n"
        }
        text += "continue: nightshift resume \(run)\(dbArg)\n"
    case .failed: text += "inspect: nightshift log \(run)\(dbArg)\n"
    }
    writeOut(text)
}

struct Resume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a run from its event log (after a crash, a kill or a pause).",
        discussion: """
            The harness folds the log and carries on. A model request without a response is sent again; an \
            idempotent tool (read_file, list_files) that was running is run again; a non-idempotent one (shell, \
            write_file) is never re-run: it is recorded as in doubt and the model is told its outcome is unknown.

            One process drives a run at a time: when another live process holds the run, resume says which and \
            exits with status 5. When the log ends before the head witnessed beside the database (a lost -wal \
            file, an older copy restored), resume refuses; --accept-rollback records the loss and goes on.
            """)

    @OptionGroup var store: StoreOptions
    @Argument(help: "The run id (see `nightshift status`).", completion: RunIDCompletion.kind) var run: String
    @Flag(
        help:
            "Continue a run whose log lost its last events (recorded as rollback_accepted; what those events did may have happened)."
    )
    var acceptRollback = false
    @OptionGroup var models: ModelOptions
    @OptionGroup var sandbox: SandboxOptions
    @OptionGroup var home: WorkspaceHomeOptions
    @OptionGroup var fleet: FleetOptions
    @Flag(help: "Print events as JSON lines instead of the timeline.") var json = false
    @Flag(name: .shortAndLong, help: "Print only the outcome.") var quiet = false

    mutating func run() async throws {
        let outcome = try await reportErrors { () async throws -> RunOutcome in
            let printer = quiet ? nil : TimelinePrinter(json: json)
            var request = ResumeRequest(run: RunID(run), by: "nightshift resume (pid \(getpid()))")
            request.fleetConcurrency = fleet.concurrency
            var layer = try models.layer()
            home.add(to: &layer)
            let settings = try store.settings(layer)
            request.store = settings.store
            request.store.lockTimeoutSeconds = store.lockTimeout
            // The run's own models, prices and sandbox, unless this command names others: the
            // configuration's are for new runs.
            request.models = try models.forResume(settings)
            request.sandbox = sandbox.flags
            request.trust = settings.trust.store
            request.acceptRollback = acceptRollback
            request.decider = Governance.user
            let runtime = Runtime(.init(store: request.store), logger: .commandLine)
            let again = store.again
            let outcome = try await StopSignals.serving(runtime) { runtime in
                try runtime.drive(
                    request, observer: RunObserver(event: printer?.events, notice: notice, woke: printer?.wake))
                return try await continueHint(request.run, again: again) { try await runtime.outcome(of: request.run) }
            }
            if outcome.alreadyEnded {
                let why: String = if case let .failed(r) = outcome.reason, !r.isEmpty { ": \(r)" } else { "" }
                let status = outcome.reason == .finished ? "finished" : "failed"
                writeOut("run \(outcome.run) already \(status)\(why); nothing to resume\n")
            } else if outcome.reason == .finished, !quiet, !json {
                await printReport(outcome.run, try store.resolved())
            }
            await printOutcome(
                outcome.run, outcome.reason, again: store.again, config: try? store.resolved())
            return outcome
        }
        throw exitStatus(for: outcome.reason)
    }
}

import ArgumentParser
import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftHands
import NightshiftHarness
import NightshiftModels
import NightshiftSQLite

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
            "The worker model's context window in tokens (default: by provider: 200000 Anthropic, 128000 OpenAI and scripted, 32000 others).",
            valueName: "TOKENS"))
    var contextWindow: Int?
    @Option(
        help: ArgumentHelp(
            "Summarise older turns when the context passes this share of the window.", valueName: "SHARE"))
    var compactAt: Double = 0.6
    @Option(
        help: ArgumentHelp("End the shift and start a new one from its handoff note at this share.", valueName: "SHARE")
    ) var resetAt: Double = 0.85
    @Option(help: ArgumentHelp("The folder the agent works in. Defaults to the current folder.", valueName: "DIR"))
    var workspace: String = "."
    @OptionGroup var models: ModelOptions
    @OptionGroup var sandbox: SandboxOptions
    @Option(help: "Done claims allowed per task before it is blocked.") var maxAttempts: Int = 3
    @Option(help: "Model turns allowed per attempt.") var maxTurns: Int = 200
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
            MCP servers whose tools the model may use (YAML: servers: [{name, command, args, env, read_only, timeout_seconds}]). \
            They run in the sandbox; their tools are offered as mcp__NAME__TOOL. Recorded in the run, so resume restarts them.
            """, valueName: "FILE"))
    var mcp: String?
    @Option(
        help: ArgumentHelp(
            """
            The policy (YAML): tool rules that allow, deny or ask a human, protected paths, budgets, breakers, approvers. \
            Recorded in the run; edits to the file apply from the next step. Without it every known tool runs.
            """, valueName: "FILE"))
    var policy: String?
    @Option(
        help: ArgumentHelp(
            """
            The agent's behavioural guidance (markdown: what it is for, what it must never do, when to escalate), \
            included in every context; its hash is recorded. The agent cannot change it.
            """, valueName: "FILE"))
    var guidance: String?
    @Option(help: ArgumentHelp("Use this run id instead of a generated one.", valueName: "ID")) var id: String?
    @Flag(help: "Print events as JSON lines instead of the timeline.") var json = false
    @Flag(name: .shortAndLong, help: "Print only the outcome.") var quiet = false

    func validate() throws {
        guard [plan, goal, goalFile].compactMap({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --plan FILE, --goal TEXT or --goal-file FILE")
        }
        if reviewPlan, plan != nil {
            throw ValidationError(
                "--review-plan is for a plan the planner makes (--goal); review your own plan file before running it")
        }
        guard (0.05...0.99).contains(compactAt), (0.05...0.99).contains(resetAt), compactAt < resetAt else {
            throw ValidationError(
                "--compact-at and --reset-at are shares of the window between 0.05 and 0.99, and --compact-at must be below --reset-at"
            )
        }
        if let contextWindow, contextWindow < 2000 {
            throw ValidationError("--context-window must be at least 2000 tokens")
        }
        guard maxAttempts >= 1 else { throw ValidationError("--max-attempts must be at least 1") }
        guard maxTurns >= 1 else { throw ValidationError("--max-turns must be at least 1") }
        if let id, id.isEmpty || !id.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) {
            throw ValidationError("--id must be letters, digits, '-', '_' or '.'")
        }
    }

    mutating func run() async throws {
        let reason = try await reportErrors { () async throws -> StopReason in
            let plan = try self.plan.map { try PlanFile.load(path: $0) }
            let goal = try goal ?? goalFile.map { try Self.readGoal($0) }
            let servers = try mcp.map { try MCPConfigFile.load(path: $0) } ?? []
            let policyPath = policy.map { Workspace.canonical($0) }
            // a bad policy fails before anything is made
            if let policyPath { _ = try PolicyFile.load(path: policyPath) }
            let guidancePath = guidance.map { Workspace.canonical($0) }
            let guidanceEvent = try guidancePath.map { try GuidanceFile.event(path: $0) }
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: workspace, isDirectory: &isDir), isDir.boolValue else {
                throw CLIError(
                    "the workspace \(workspace) does not exist or is not a folder: create it or pass another --workspace"
                )
            }
            // The real path: the policy gateway judges absolute paths against it, as the file tools do.
            var ws = Workspace.canonical(workspace)
            let repository = noWorktree ? nil : await GitWorkspace.repositoryRoot(ws)
            // Working in the folder itself: refuse a database that would lie in the agent's reach
            // before the database is made (a worktree lies elsewhere; checked again below).
            if repository == nil {
                _ = try Composition.hiddenPaths(db: self.store.db, workspace: ws, keyFile: models.keyFile)
            }
            let store = try Composition.openStore(store)
            let runID = id.map { RunID($0) } ?? Composition.newRunID()
            if try await store.summary(of: runID) != nil {
                throw CLIError("a run with id \(runID) already exists in \(self.store.db)")
            }
            // A run of this id whose log was lost is reported, never silently started anew.
            if let lost = try await Composition.lostRun(runID, store: store) {
                throw CLIError(lost + "; choose another --id")
            }
            // A git repository gets a worktree of its own, beside the database: the user's checkout is never touched.
            // It is made while the first model call is in flight (the harness waits for it before any tool runs).
            var announce: [Event] = []
            var provision: (@Sendable () async throws -> [Event])?
            var worktreeOf: String?
            var gitLocation: RunSettings.GitLocation?
            if let repository {
                let root = Workspace.canonical(
                    URL(fileURLWithPath: self.store.db).deletingLastPathComponent().appendingPathComponent("worktrees")
                        .path)
                ws = GitWorkspace.plannedPath(run: runID, worktreesRoot: root)
                worktreeOf = repository
                provision = Composition.worktree(repository: repository, run: runID, worktreesRoot: root)
                if !servers.isEmpty {
                    // MCP servers run in the workspace and their tools are needed for the first call: make it first.
                    announce += try await provision!()
                    provision = nil
                }
            } else {
                // Working in the folder itself: its repository, if any, is fixed now, before any tool
                // runs; Nightshift's git never looks for a `.git` there again.
                gitLocation = await GitWorkspace.discover(ws)
            }
            let gitTrust: GitWorkspace.Trust =
                worktreeOf != nil ? .worktree : gitLocation.map { .repository($0) } ?? .none
            let hidden = try Composition.hiddenPaths(db: self.store.db, workspace: ws, keyFile: models.keyFile)
            let policyEvent = try policyPath.map { try PolicyWatcher.event(path: $0, workspace: ws) }
            let sealed = Composition.sealed([policyPath, guidancePath], workspace: ws)
            let policyNetwork: Bool? = if case let .policySet(p, _, _, _)? = policyEvent { p.network } else { nil }
            let isolation = try Composition.isolation(
                sandbox, sealed: sealed, hidden: hidden, policyNetwork: policyNetwork)
            let (model, http) = try await Composition.models(models)
            let tools: (runner: any ToolRunner, started: [Event], stop: @Sendable () async -> Void)
            do {
                tools = try await Composition.tools(
                    isolation: isolation, servers: servers, workspace: ws, sealed: sealed, hidden: hidden,
                    git: gitTrust)
            } catch {
                try? await http?.shutdown()
                throw error
            }
            let printer = quiet ? nil : TimelinePrinter(json: json)
            let harness = Composition.harness(
                store: store, model: model, printer: printer, isolation: isolation, tools: tools.runner,
                git: gitTrust)
            let reason = try await Composition.finally(
                {
                    let profile = Composition.contextProfile(model: models.model ?? "")
                    let loop = LoopSettings(
                        baseline: !noBaseline, reviewPlan: reviewPlan, contextWindow: contextWindow ?? profile.window,
                        compactAtPercent: Int(compactAt * 100), resetAtPercent: Int(resetAt * 100),
                        bytesPerTokenX100: profile.bytesPerTokenX100)
                    let settings = RunSettings(
                        maxAttempts: maxAttempts, stopOnBlocked: stopOnBlocked, maxTurnsPerAttempt: maxTurns,
                        toolServers: servers.isEmpty ? nil : servers, worktreeOf: worktreeOf, loop: loop,
                        git: gitLocation)
                    // The lease before the run exists: no other process can start driving it in between.
                    return try await Composition.withLease(runID, store: store) { lease in
                        if let plan {
                            try await harness.create(
                                runID, title: plan.title, plan: plan, workspace: ws, settings: settings)
                        } else if let goal {
                            let title = String(goal.split(separator: "\n").first?.prefix(80) ?? "goal")
                            try await harness.create(runID, title: title, goal: goal, workspace: ws, settings: settings)
                        }
                        var watcher: PolicyWatcher?
                        if let policyPath, case let .policySet(_, _, hash, _)? = policyEvent {
                            if Composition.isInside(policyPath, ws) {
                                Composition.frozenNotice(policyPath, kind: "policy")
                            } else {
                                watcher = PolicyWatcher(path: policyPath, recordedHash: hash, workspace: ws)
                            }
                        }
                        if let guidancePath, Composition.isInside(guidancePath, ws) {
                            Composition.frozenNotice(guidancePath, kind: "guidance")
                        }
                        return try await harness.drive(
                            runID,
                            announce: (policyEvent.map { [$0] } ?? []) + (guidanceEvent.map { [$0] } ?? []) + announce
                                + [.isolationSet(mode: isolation.label)] + tools.started,
                            provision: provision, policyChanges: PolicyWatcher.hook(watcher), lease: lease)
                    }
                },
                cleanup: {
                    await tools.stop()
                    try? await http?.shutdown()
                })
            if reason == .finished, !quiet, !json { await printReport(runID, store: store) }
            printOutcome(runID, reason, db: self.store.db)
            return reason
        }
        throw exitStatus(for: reason)
    }
}

extension RunCommand {
    /// A goal file: its text, which must not be empty or huge.
    static func readGoal(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError("cannot read the goal file \(path): check the path")
        }
        guard data.count <= 256 * 1024 else {
            throw CLIError("the goal file \(path) is \(data.count) bytes; a goal is at most 256 KiB")
        }
        let text = String(decoding: data, as: UTF8.self)
        guard text.contains(where: { !$0.isWhitespace }) else { throw CLIError("the goal file \(path) is empty") }
        return text
    }
}

/// Prints the final report (the `run_reported` event) of a run that finished.
func printReport(_ run: RunID, store: SQLiteEventStore) async {
    guard let head = try? await store.summary(of: run)?.headSeq,
        let tail = try? await store.read(run, after: max(head - 4, 0), limit: 4)
    else { return }
    for case let .runReported(report) in tail.map(\.event) { say("\n" + report.text) }
}

func printOutcome(_ run: RunID, _ reason: StopReason, db: String) {
    let dbArg = db == ".nightshift/nightshift.db" ? "" : " --db \(db)"
    var text = "\nrun \(run) \(reason.text)\n"
    switch reason {
    case .finished:
        text +=
            "inspect: nightshift status \(run)\(dbArg) · nightshift log \(run)\(dbArg) · nightshift audit verify \(run)\(dbArg)\n"
    case .paused: text += "continue: nightshift resume \(run)\(dbArg)\n"
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
    @Argument(help: "The run id (see `nightshift status`).") var run: String
    @Flag(
        help:
            "Continue a run whose log lost its last events (recorded as rollback_accepted; what those events did may have happened)."
    )
    var acceptRollback = false
    @OptionGroup var models: ModelOptions
    @OptionGroup var sandbox: SandboxOptions
    @Flag(help: "Print events as JSON lines instead of the timeline.") var json = false
    @Flag(name: .shortAndLong, help: "Print only the outcome.") var quiet = false

    mutating func run() async throws {
        let reason = try await reportErrors { () async throws -> StopReason in
            let store = try Composition.openExistingStore(store)
            let runID = RunID(run)
            guard try await store.summary(of: runID) != nil else {
                if let lost = try await Composition.lostRun(runID, store: store) { throw CLIError(lost) }
                throw CLIError("no run \(run) in \(self.store.db) (nightshift status lists the runs)")
            }
            let printer = quiet ? nil : TimelinePrinter(json: json)
            let wasTerminal = try await store.summary(of: runID)?.status == .finished
            let reason = try await Resumption.resume(
                runID, store: store, db: self.store.db, models: models, sandbox: sandbox, printer: printer,
                by: "nightshift resume (pid \(getpid()))", acceptRollback: acceptRollback)
            if reason == .finished, !wasTerminal, !quiet, !json { await printReport(runID, store: store) }
            printOutcome(runID, reason, db: self.store.db)
            return reason
        }
        throw exitStatus(for: reason)
    }
}

/// Continuing a run from its log, shared by `resume` and `worker`: the same models (keys read
/// again), the same workspace (reattached, or made if it never was), the same MCP servers,
/// sandbox, sealed files and policy watch as the process that started it.
enum Resumption {
    /// - Throws: ``RunBusy`` when another live process drives the run (nothing is done then).
    static func resume(
        _ runID: RunID, store: SQLiteEventStore, db: String, models: ModelOptions, sandbox: SandboxOptions,
        printer: TimelinePrinter?, by: String, acceptRollback: Bool = false
    ) async throws -> StopReason {
        // The lease first: only then may calls left in flight be put in doubt, or a half-made worktree be remade.
        try await Composition.withLease(runID, store: store) { lease in
            // Never act on a log that went back: what its lost events did would be done again.
            if let rollback = try await Composition.rollback(runID, store: store) {
                guard acceptRollback else {
                    throw CLIError(rollback.message + "; or continue with nightshift resume \(runID) --accept-rollback")
                }
                guard let head = try await store.summary(of: runID)?.headSeq else { throw CLIError(rollback.message) }
                try await store.append(
                    [.rollbackAccepted(lostFrom: head + 1, lostThrough: rollback.witnessed, by: Governance.user)],
                    to: runID, expectedSeq: head, snapshot: nil, fence: lease)
            }
            return try await resumeHolding(
                runID, lease: lease, store: store, db: db, models: models, sandbox: sandbox, printer: printer, by: by)
        }
    }

    static func resumeHolding(
        _ runID: RunID, lease: Lease, store: SQLiteEventStore, db: String, models: ModelOptions,
        sandbox: SandboxOptions, printer: TimelinePrinter?, by: String
    ) async throws -> StopReason {
        let state = try await store.state(of: runID)
        // The log ends before the run index's head: events were removed (or a file restored). Say
        // that, rather than let the first append fail as if another writer had advanced the run.
        if let head = try await store.summary(of: runID)?.headSeq, head > state.lastSeq {
            throw CLIError(
                """
                run \(runID)'s log ends at event \(state.lastSeq) but its index says it has \(head): events after \(state.lastSeq) \
                are missing; nothing was done (nightshift audit verify \(runID) shows where)
                """)
        }
        if state.isTerminal {
            writeOut(
                "run \(runID) already \(state.status.rawValue)\(state.statusReason.map { ": \($0)" } ?? ""); nothing to resume\n"
            )
            return state.status == .finished ? .finished : .failed(state.statusReason ?? "")
        }
        // The models default to the ones the run was started with (keys are read again, never stored).
        // The workspace must still be there (a worktree is reattached, never recreated empty).
        // A worktree that was never recorded as made (the process died first) is made now, from the recorded repository.
        var provision: (@Sendable () async throws -> [Event])?
        var announce: [Event] = []
        if state.branch == nil, let repository = state.settings.worktreeOf {
            provision = Composition.worktree(
                repository: repository, run: runID,
                worktreesRoot: URL(fileURLWithPath: state.workspace).deletingLastPathComponent().path, remake: true)
            if !(state.settings.toolServers ?? []).isEmpty {
                announce += try await provision!()
                provision = nil
            }
        } else {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: state.workspace, isDirectory: &isDir), isDir.boolValue else {
                let hint = state.branch.map { " Recreate it with: git worktree add \(state.workspace) \($0)" } ?? ""
                throw CLIError("the run's workspace \(state.workspace) is missing.\(hint)")
            }
            if let branch = state.branch { _ = try await GitWorkspace.reattach(path: state.workspace, branch: branch) }
        }
        let sealed = Composition.sealed([state.policySource, state.guidanceSource], workspace: state.workspace)
        let hidden = try Composition.hiddenPaths(db: db, workspace: state.workspace, keyFile: models.keyFile)
        let gitTrust = Composition.gitTrust(state)
        let isolation = try Composition.isolation(
            sandbox, sealed: sealed, hidden: hidden, policyNetwork: state.policy?.network)
        let (model, http) = try await Composition.models(models, recorded: state.model)
        // The run's MCP servers, as recorded when it was created (variables are read from this environment).
        let tools: (runner: any ToolRunner, started: [Event], stop: @Sendable () async -> Void)
        do {
            tools = try await Composition.tools(
                isolation: isolation, servers: state.settings.toolServers ?? [], workspace: state.workspace,
                sealed: sealed, hidden: hidden, git: gitTrust)
        } catch {
            try? await http?.shutdown()
            throw error
        }
        let harness = Composition.harness(
            store: store, model: model, printer: printer, isolation: isolation, tools: tools.runner,
            git: gitTrust)
        if let first = try await store.read(runID, after: 0, limit: 1).first { printer?.setStart(first.time) }
        return try await Composition.finally(
            {
                // The policy file the run was started with is watched again; a change made while no process ran applies now.
                // Not one inside the workspace: the agent could have made that change (the recorded version stays).
                var watcher: PolicyWatcher?
                if let source = state.policySource, let hash = state.policyHash {
                    if Composition.isInside(source, state.workspace) {
                        Composition.frozenNotice(source, kind: "policy")
                    } else {
                        watcher = PolicyWatcher(path: source, recordedHash: hash, workspace: state.workspace)
                        if FileManager.default.fileExists(atPath: source) { watcher?.forceCheck() }
                    }
                }
                // A guidance file edited while the run waited is a new version, recorded before the next step.
                if let source = state.guidanceSource, Composition.isInside(source, state.workspace) {
                    Composition.frozenNotice(source, kind: "guidance")
                } else if let source = state.guidanceSource, FileManager.default.fileExists(atPath: source),
                    case let .guidanceSet(_, hash, _) = try GuidanceFile.event(path: source), hash != state.guidanceHash
                {
                    announce.append(try GuidanceFile.event(path: source))
                }
                return try await harness.drive(
                    runID, resumedBy: by,
                    announce: announce + [.isolationSet(mode: isolation.label)] + tools.started, provision: provision,
                    policyChanges: PolicyWatcher.hook(watcher), lease: lease)
            },
            cleanup: {
                await tools.stop()
                try? await http?.shutdown()
            })
    }
}

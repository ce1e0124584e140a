import ArgumentParser
import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftRuntime

/// `nightshift init`: sets a repository up for Nightshift, and touches nothing else.
struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Set this folder up for Nightshift: a configuration, a starter policy and guidance.",
        discussion: """
            Writes .nightshift/config.yaml (every setting, commented, with its default), .nightshift/policy.yaml \
            (protected tests, ask before git push, no recursive deletes outside the workspace, budgets and \
            breakers), .nightshift/guidance.md (what the agent is for, what it must never do, when to escalate), \
            and adds the database and worktrees to .gitignore. Existing files are left alone unless --force; \
            nothing else is touched. The files it writes are trusted as written (see nightshift trust); after you \
            edit them, `nightshift trust` shows your changes and trusts them. Then start a run.
            """)

    @Option(help: ArgumentHelp("The project folder (default: the current folder).", valueName: "DIR"))
    var dir: String = "."
    @Flag(help: "Overwrite .nightshift/config.yaml, policy.yaml and guidance.md if they exist.") var force = false

    mutating func run() async throws {
        try await reportErrors {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
                throw CLIError("\(dir) is not a folder: create it first, or pass another --dir")
            }
            let environment = ProcessInfo.processInfo.environment
            let result = try ProjectSetup.write(
                into: dir, force: force, trust: FileTrustStore(folder: FileTrustStore.defaultFolder(environment)),
                by: Governance.user, at: Timestamp(milliseconds: Int64(Date().timeIntervalSince1970 * 1000)))
            for line in result.lines { say(line) }
            say(
                """

                next: edit .nightshift/guidance.md and .nightshift/policy.yaml, set your model in .nightshift/config.yaml \
                (or pass --model), review your edits with `nightshift trust` (Nightshift obeys a project's files only as \
                a person last trusted them), then:
                  nightshift run --goal "what the agent should achieve" --review-plan
                """)
        }
    }
}

/// `nightshift config`: the settings in force here and where each came from.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Print the settings in force here, and where each comes from; secrets are masked.",
        discussion: """
            Precedence, highest first: the command line, the environment (NIGHTSHIFT_MODEL, NIGHTSHIFT_DB, \
            NIGHTSHIFT_POLICY, NIGHTSHIFT_GUIDANCE, NIGHTSHIFT_KEY_FILE), the project's .nightshift/config.yaml \
            (found from this folder up, or --config FILE), your own file ($XDG_CONFIG_HOME/nightshift/config.yaml, \
            else ~/.config/nightshift/config.yaml), then the defaults. API keys belong in the environment, a \
            --key-file, or under keys: in your own file; a project's file that holds one is refused.
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var models: ModelOptions

    mutating func run() async throws {
        try await reportErrors {
            let settings = try store.settings(try models.layer(), setAsideUntrusted: true)
            if let untrusted = settings.untrusted {
                say("project file: NOT IN FORCE: \(untrusted.message)")
            } else if let project = settings.project {
                let how = settings.trust.describe(
                    project, settings.projectNamed ? .named(by: "--config") : .found(how: "found"))
                let empty = settings.layers.first { $0.name == "project" }?.layer.values.isEmpty ?? true
                say(
                    "project file: \(project.source) (\(how))"
                        + (empty ? "; it sets nothing (every line is a comment)" : ""))
            } else {
                say("project file: (none: no .nightshift/config.yaml here or above)")
            }
            let userExists = FileManager.default.fileExists(atPath: settings.userFile)
            say("user file:    \(settings.userFile)\(userExists ? "" : " (none)")")
            say("")
            for line in settings.report { say(line) }
        }
    }
}

/// Completes run ids from the database the command line (or the configuration) names.
enum RunIDCompletion {
    static let kind = CompletionKind.custom { (arguments: [String], _: Int, prefix: String) async -> [String] in
        var db: String?
        if let i = arguments.firstIndex(of: "--db"), i + 1 < arguments.count { db = arguments[i + 1] }
        let path = db ?? (try? Settings.resolve(commandLine: ConfigLayer()).store.db) ?? StoreConfig.defaultPath
        guard FileManager.default.fileExists(atPath: path), let runs = try? await Inspect.runs(StoreConfig(db: path))
        else { return [] }
        return runs.map(\.id.rawValue).filter { $0.hasPrefix(prefix) }
    }
}

/// `nightshift doctor`: what works on this machine for the settings in force, one line each.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check what a real run needs on this machine: sandbox, git, store, models, MCP servers, audit key.",
        discussion: """
            One line per check, with the fix for what fails. Each configured model gets one tiny request (its \
            likely cost is said first); --no-model-calls only checks that the spec parses and its key is found. \
            Exit status 0 when nothing failed (warnings allowed), 1 otherwise.
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var models: ModelOptions
    @OptionGroup var sandbox: SandboxOptions
    @Option(help: ArgumentHelp("MCP servers to start and list (default: the configuration's mcp).", valueName: "FILE"))
    var mcp: String?
    @Flag(help: "Do not send the models a request; only check their specs and keys.") var noModelCalls = false

    mutating func run() async throws {
        let failed = try await reportErrors { () async throws -> Bool in
            var layer = try models.layer().adding(sandbox)
            layer.set(.mcp, mcp.map { .text($0) }, from: "--mcp")
            let settings = try store.settings(layer, setAsideUntrusted: true)
            let findings = await Doctor.examine(
                settings, modelCalls: !noModelCalls, environment: ProcessInfo.processInfo.environment
            ) { finding in
                let mark =
                    switch finding.severity {
                    case .ok: "ok  "
                    case .warn: "warn"
                    case .fail: "FAIL"
                    case .note: "…   "
                    }
                say("\(mark)  \(finding.check): \(finding.detail)\(finding.fix.map { " — fix: \($0)" } ?? "")")
            }
            return findings.contains { $0.severity == .fail }
        }
        if failed { throw ExitCode.failure }
    }
}

/// `nightshift agents`: the profiles, their versions, and which runs used which version.
struct AgentsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agents",
        abstract: "List the agent profiles (agents/NAME.yaml), their versions, and which runs use which version.",
        discussion: """
            A profile defines a specialist: what it is for, its model, guidance, policy, allowed tools \
            (globs), default budget and how many may run at once. `nightshift run --agent NAME` starts a run \
            as that profile; the run records the profile's name and version (a hash of the file and the \
            guidance and policy it names), so an edited profile is a new version and old runs keep theirs.
            """)

    @OptionGroup var store: StoreOptions
    @Option(
        help: ArgumentHelp(
            "The folder of agent profiles (default: the configuration's agents, else agents/ in the project).",
            valueName: "DIR"))
    var agents: String?
    @Flag(
        help:
            "Each agent's scorecard instead (profile and version): tasks finished, first-attempt pass rate, rework, escalations, approvals asked and denied, budget and breaker trips, cost and tokens per finished task, median time per task."
    )
    var scorecard = false
    @Option(
        help: ArgumentHelp("With --scorecard: only runs created in the last TIME (30d, 12h, 90m).", valueName: "TIME"))
    var since: String?
    @Flag(help: "With --scorecard: one JSON object per agent.") var json = false

    func validate() throws {
        if let since { _ = try parseAge(since, option: "--since") }
        if (since != nil || json) && !scorecard { throw ValidationError("--since and --json go with --scorecard") }
    }

    mutating func run() async throws {
        if scorecard {
            let (store, since, json) = (self.store, self.since, self.json)
            try await reportErrors {
                let cards = try await store.runtime().scorecards(
                    within: try since.map { try parseAge($0, option: "--since") })
                Scorecard.print(cards, json: json)
            }
            return
        }
        try await reportErrors {
            var layer = ConfigLayer()
            layer.set(.agents, agents.map { .text($0) }, from: "--agents")
            let settings = try store.settings(layer)
            let profiles = try AgentProfileFile.registry(settings.agentsFolder)
            // Which runs were started from which profile version.
            let used = try await Inspect.profileUse(settings.store)
            if profiles.isEmpty { say("no agent profiles in \(settings.agentsFolder)") }
            for p in profiles {
                let untrusted = ([p.file] + p.namedFiles.map(\.file)).filter { file in
                    (try? settings.trust.read(file, settings.provenance(of: .agents), what: "")) == nil
                }
                say(
                    "\(p.name)  version \(p.version.prefix(12))  model \(p.model ?? "(the run's)")"
                        + (untrusted.isEmpty
                            ? "" : "  NOT TRUSTED (\(untrusted.joined(separator: ", ")): nightshift trust)"))
                say("    \(p.description)")
                if let tools = p.tools { say("    tools: \(tools.joined(separator: ", "))") }
                let runs = used[p.name] ?? []
                let current = runs.filter { $0.version == p.version }.map(\.run.rawValue)
                let older = runs.filter { $0.version != p.version }
                say("    runs on this version: \(current.isEmpty ? "none" : current.joined(separator: ", "))")
                for (run, version) in older { say("    run \(run) used an earlier version \(version.prefix(12))") }
            }
            // Runs of profiles that are no longer in the folder.
            for (name, runs) in used.sorted(by: { $0.key < $1.key })
            where !profiles.contains(where: { $0.name == name }) {
                say(
                    "\(name)  (no longer in \(settings.agentsFolder)): runs \(runs.map(\.run.rawValue).joined(separator: ", "))"
                )
            }
        }
    }
}

import ArgumentParser
import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftRuntime
import NightshiftSQLite

/// `nightshift init`: sets a repository up for Nightshift, and touches nothing else.
struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Set this folder up for Nightshift: a configuration, a starter policy and guidance.",
        discussion: """
            Writes .nightshift/config.yaml (every setting, commented, with its default), .nightshift/policy.yaml \
            (protected tests, ask before git push, no recursive deletes outside the workspace, budgets and \
            breakers), .nightshift/guidance.md (what the agent is for, what it must never do, when to escalate), \
            and adds the database and worktrees to .gitignore. Existing files are left alone unless --force; \
            nothing else is touched. Then edit the three files and start a run.
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
            let result = try ProjectSetup.write(into: dir, force: force)
            for line in result.lines { say(line) }
            say(
                """

                next: edit .nightshift/guidance.md and .nightshift/policy.yaml, set your model in .nightshift/config.yaml \
                (or pass --model), then:
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
            let settings = try store.settings(try models.layer())
            say("project file: \(settings.projectFile ?? "(none: no .nightshift/config.yaml here or above)")")
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
        guard FileManager.default.fileExists(atPath: path),
            let store = try? Adapters.openExistingStore(StoreConfig(db: path)),
            let runs = try? await store.runs()
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
            let settings = try store.settings(layer)
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

public import ArgumentParser
import Foundation
import NightshiftConfig
import NightshiftRuntime

/// The `nightshift` command. The executable's `main` calls ``Nightshift/main()``.
public struct Nightshift: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "nightshift",
        abstract: "Keep an AI agent making verified progress on a long job, across crashes and restarts.",
        discussion: """
            Every run has an append-only, hash-chained event log (SQLite, ./.nightshift/nightshift.db by default, \
            or the configuration's db). \
            The harness wakes from that log, so a run killed at any point continues with `nightshift resume RUN`.

            Start with `nightshift demo`: it builds a small project with failing tests, runs a three-task plan \
            with the scripted model (a test double, no network) and shows how to inspect and resume it. For a \
            repository of your own: `nightshift init` writes a configuration, a starter policy and guidance in \
            .nightshift/, `nightshift doctor` says what works on this machine, and `nightshift config` shows the \
            settings in force and where each comes from.

            Exit status of run/resume/demo: 0 finished, 3 paused (needs attention), 4 failed, 5 another live process \
            drives the run, 1 error, 64 usage.
            """,
        subcommands: [
            RunCommand.self, Resume.self, Worker.self, Status.self, Log.self, Inbox.self, Approve.self, Deny.self,
            BudgetCommand.self,
            Answer.self, Cancel.self, Audit.self, ExportCommand.self, ImportCommand.self, PruneCommand.self, Init.self,
            TrustCommand.self, ConfigCommand.self, DoctorCommand.self,
            AgentsCommand.self,
            MemoryCommand.self, DreamCommand.self,
            Demo.self,
            TokenCommand.self, ServeCommand.self, ScheduleCommand.self,
            BenchMoved.self,
        ])

    public init() {}

    /// One process may drive thousands of runs, each with a database witness file open: the soft
    /// open-files limit (often 1,024) is raised to the hard one, at most 65,536. Tool commands
    /// get their own limit in the sandbox.
    static func raiseOpenFilesLimit() {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        let wanted = min(limit.rlim_max, 65_536)
        if limit.rlim_cur < wanted {
            limit.rlim_cur = wanted
            _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        }
    }

    /// What the process needs before anything else runs: a higher open-files limit, and the
    /// stop signals' handlers (see ``StopSignals``). Call it first.
    public static func prepareProcess() {
        raiseOpenFilesLimit()
        StopSignals.deliver()
    }

    /// The entry point of the executable: parses, runs, and reports a usage error in one line on
    /// stderr (what is wrong, and where `--help` says more), exit status 64. Help and version go
    /// to stdout in full, as usual.
    public static func start(_ arguments: [String]? = nil) async {
        let arguments = arguments ?? Array(CommandLine.arguments.dropFirst())
        do {
            var command = try await asyncParseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let exit as ExitCode {
            Foundation.exit(exit.rawValue)  // the command has said what it had to
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                writeOut(fullMessage(for: error) + "\n")
            } else if code == .validationFailure {
                let brief =
                    message(for: error).split(whereSeparator: \.isNewline).first.map(String.init) ?? "invalid arguments"
                let names = Set(configuration.subcommands.map { $0._commandName })
                let sub = arguments.first { argument in !argument.hasPrefix("-") && names.contains(argument) }
                writeErr("nightshift: error: \(brief) (nightshift \(sub.map { "\($0) " } ?? "")--help says more)\n")
            } else if !(error is ExitCode) {
                writeErr("nightshift: error: \(error)\n")
            }
            Foundation.exit(code.rawValue)
        }
    }
}

/// Options every command that opens the database shares, with the configuration file that may
/// name the database (and, for `run`, everything else).
struct StoreOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The SQLite database holding the event logs (default: the configuration's db, else .nightshift/nightshift.db).",
            valueName: "PATH"))
    var db: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            """
            A PostgreSQL database every run lives in instead of the SQLite file, shared by workers on many hosts \
            (default: NIGHTSHIFT_STORE, else the configuration's store). The password comes from PGPASSWORD or \
            ~/.pgpass, never the address.
            """,
            valueName: "postgres://USER@HOST:PORT/DATABASE"))
    var store: String?

    @Option(
        help: ArgumentHelp(
            "Seconds to wait for another process's write lock on the database before giving up.", valueName: "SECONDS"))
    var lockTimeout: Int = 5

    @Option(
        help: ArgumentHelp(
            "The project's configuration file (default: .nightshift/config.yaml here or in the nearest folder above).",
            valueName: "FILE"))
    var config: String?

    @Flag(
        help: """
            Use the project's configuration files as they are, even those no person trusted (new, or changed since \
            `nightshift trust`): for CI and scripts that check the files out themselves. A run records that it was \
            given this.
            """)
    var trustProject = false

    func validate() throws {
        guard lockTimeout >= 0 else { throw ValidationError("--lock-timeout must be 0 or more seconds") }
        if let store, let problem = ConfigKey.storeProblem(store) { throw ValidationError("--store: \(problem)") }
    }

    /// Every source of settings, with `commandLine` (the command's own options) and `--db` over them.
    /// - Parameter setAsideUntrusted: go on without a found project file nobody trusted (saying so),
    ///   for the commands that report on the settings.
    func settings(_ commandLine: ConfigLayer = ConfigLayer(), setAsideUntrusted: Bool = false) throws -> Settings {
        var layer = commandLine
        layer.set(.db, db.map { .text($0) }, from: "--db")
        layer.set(.store, store.map { .text($0) }, from: "--store")
        let environment = ProcessInfo.processInfo.environment
        return try Settings.resolve(
            commandLine: layer, configFile: config, environment: environment,
            trust: ConfigTrust(
                store: FileTrustStore(folder: FileTrustStore.defaultFolder(environment)), trustProject: trustProject),
            setAsideUntrusted: setAsideUntrusted)
    }

    /// The store these options name.
    func resolved() throws -> StoreConfig {
        var store = try settings().store
        store.lockTimeoutSeconds = lockTimeout
        return store
    }

    /// The runtime over the database these options name, for a command that reads or decides (a
    /// command that drives runs serves one: see ``StopSignals/serving(_:_:)``).
    func runtime() throws -> Runtime {
        Runtime(.init(store: try resolved()), logger: .commandLine)
    }

    /// These options' store as given on the command line, to repeat in the commands a person
    /// types next (a store named by the environment or a file is named there again).
    var again: String { (store.map { " --store \($0)" } ?? "") + (db.map { " --db \($0)" } ?? "") }

    /// The database's path, for messages (the configuration's when it names one).
    var dbPath: String { (try? resolved().db) ?? db ?? StoreConfig.defaultPath }
}

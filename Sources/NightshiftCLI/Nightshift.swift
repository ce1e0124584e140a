public import ArgumentParser

/// The `nightshift` command. The executable's `main` calls ``Nightshift/main()``.
public struct Nightshift: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "nightshift",
        abstract: "Keep an AI agent making verified progress on a long job, across crashes and restarts.",
        discussion: """
            Every run has an append-only, hash-chained event log (SQLite, ./.nightshift/nightshift.db by default). \
            The harness wakes from that log, so a run killed at any point continues with `nightshift resume RUN`.

            Start with `nightshift demo`: it builds a small project with failing tests, runs a three-task plan \
            with the scripted model (a test double, no network) and shows how to inspect and resume it.

            Exit status of run/resume/demo: 0 finished, 3 paused (needs attention), 4 failed, 1 error, 64 usage.
            """,
        subcommands: [RunCommand.self, Resume.self, Worker.self, Status.self, Log.self, Inbox.self, Approve.self, Deny.self, BudgetCommand.self,
                      Answer.self, Audit.self, Demo.self, Bench.self, BenchChild.self])

    public init() {}
}

/// Options every command that opens the database shares.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The SQLite database holding the event logs.", valueName: "PATH"))
    var db: String = ".nightshift/nightshift.db"

    @Option(help: ArgumentHelp("Seconds to wait for another process's write lock on the database before giving up.", valueName: "SECONDS"))
    var lockTimeout: Int = 5

    func validate() throws {
        guard lockTimeout >= 0 else { throw ValidationError("--lock-timeout must be 0 or more seconds") }
    }
}

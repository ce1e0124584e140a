import ArgumentParser
import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftRuntime

/// `nightshift trust`: a person's review of the configuration files a command here would obey.
struct TrustCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trust",
        abstract: "Review the project's configuration files and trust them as they are now.",
        discussion: """
            A configuration file found in a repository or a workspace (the project's .nightshift/config.yaml, \
            every file it names, the agent profiles and the files they name) configures Nightshift only when a \
            person trusted its exact content: an agent can write files there, and your next command must never \
            obey one nobody reviewed. Files you name on the command line, in the environment or in your own \
            configuration are yours and need no trust.

            Without a path, this shows every such file a command here would read: new ones whole, changed ones as \
            the lines that changed since you last trusted them. Then it records that you trust them as shown \
            (only the latest version of a file is trusted). A running run applies a changed policy or guidance \
            file once it is trusted. `nightshift init` trusts the files it writes.

            The trust store is in your configuration folder ($XDG_CONFIG_HOME/nightshift/trust, else \
            ~/.config/nightshift/trust), outside every workspace.
            """)

    @Argument(
        help: ArgumentHelp("Files to review and trust (default: the project's files in force here).", valueName: "PATH")
    )
    var paths: [String] = []
    @Option(
        help: ArgumentHelp(
            "The project's configuration file (default: .nightshift/config.yaml here or in the nearest folder above).",
            valueName: "FILE"))
    var config: String?
    @Flag(help: "Only show what is not trusted, and exit 1 if anything is; record nothing.") var check = false
    @Flag(
        name: .shortAndLong,
        help: "Trust what is shown without asking (needed where there is no terminal to ask on, as in scripts).")
    var yes = false
    @Flag(help: "List the trusted files: path, hash, who trusted them and when.") var list = false
    @Option(help: ArgumentHelp("Forget the trust of this file.", valueName: "PATH")) var revoke: String?
    @Option(
        help: ArgumentHelp(
            "Record this database as yours: one Nightshift did not make here for you (a copy, a restore) is otherwise obeyed only when named with --db.",
            valueName: "PATH"))
    var database: String?

    mutating func run() async throws {
        let untrusted = try await reportErrors { () async throws -> Bool in
            let environment = ProcessInfo.processInfo.environment
            let store = FileTrustStore(folder: FileTrustStore.defaultFolder(environment))
            if list {
                let entries = try store.entries()
                if entries.isEmpty { say("no trusted files in \(store.folder)") }
                for e in entries {
                    say("\(e.path)  sha256 \(e.sha256.prefix(12))  trusted by \(e.by) on \(date(e.at))")
                }
                return false
            }
            if let database {
                try KnownDatabase.remember(database, in: store, by: Governance.user)
                say("\(database) is recorded as your database")
                return false
            }
            if let revoke {
                let key = ConfigTrust.key(revoke)
                say(try store.revoke(key) ? "\(key) is no longer trusted" : "\(key) was not trusted")
                return false
            }
            let items =
                paths.isEmpty
                ? try TrustFiles.inForce(
                    resolve: { trust in
                        try Settings.resolve(
                            commandLine: ConfigLayer(), configFile: config, environment: environment, trust: trust)
                    }, store: store)
                : try TrustFiles.named(paths, store: store)
            if items.isEmpty {
                say("no configuration files here: nothing to trust (nightshift init writes a starter set)")
                return false
            }
            for item in items { show(item) }
            let pending = items.filter { $0.status != .trusted }
            if check { return pending.contains { $0.needsTrust } }
            guard !pending.isEmpty else {
                say("\nevery file is trusted as it is")
                return false
            }
            if !yes {
                guard isatty(0) == 1 else {
                    throw CLIError(
                        "nothing was trusted: there is no terminal to ask on; read what is shown above and pass --yes to trust it"
                    )
                }
                writeOut(
                    "\ntrust \(pending.count == 1 ? "this file" : "these \(pending.count) files") as shown above? [y/N] "
                )
                guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                    say("nothing was trusted")
                    return true
                }
            }
            let now = Timestamp(milliseconds: Int64(Date().timeIntervalSince1970 * 1000))
            try TrustFiles.record(pending, store: store, by: Governance.user, at: now)
            say("\ntrusted \(pending.count) file\(pending.count == 1 ? "" : "s") as shown, by \(Governance.user)")
            return false
        }
        if untrusted { throw ExitCode.failure }
    }

    func show(_ item: TrustFiles.Item) {
        let note = item.needsTrust ? "" : " (named by you: used whether or not trusted)"
        switch item.status {
        case .trusted:
            say("trusted   \(item.file.source)  (\(item.what))\(note)")
        case .new:
            say("NEW       \(item.file.source)  (\(item.what), never trusted)\(note)")
            showWhole(item.file.text)
        case let .changed(since, changes):
            say(
                "CHANGED   \(item.file.source)  (\(item.what); since \(since.by) trusted it on \(date(since.at)))\(note)"
            )
            guard let changes else {
                say("  (too long to compare line by line: the whole file as it is now)")
                showWhole(item.file.text)
                return
            }
            // Everything that changed is shown: what is trusted is exactly what was shown.
            if changes.isEmpty { say("  (only its line ends changed)") }
            for change in changes {
                switch change {
                case let .removed(n, text): say(String(format: "  %4d - ", n) + text)
                case let .added(n, text): say(String(format: "  %4d + ", n) + text)
                }
            }
        }
    }

    /// Every line of `text`, numbered (line ends of any kind read as one).
    func showWhole(_ text: String) {
        if text.utf8.contains(13) { say("  (its lines end in CR LF or CR)") }
        for (n, line) in LineEnds.unix(text).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            say(String(format: "  %4d | ", n + 1) + line)
        }
    }

    func date(_ t: Timestamp) -> String {
        Date(timeIntervalSince1970: Double(t.milliseconds) / 1000).formatted(.iso8601)
    }
}

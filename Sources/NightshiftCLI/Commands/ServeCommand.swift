import ArgumentParser
import Foundation
import Logging
import NightshiftConfig
import NightshiftRuntime
import NightshiftServer

/// `nightshift serve`: the HTTP API over the database, in one process with the runtime.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the HTTP API (runs, events live, the inbox, decisions) until stopped.",
        discussion: """
            Every request but GET /health needs a token (nightshift token create): \
            Authorization: Bearer nst_…. It listens on 127.0.0.1 unless --host says otherwise; on any \
            other address anyone who can reach the port can try tokens, so put TLS in front of it. \
            Errors are application/problem+json with a stable code. Like `nightshift worker`, it continues \
            the runs a decision made ready (an approval from the dashboard goes on at once), unless \
            --no-worker says another process does. SIGINT or SIGTERM stops it: live event streams end with \
            a retry hint (clients resume with Last-Event-ID) and a run it drives is handed over, as a \
            worker's is.

            Runs can start without a terminal: POST /api/runs (a token with the operate scope) starts a \
            goal or a plan in --workspace; each webhook of your own configuration file (webhooks:, never a \
            project's) is served at POST /hooks/NAME and starts its template when the request is signed \
            with its secret; and the schedules of the database (nightshift schedule) are kept, unless \
            --no-worker. Such runs are started as `nightshift run` would in their workspace, with this \
            command's model and sandbox options; the workspace's project configuration applies only when \
            you trusted it (--trust-project is never carried over to them).
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var models: ModelOptions
    @OptionGroup var sandbox: SandboxOptions
    @OptionGroup var home: WorkspaceHomeOptions
    @OptionGroup var fleet: FleetOptions
    @Flag(help: "Do not continue runs here (a `nightshift worker` does).") var noWorker = false
    @Option(help: "The address to listen on.") var host: String = "127.0.0.1"
    @Option(help: "The port to listen on (0: any free port, printed).") var port: Int = 7700
    @Option(
        help: ArgumentHelp(
            "The folder runs started through the API work in (POST /api/runs), and webhooks' without a workspace of their own.",
            valueName: "DIR"))
    var workspace: String = "."
    @Option(help: "The least level logged: trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 … 65535") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be trace, debug, info, notice, warning, error or critical")
        }
    }

    mutating func run() async throws {
        try await reportErrors {
            let config = try home.store(store)
            let level = Logger.Level(rawValue: logLevel) ?? .info
            let logger = Logger(label: "nightshift.serve") { _ in
                LineLogHandler(format: .text, level: level, write: { say($0) })
            }
            // Never a new, empty database: a mistyped --db would serve nothing, with no token known.
            let runtime = Runtime(.init(store: config), logger: logger)
            let requests = WorkerRequests(
                store: store, models: models, sandbox: sandbox, fleet: fleet, by: "nightshift serve")
            let folder = URL(fileURLWithPath: workspace).standardizedFileURL.path
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
                throw RuntimeError(.notFound, "--workspace: no folder at \(folder)")
            }
            let starts = TemplateRequests(
                models: models, sandbox: sandbox, home: home, fleet: fleet, lockTimeout: store.lockTimeout,
                store: config
            ).starts(workspace: folder, resume: requests)
            let settings = try store.settings(try models.layer())
            let webhooks = try Webhooks(settings.webhooks, workspace: folder)
            let observer = RunObserver(event: { RunLogLines.log($0, to: logger) }, notice: { logger.notice("\($0)") })
            let server = APIServer(
                runtime: runtime, configuration: .init(host: host, port: port), starts: starts, webhooks: webhooks,
                observer: observer, logger: logger)
            let host = self.host
            let http = try server.service { port in
                logger.info("serving http://\(host):\(port) (the API under /api; a token is needed)")
                if host != "127.0.0.1", host != "::1", host != "localhost" {
                    logger.warning("listening on \(host), not loopback: anyone who can reach it can try tokens")
                }
            }
            for name in webhooks.hooks.keys.sorted() { logger.info("webhook \(name) at POST /hooks/\(name)") }
            let drives = !noWorker
            try await StopSignals.serving(runtime, with: [http]) { runtime in
                guard drives else {
                    _ = try await runtime.untilStopped { try await Task.sleep(for: .seconds(365 * 86400)) }
                    return
                }
                let loop = try runtime.worker(poll: .milliseconds(500), request: requests.request, observer: observer)
                _ = try await runtime.untilStopped {
                    try await withThrowingTaskGroup(of: Void.self) { tasks in
                        tasks.addTask { try await runtime.keepSchedules(starts, observer: observer) }
                        tasks.addTask { _ = try await loop.run(once: false) }
                        try await tasks.next()
                        tasks.cancelAll()
                    }
                }
            }
            StopSignals.endIfSignalled()
        }
    }
}

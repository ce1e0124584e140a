import ArgumentParser
import Foundation
import Logging
import NightshiftConfig
import NightshiftCore
import NightshiftRuntime

#if canImport(Glibc)
import Glibc
#endif

/// A long-running process that continues paused runs as soon as a human has acted on them
/// (approved or denied a call, raised a budget, answered an escalation), so nobody has to type
/// `resume`. Waiting runs still hold nothing: the worker only reads the run queue (``WorkerLoop``).
struct Worker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Continue paused runs as soon as a human decides (approve, deny, budget, answer), and drive fleets. Runs until stopped.",
        discussion: """
            The worker reads the run queue, which the database keeps as events are appended (one indexed \
            read, however many runs the database holds), whenever a run's log grows (a decision, an answer \
            or a sub-agent's end wakes it at once: SQLite's head files are watched, PostgreSQL notifies), \
            when a parked wait's deadline comes, and otherwise once a minute (every 5 seconds where appends \
            cannot be heard: no file-change notifications, or the database's connection lost); never more \
            often than --poll-ms. Workers on many hosts may share one PostgreSQL database (--store). \
            It resumes, with the models each was \
            started with: a paused run whose latest event is a human's (approval_decided, budget_set, \
            guidance_given, plan_approved); a run waiting for its sub-agents once its wait would end (a \
            sub-agent ended, or the wait's deadline came); and a sub-agent no live process drives (made and \
            never driven, or its process died). A run another live process holds is left to it, so \
            several workers can share one database. Stop it with Ctrl-C or SIGTERM at any time: a run it was \
            driving continues from its log on the next resume or worker, like after any crash. It also keeps \
            the schedules of the database (nightshift schedule), unless --once: a slot starts at most one run \
            however many workers and servers run.
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var models: ModelOptions
    @OptionGroup var sandbox: SandboxOptions
    @OptionGroup var home: WorkspaceHomeOptions
    @Option(help: "The shortest time between looks at the run queue, in milliseconds.") var pollMs: Int = 500
    @Flag(help: "Look once, resume what is ready, and exit.") var once = false
    @OptionGroup var fleet: FleetOptions
    @Option(
        help: ArgumentHelp(
            "Between runs, dream over the finished runs of this scope (user:NAME, agent:PROFILE, project:PATH; repeatable): when a look resumed nothing, at most once every --dream-every minutes. Uses --model (or the configured dreamer); proposals wait in nightshift inbox.",
            valueName: "SCOPE"))
    var dream: [String] = []
    @Option(help: "Minutes between dreams (with --dream).") var dreamEvery: Int = 60
    @Option(help: "How the worker's log lines are written: text (for a person) or json (one object per line).")
    var logFormat: String = "text"
    @Option(help: "The least level logged: trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func validate() throws {
        guard pollMs >= 10 else { throw ValidationError("--poll-ms must be at least 10") }
        for s in dream { _ = try MemoryText.scope(s) }
        guard dreamEvery >= 1 else { throw ValidationError("--dream-every must be at least 1 (minutes)") }
        guard LineLogHandler.Format(rawValue: logFormat) != nil else {
            throw ValidationError("--log-format must be text or json")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be trace, debug, info, notice, warning, error or critical")
        }
    }

    /// One dream with the worker's settings; its trouble is reported, not thrown (runs come first).
    func dreamOnce(_ scopes: [MemoryScope], logger: Logger) async {
        do {
            let settings = try self.store.settings(try models.layer())
            var config = settings.store
            config.lockTimeoutSeconds = self.store.lockTimeout
            let outcome = try await Dreaming.run(
                Dreaming.Request(scopes: scopes), store: config, models: try settings.modelConfig(),
                policy: try settings.read(.policy), by: "nightshift worker (pid \(getpid()))")
            if let d = outcome.dream {
                let text =
                    "\(d.id): reviewed \(d.reviewed.count) run(s); \(d.proposals.count) proposal(s), "
                    + "\(outcome.applied.count) applied by the policy; the rest wait in nightshift inbox"
                logger.info("\(text)", metadata: ["dream": "\(d.id)"])
            }
        } catch let busy as RuntimeError where busy.code == .busy {
            // Another worker is dreaming; tried again --dream-every later.
            logger.notice("dream skipped: \(busy.message)")
        } catch {
            logger.error("dream failed: \(error)")
        }
    }

    mutating func run() async throws {
        try await reportErrors {
            // The database is chosen once: the one this worker watches is the one it resumes runs of.
            let config = try home.store(store)
            // Every line the worker writes is a record of this logger, so a JSON log is JSON throughout.
            let (format, level) = (logFormat, logLevel)
            let logger = Logger(label: "nightshift.worker") { _ in
                LineLogHandler(
                    format: LineLogHandler.Format(rawValue: format) ?? .text,
                    level: Logger.Level(rawValue: level) ?? .info, write: { say($0) })
            }
            let runtime = Runtime(.init(store: config), logger: logger)
            let (options, models, sandbox, fleet, home) = (self.store, self.models, self.sandbox, self.fleet, self.home)
            let dreams = DreamSchedule(
                scopes: try dream.map(MemoryText.scope), every: .seconds(dreamEvery * 60), once: once)
            let (worker, once, poll) = (self, self.once, pollMs)
            try await StopSignals.serving(runtime) { runtime in
                let requests = WorkerRequests(
                    store: options, models: models, sandbox: sandbox, fleet: fleet, by: "nightshift worker")
                let loop = try runtime.worker(
                    poll: .milliseconds(poll), request: requests.request,
                    // The runs' events a person wants to see, and the runtime's notices, as records
                    // of the worker's log (so a JSON log is JSON throughout).
                    observer: RunObserver(
                        event: { RunLogLines.log($0, to: logger) }, notice: { logger.notice("\($0)") }),
                    afterLook: { resumed in
                        if await dreams.due(resumed: resumed) { await worker.dreamOnce(dreams.scopes, logger: logger) }
                    })
                logger.info(
                    "worker (pid \(getpid())) watching \(config.location)", metadata: ["store": "\(config.location)"])
                guard !once else {
                    _ = try await runtime.untilStopped { try await loop.run(once: true) }
                    return
                }
                // The schedules (nightshift schedule) are kept beside the loop; their runs are
                // started as `nightshift run` would in their workspace, with this worker's options.
                let starts = TemplateRequests(
                    models: models, sandbox: sandbox, home: home, fleet: fleet, lockTimeout: options.lockTimeout,
                    store: config
                ).starts(workspace: FileManager.default.currentDirectoryPath, resume: requests)
                _ = try await runtime.untilStopped {
                    try await withThrowingTaskGroup(of: Void.self) { tasks in
                        tasks.addTask {
                            try await runtime.keepSchedules(
                                starts,
                                observer: RunObserver(
                                    event: { RunLogLines.log($0, to: logger) }, notice: { logger.notice("\($0)") }))
                        }
                        tasks.addTask { _ = try await loop.run(once: false) }
                        try await tasks.next()
                        tasks.cancelAll()
                    }
                }
                if runtime.isStopping { logger.info("worker (pid \(getpid())) stopped") }
            }
            StopSignals.endIfSignalled()
        }
    }
}

/// When the worker dreams: between runs (after a look that resumed nothing, or the only look of
/// `--once`), at most once every `--dream-every`.
actor DreamSchedule {
    let scopes: [MemoryScope]
    let every: Duration
    let once: Bool
    private var last: ContinuousClock.Instant?

    init(scopes: [MemoryScope], every: Duration, once: Bool) {
        self.scopes = scopes
        self.every = every
        self.once = once
    }

    /// Whether to dream now; when it says yes, the next dream is `every` from now.
    func due(resumed: Int) -> Bool {
        guard !scopes.isEmpty, resumed == 0 || once, last.map({ ContinuousClock.now - $0 >= every }) ?? true else {
            return false
        }
        last = ContinuousClock.now
        return true
    }
}

/// How a worker (`nightshift worker`, or `serve`'s) resumes each run it picks: as a worker, with
/// the command's sandbox and fleet flags, and the models and trust read again for each run (a key
/// file may change; an untrusted edit stops that run's resume, never the worker).
struct WorkerRequests: Sendable {
    let store: StoreOptions
    let models: ModelOptions
    let sandbox: SandboxOptions
    let fleet: FleetOptions
    /// Who resumes, as the log records it (the pid is added).
    let by: String

    func request(_ run: RunID) throws -> ResumeRequest {
        var request = ResumeRequest(run: run, by: "\(by) (pid \(getpid()))")
        request.driver = .worker
        request.sandbox = sandbox.flags
        request.decider = Governance.user
        request.fleetConcurrency = fleet.concurrency
        let settings = try store.settings(try models.layer())
        request.models = try models.forResume(settings)
        request.trust = settings.trust.store
        return request
    }
}

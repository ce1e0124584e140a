public import Hummingbird
public import Logging
public import NightshiftRuntime
public import ServiceLifecycle

/// `nightshift serve`: the runtime's use cases over HTTP. Every rule (who may decide, what an
/// approval binds to, what a cancellation records) is the runtime's; this only authenticates,
/// parses, calls and answers. Run its ``service`` in the same `ServiceGroup` as the runtime.
public struct APIServer: Sendable {
    /// Where it listens: loopback unless told otherwise.
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// A connection idle this long is closed (a slow or stalled client holds nothing).
        public var idleTimeout: Duration
        /// The audit key that signs exports (`GET /api/runs/ID/export`); nil: the user's default,
        /// as `nightshift audit export` uses.
        public var auditKeyFile: String?

        public init(
            host: String = "127.0.0.1", port: Int = 7700, idleTimeout: Duration = .seconds(60),
            auditKeyFile: String? = nil
        ) {
            self.host = host
            self.port = port
            self.idleTimeout = idleTimeout
            self.auditKeyFile = auditKeyFile
        }
    }

    /// The largest request body accepted (a decision is a few hundred bytes).
    public static let maxBodyBytes = 64 * 1024

    public let runtime: Runtime
    public let configuration: Configuration
    public let logger: Logger
    /// How runs are started and resumed through the API; nil: `POST /api/runs` and resume are
    /// not served (answered 404).
    public let starts: RunStarts?
    /// The user's webhooks (`POST /hooks/NAME`); nil or empty: none is served.
    public let webhooks: Webhooks?
    /// Where the runs it starts report (the server's log).
    public let observer: RunObserver

    public init(
        runtime: Runtime, configuration: Configuration = Configuration(), starts: RunStarts? = nil,
        webhooks: Webhooks? = nil, observer: RunObserver = RunObserver(), logger: Logger
    ) {
        self.runtime = runtime
        self.configuration = configuration
        self.starts = starts
        self.webhooks = webhooks
        self.observer = observer
        self.logger = logger
    }

    /// The HTTP server as a service; `onListening` gets the port it bound (useful with port 0).
    public func service(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> some Service {
        let router = Router(context: APIContext.self)
        let methods = RouteMethods()
        router.add(middleware: ProblemMiddleware(logger: logger, methods: methods))
        Routes.open(router)
        let api = router.group("api")
        api.add(middleware: TokenAuthentication(tokens: try runtime.tokens()))
        Routes.runs(api, runtime: runtime)
        Routes.decisions(api, runtime: runtime)
        RecordRoutes.routes(api, runtime: runtime, auditKeyFile: configuration.auditKeyFile)
        if let starts {
            StartRoutes.api(api, runtime: runtime, starts: starts, observer: observer)
            // Served with no hook too: every name is then unknown (404, as problem+json).
            StartRoutes.hooks(
                router, runtime: runtime, webhooks: try webhooks ?? Webhooks([], workspace: starts.workspace),
                starts: starts, observer: observer, logger: logger)
        }
        let sessions = Sessions()
        DashboardRoutes.open(router.group("dashboard"), runtime: runtime, sessions: sessions)
        let dashboard = router.group("dashboard")
        dashboard.add(middleware: SessionAuthentication(tokens: try runtime.tokens(), sessions: sessions))
        DashboardRoutes.signedIn(dashboard, runtime: runtime, sessions: sessions)
        DashboardRecordRoutes.signedIn(dashboard, runtime: runtime, webhooks: webhooks)
        methods.record(router.routes.map { ("\($0.path)", $0.method.rawValue) })
        let seconds = configuration.idleTimeout.components.seconds
        return Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: .seconds(seconds))),
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "nightshift"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
    }
}

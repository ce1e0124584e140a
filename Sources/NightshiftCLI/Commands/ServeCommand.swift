import ArgumentParser
import Foundation
import Logging
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
            Errors are application/problem+json with a stable code. SIGINT or SIGTERM stops it: live \
            event streams end with a retry hint, and clients resume with Last-Event-ID.
            """)

    @OptionGroup var store: StoreOptions
    @Option(help: "The address to listen on.") var host: String = "127.0.0.1"
    @Option(help: "The port to listen on (0: any free port, printed).") var port: Int = 7700
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
            var config = try store.resolved()
            config.lockTimeoutSeconds = store.lockTimeout
            let level = Logger.Level(rawValue: logLevel) ?? .info
            let logger = Logger(label: "nightshift.serve") { _ in
                LineLogHandler(format: .text, level: level, write: { say($0) })
            }
            let runtime = Runtime(.init(store: config, createsDatabase: true), logger: logger)
            let server = APIServer(
                runtime: runtime, configuration: .init(host: host, port: port), logger: logger)
            let host = self.host
            let http = try server.service { port in
                logger.info("serving http://\(host):\(port) (the API under /api; a token is needed)")
                if host != "127.0.0.1", host != "::1", host != "localhost" {
                    logger.warning("listening on \(host), not loopback: anyone who can reach it can try tokens")
                }
            }
            try await StopSignals.serving(runtime, with: [http]) { runtime in
                try await runtime.untilStopped { try await Task.sleep(for: .seconds(365 * 86400)) }
            }
            StopSignals.endIfSignalled()
        }
    }
}

import ArgumentParser
import Dispatch
import Foundation
import Logging
import NightshiftCLI
import NightshiftCore
import NightshiftHarness
import NightshiftRuntime
import NightshiftSQLite
import NightshiftServer

#if canImport(Glibc)
import Glibc
#endif

extension Bench {
    /// `nightshift-bench serve`: the HTTP API (`nightshift serve`) over a database of finished runs.
    ///
    /// Decisions, so that figures from different days describe the same work:
    /// - The runs are real: each is a W1 run of `--steps` echo steps (the scripted model, a test
    ///   double), created and driven to its end by the harness on SQLite, so every row and event is
    ///   what a finished run leaves (about 25 events a run at 3 steps). They are written before the
    ///   server starts.
    /// - The server is the one `nightshift serve` runs, in this process: `Runtime` over the same
    ///   database, `APIServer` on 127.0.0.1 (a free port), and, unless `--no-worker`, the worker loop
    ///   `serve` runs beside it (polling every 500 ms, as `serve` does). Its store opens as `serve`
    ///   opens it (synchronous=FULL); `--durability` applies to the benchmark's own writes.
    /// - Requests per second are `wrk`'s (Debian's package), on loopback, on the same two cores as
    ///   the server: `GET /api/runs` (the first page, 100 runs, newest first: the route reads every
    ///   run's row to make it) and `GET /api/runs/RUN` (a run's page as the API serves it: its log
    ///   read and checked, status, tasks, spend). The dashboard's run page needs a session cookie
    ///   and is not measured. Each route gets `--seconds` with `--threads` and `--connections`, a
    ///   read token in `Authorization`; latency percentiles are wrk's, and so is the count of
    ///   answers that were not 2xx (any is an error of the benchmark).
    /// - Live events: `--clients` plain sockets (one reader thread polling all of them, so the
    ///   time of arrival is the time the bytes can be read, with no client library's scheduling in
    ///   it) ask `GET /api/runs/RUN/events` with `Accept: text/event-stream` for a run that is
    ///   running (`run_created`, `plan_set`, `task_started`) and so keeps its streams open. Once
    ///   every client has the backlog, `--events` `note_added` events of about 1 KB (a W1 tool
    ///   result's size) are appended one at a time through another handle on the database (as
    ///   another process, such as `nightshift run` or a worker, would append: the server hears of
    ///   it through its inotify watch on the head witnesses). The commit time is read right after
    ///   `append` returns, and the next append waits until every client has the event, so each
    ///   figure is one event's delay alone. The delay of a (client, event) pair is the moment the
    ///   client could read the frame with that `id:` minus the commit time; median, p99 and max are
    ///   over every pair.
    /// - Idle: the process's CPU time (`getrusage`, user + system, which includes the benchmark's
    ///   own sleeping reader) over `--idle-seconds`, first with the clients' streams still open on
    ///   the run that does not move, then after the run finished (its streams end) and the clients
    ///   left, with only the server and the worker over the finished runs.
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve",
            abstract:
                "The HTTP API: requests/s for the runs list and a run (wrk), commit-to-client delay of live events to many SSE clients, idle CPU.",
            discussion: """
                Writes --runs finished W1 runs, serves them in this process as `nightshift serve` does (with \
                its worker unless --no-worker), measures GET /api/runs and GET /api/runs/RUN with wrk \
                (apt-get install wrk), then the delay from an event's commit to its arrival at --clients \
                server-sent-event clients, then the process's CPU while idle. See docs/benchmarks.md.
                """)

        @OptionGroup var options: Bench.Options
        @Option(help: "Finished runs in the database.") var runs: Int = 1000
        @Option(help: "W1 steps in each finished run.") var steps: Int = 3
        @Option(help: "Seconds of wrk per route.") var seconds: Int = 10
        @Option(help: "wrk's threads.") var threads: Int = 2
        @Option(help: "wrk's open connections.") var connections: Int = 32
        @Option(help: "Server-sent-event clients on the live run.") var clients: Int = 100
        @Option(help: "Events appended to the live run, one at a time.") var events: Int = 200
        @Option(help: "Seconds of each idle CPU measurement.") var idleSeconds: Int = 10
        @Flag(help: "Serve without the worker loop `nightshift serve` runs by default.") var noWorker = false

        func validate() throws {
            guard (1...1_000_000).contains(runs) else { throw ValidationError("--runs must be 1 … 1,000,000") }
            guard (1...1000).contains(steps) else { throw ValidationError("--steps must be 1 … 1,000") }
            guard (1...3600).contains(seconds) else { throw ValidationError("--seconds must be 1 … 3600") }
            guard (1...64).contains(threads), connections >= threads, connections <= 10000 else {
                throw ValidationError("--threads must be 1 … 64 and --connections at least --threads (at most 10,000)")
            }
            guard (1...2000).contains(clients) else { throw ValidationError("--clients must be 1 … 2,000") }
            guard (1...100_000).contains(events) else { throw ValidationError("--events must be 1 … 100,000") }
            // The server closes a connection idle for 60 s: the idle streams are measured well within it.
            guard (1...50).contains(idleSeconds) else { throw ValidationError("--idle-seconds must be 1 … 50") }
        }

        mutating func run() async throws {
            let me = self
            try await reportErrors { try await me.measure() }
        }

        func measure() async throws {
            guard let wrk = Self.onPath("wrk") else {
                throw CLIError(
                    "wrk is not on PATH: apt-get install wrk (Debian; scripts/install-debian-packages.sh installs it)")
            }
            let dir = try options.folder()
            let out = BenchOutput(json: options.json)
            let db = dir + "/serve-\(runs).db"
            for suffix in ["", "-wal", "-shm", "-heads"] { try? FileManager.default.removeItem(atPath: db + suffix) }
            defer {
                if options.dir == nil {
                    for suffix in ["", "-wal", "-shm", "-heads"] {
                        try? FileManager.default.removeItem(atPath: db + suffix)
                    }
                }
            }

            // The database: finished runs, then the live run the streams follow.
            let fillStart = ContinuousClock.now
            let appender = try options.store(db)
            try await Self.fill(store: appender, runs: runs, steps: steps)
            let fillSeconds = ms(ContinuousClock.now - fillStart) / 1000
            let live = RunID("serve-live")
            let task = TaskID("live")
            var head =
                try await appender.append(
                    [
                        .runCreated(
                            title: "live", workspace: "/nowhere", model: "scripted:none", settings: RunSettings()),
                        .planSet(plan: Plan(title: "live", tasks: [PlanTask(id: task, description: "d", checks: [])])),
                        .taskStarted(task: task, attempt: 1),
                    ], to: live, expectedSeq: 0
                ).last?.seq ?? 0
            let summaries = try await appender.runs()
            let stored = summaries.reduce(Int64(0)) { $0 + $1.headSeq }
            out.emit(
                [
                    "workload": "serve-setup", "finished_runs": runs, "steps_per_run": steps,
                    "events": stored, "fill_s": round3(fillSeconds), "durability": options.label,
                ],
                table: String(
                    format: "serve: %d finished W1 runs of %d steps (%lld events) written in %.1f s  [%@]",
                    runs, steps, stored, fillSeconds, options.label))

            var logger = Logger(label: "nightshift-bench.serve") { StreamLogHandler.standardError(label: $0) }
            logger.logLevel = .warning
            let runtime = Runtime(.init(store: StoreConfig(db: db)), logger: logger)
            let token = try await runtime.tokens().create(
                name: "nightshift-bench serve", principal: "bench", scopes: [.read]
            ).text
            let (ports, listening) = AsyncStream<Int>.makeStream()
            let server = APIServer(runtime: runtime, configuration: .init(host: "127.0.0.1", port: 0), logger: logger)
            let http = try server.service { listening.yield($0) }
            let worker = !noWorker
            try await runtime.serving(with: [http]) { runtime in
                var ports = ports.makeAsyncIterator()
                guard let port = await ports.next() else { throw CLIError("the server never listened") }
                let loop = try runtime.worker(
                    poll: .milliseconds(500),
                    request: { run in
                        throw CLIError("nightshift-bench serve has nothing to continue, yet the worker found \(run)")
                    }, observer: RunObserver())
                let working = Task {
                    guard worker else { return }
                    _ = try await runtime.untilStopped { try await loop.run(once: false) }
                }
                defer { working.cancel() }

                // Requests per second, each route checked by hand first.
                let page = summaries.filter { $0.id != live }.sorted { $0.id < $1.id }
                let middle = page[page.count / 2].id
                let routes = [("runs-list", "/api/runs"), ("run", "/api/runs/\(middle.rawValue)")]
                for (name, path) in routes {
                    let (status, body) = try Self.get(port: port, path: path, token: token)
                    guard status == 200 else {
                        throw CLIError("GET \(path) answered \(status): \(body.prefix(300))")
                    }
                    let cpu = Self.cpuSeconds()
                    let start = ContinuousClock.now
                    let r = try await Self.wrk(
                        wrk, url: "http://127.0.0.1:\(port)\(path)", token: token, threads: threads,
                        connections: connections, seconds: seconds, dir: dir)
                    let cores = (Self.cpuSeconds() - cpu) / (ms(ContinuousClock.now - start) / 1000)
                    guard r.non2xx == 0 else {
                        throw CLIError("wrk got \(r.non2xx) answers that were not 2xx from GET \(path)")
                    }
                    out.emit(
                        [
                            "workload": "serve-http", "route": "GET \(path)", "name": name,
                            "finished_runs": runs, "requests_per_s": round1(r.requestsPerSecond),
                            "latency_median_ms": round3(r.medianMs), "latency_p99_ms": round3(r.p99Ms),
                            "requests": r.requests, "socket_errors": r.socketErrors, "threads": threads,
                            "connections": connections, "seconds": seconds, "response_bytes": body.utf8.count,
                            "server_cores": round3(cores), "worker": worker, "durability": options.label,
                        ],
                        table: String(
                            format:
                                "GET %@ (%d runs): %.0f requests/s, latency median %.2f ms, p99 %.2f ms, %d socket errors, %d B answers; server %.2f cores (wrk -t%d -c%d, %d s)",
                            name == "run" ? "/api/runs/RUN" : path, runs, r.requestsPerSecond, r.medianMs, r.p99Ms,
                            r.socketErrors, body.utf8.count, cores, threads, connections, seconds))
                }

                // Live events to many clients.
                let stream = try SSEClients(
                    port: port, path: "/api/runs/\(live.rawValue)/events", token: token, count: clients)
                defer { stream.close() }
                let backlog = head
                guard await stream.wait(.reached(backlog), timeout: .seconds(30)) else {
                    throw CLIError(
                        "not every client got the live run's first \(backlog) events within 30 s: \(stream.describe())")
                }
                let note = String(repeating: "n", count: 1000)
                var commits: [Int64: UInt64] = [:]
                var timedOut = 0
                for i in 1...events {
                    let appended = try await appender.append(
                        [.noteAdded(task: task, text: "event \(i): \(note)")], to: live, expectedSeq: head)
                    let committed = monotonicNanoseconds()
                    head = appended.last?.seq ?? head
                    commits[head] = committed
                    if await !stream.wait(.reached(head), timeout: .seconds(10)) { timedOut += 1 }
                }
                let delays = stream.delays(commits).sorted()
                let lost = clients * events - delays.count
                func pick(_ q: Double) -> Double {
                    delays.isEmpty ? .nan : delays[min(delays.count - 1, Int(Double(delays.count) * q))]
                }
                out.emit(
                    [
                        "workload": "serve-sse", "clients": clients, "events": events, "event_bytes": note.utf8.count,
                        "median_ms": round3(pick(0.5)), "p99_ms": round3(pick(0.99)),
                        "max_ms": round3(delays.last ?? .nan), "lost": lost, "finished_runs": runs,
                        "durability": options.label, "worker": worker,
                    ],
                    table: String(
                        format:
                            "live events to %d SSE clients (%d events of ~1 KB, one at a time): commit → client median %.2f ms, p99 %.2f ms, max %.2f ms, %d not delivered  [%@]",
                        clients, events, pick(0.5), pick(0.99), delays.last ?? .nan, lost, options.label))
                if timedOut > 0 { say("(\(timedOut) events did not reach every client within 10 s)") }

                // Idle with the streams open on a run that does not move.
                let openCPU = try await Self.idleShare(seconds: idleSeconds)
                let stillOpen = stream.openCount()
                out.emit(
                    [
                        "workload": "serve-idle", "streams": stillOpen, "finished_runs": runs, "worker": worker,
                        "seconds": idleSeconds, "core_share": round3(openCPU), "durability": options.label,
                    ],
                    table: String(
                        format: "idle, %d live streams open on a running run that does not move: %.2f%% of a core",
                        stillOpen, openCPU * 100))

                // The live run ends: every stream must end with it.
                _ = try await appender.append([.runFinished(summary: "done")], to: live, expectedSeq: head)
                guard await stream.wait(.ended, timeout: .seconds(30)) else {
                    throw CLIError("the streams did not end with the run within 30 s: \(stream.describe())")
                }
                stream.close()
                try await Task.sleep(for: .seconds(2))
                let idleCPU = try await Self.idleShare(seconds: idleSeconds)
                out.emit(
                    [
                        "workload": "serve-idle", "streams": 0, "finished_runs": runs + 1, "worker": worker,
                        "seconds": idleSeconds, "core_share": round3(idleCPU), "peak_rss_mb": round1(peakRSSMB()),
                        "durability": options.label,
                    ],
                    table: String(
                        format:
                            "idle over %d finished runs, no client, %@: %.2f%% of a core (peak RSS of the process %.0f MB)",
                        runs + 1, worker ? "server and worker" : "server alone", idleCPU * 100, peakRSSMB()))
            }
        }

        /// `runs` W1 runs driven to their end by the harness, 16 at a time.
        static func fill(store: SQLiteEventStore, runs: Int, steps: Int) async throws {
            let workspace = FileManager.default.temporaryDirectory.path
            try await withThrowingTaskGroup(of: Void.self) { group in
                for n in 0..<runs {
                    if n >= 16 { try await group.next() }
                    group.addTask {
                        let harness = Harness(
                            store: store, model: W1Model(steps: steps), tools: W1Tools(effectsFile: nil),
                            checks: NoChecks())
                        let run = RunID(String(format: "serve-%07d", n))
                        _ = try await harness.create(
                            run, title: "W1 \(n)", plan: w1Plan(steps), workspace: workspace,
                            settings: w1Settings(steps))
                        let reason = try await harness.drive(run)
                        guard reason == .finished else { throw CLIError("run \(run) did not finish: \(reason.text)") }
                    }
                }
                try await group.waitForAll()
            }
        }

        /// This process's share of one core over `seconds` of doing nothing itself.
        static func idleShare(seconds: Int) async throws -> Double {
            let cpu = cpuSeconds()
            let start = ContinuousClock.now
            try await Task.sleep(for: .seconds(seconds))
            return (cpuSeconds() - cpu) / (ms(ContinuousClock.now - start) / 1000)
        }

        /// User plus system CPU seconds of this process so far.
        static func cpuSeconds() -> Double {
            var usage = rusage()
            _ = getrusage(RUSAGE_SELF.rawValue, &usage)
            return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
                + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        }

        static func onPath(_ name: String) -> String? {
            let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
            return path.split(separator: ":").map { "\($0)/\(name)" }.first {
                FileManager.default.isExecutableFile(atPath: $0)
            }
        }

        struct WrkResult {
            var requestsPerSecond: Double
            var medianMs: Double
            var p99Ms: Double
            var requests: Int
            var non2xx: Int
            var socketErrors: Int
        }

        /// Runs wrk to its end (awaited, not waited for on a thread the server needs) and reads its report.
        static func wrk(
            _ wrk: String, url: String, token: String, threads: Int, connections: Int, seconds: Int, dir: String
        ) async throws -> WrkResult {
            let report = dir + "/wrk-\(getpid()).txt"
            _ = FileManager.default.createFile(atPath: report, contents: nil)
            defer { try? FileManager.default.removeItem(atPath: report) }
            guard let handle = FileHandle(forWritingAtPath: report) else { throw CLIError("cannot write \(report)") }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: wrk)
            process.arguments = [
                "-t\(threads)", "-c\(connections)", "-d\(seconds)s", "--latency", "-H",
                "Authorization: Bearer \(token)",
                url,
            ]
            process.standardOutput = handle
            process.standardError = handle
            try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
                process.terminationHandler = { _ in done.resume() }
                do { try process.run() } catch { done.resume(throwing: error) }
            }
            try? handle.close()
            let text = (try? String(contentsOfFile: report, encoding: .utf8)) ?? ""
            guard process.terminationStatus == 0, let parsed = parseWrk(text) else {
                throw CLIError("wrk failed (status \(process.terminationStatus)): \(text.suffix(500))")
            }
            return parsed
        }

        /// wrk's report: `Requests/sec:`, the `--latency` distribution, the totals and the errors.
        static func parseWrk(_ text: String) -> WrkResult? {
            var result = WrkResult(
                requestsPerSecond: .nan, medianMs: .nan, p99Ms: .nan, requests: 0, non2xx: 0, socketErrors: 0)
            var sawRate = false
            for raw in text.split(separator: "\n") {
                let line = raw.trimmingCharacters(in: .whitespaces)
                let words = line.split(separator: " ", omittingEmptySubsequences: true)
                if line.hasPrefix("Requests/sec:"), words.count >= 2, let rate = Double(words[1]) {
                    result.requestsPerSecond = rate
                    sawRate = true
                } else if line.hasPrefix("50%"), words.count >= 2 {
                    result.medianMs = milliseconds(String(words[1]))
                } else if line.hasPrefix("99%"), words.count >= 2 {
                    result.p99Ms = milliseconds(String(words[1]))
                } else if line.contains("requests in"), let n = Int(words.first ?? "") {
                    result.requests = n
                } else if line.hasPrefix("Non-2xx or 3xx responses:"), let n = Int(words.last ?? "") {
                    result.non2xx = n
                } else if line.hasPrefix("Socket errors:") {
                    // "Socket errors: connect 0, read 0, write 0, timeout 0"
                    result.socketErrors = words.compactMap { Int($0.trimmingCharacters(in: .punctuationCharacters)) }
                        .reduce(0, +)
                }
            }
            return sawRate ? result : nil
        }

        /// One of wrk's durations (`812.00us`, `1.20ms`, `2.01s`, `1.00m`) in milliseconds.
        static func milliseconds(_ text: String) -> Double {
            let units: [(String, Double)] = [("us", 0.001), ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
            for (unit, factor) in units where text.hasSuffix(unit) {
                if let value = Double(text.dropLast(unit.count)) { return value * factor }
            }
            return .nan
        }

        /// One GET with `Connection: close`: its status and body (for the checks before wrk).
        static func get(port: Int, path: String, token: String) throws -> (Int, String) {
            let fd = try connectLoopback(port: port)
            defer { Glibc.close(fd) }
            try sendAll(
                fd,
                "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAuthorization: Bearer \(token)\r\nConnection: close\r\n\r\n"
            )
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                bytes += buffer[0..<n]
            }
            let text = String(decoding: bytes, as: UTF8.self)
            let status = Int(text.split(separator: " ", maxSplits: 2).dropFirst().first ?? "") ?? 0
            let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
            return (status, body)
        }
    }
}

/// Nanoseconds on CLOCK_MONOTONIC: the one clock both the appender and the readers read.
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// A blocking TCP connection to 127.0.0.1:`port`.
func connectLoopback(port: Int) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw CLIError("socket: \(String(cString: strerror(errno)))") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard connected == 0 else {
        let reason = String(cString: strerror(errno))
        close(fd)
        throw CLIError("connecting to 127.0.0.1:\(port): \(reason)")
    }
    return fd
}

func sendAll(_ fd: Int32, _ text: String) throws {
    let bytes = Array(text.utf8)
    var sent = 0
    while sent < bytes.count {
        let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard n > 0 else { throw CLIError("sending a request: \(String(cString: strerror(errno)))") }
        sent += n
    }
}

/// Server-sent-event clients on plain sockets, read by one thread that polls them all: each
/// frame's `id:` is stamped with the moment its bytes could be read. The stream is chunked
/// HTTP/1.1; a chunk's size line never falls inside a frame (the server writes each frame as one
/// chunk), so the `id: N` lines are found by splitting the bytes at newlines, and a stream has
/// ended at its last chunk (`0`) or when the server closes the connection.
final class SSEClients: @unchecked Sendable {
    enum Condition {
        /// Every client has the event `seq`.
        case reached(Int64)
        /// Every client's stream has ended.
        case ended
    }

    private let lock = NSLock()
    private var fds: [Int32]
    private var status: [Int]
    private var last: [Int64]
    private var arrivals: [[Int64: UInt64]]
    private var ended: [Bool]
    private var pending: [[UInt8]]
    private var stopping = false
    private var closed = false
    private var waiter: (id: Int, condition: Condition, continuation: CheckedContinuation<Bool, Never>)?
    private var nextWaiter = 0
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)

    init(port: Int, path: String, token: String, count: Int) throws {
        var fds: [Int32] = []
        do {
            for _ in 0..<count {
                let fd = try connectLoopback(port: port)
                fds.append(fd)
                try sendAll(
                    fd,
                    "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAuthorization: Bearer \(token)\r\n"
                        + "Accept: text/event-stream\r\n\r\n")
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            }
        } catch {
            for fd in fds { Glibc.close(fd) }
            throw error
        }
        self.fds = fds
        status = Array(repeating: 0, count: count)
        last = Array(repeating: 0, count: count)
        arrivals = Array(repeating: [:], count: count)
        ended = Array(repeating: false, count: count)
        pending = Array(repeating: [], count: count)
        let thread = Thread { [self] in read() }
        thread.name = "nightshift-bench sse"
        self.thread = thread
        thread.start()
    }

    private func read() {
        var polled = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            lock.lock()
            let stop = stopping
            lock.unlock()
            if stop { break }
            let ready = poll(&polled, nfds_t(polled.count), 100)
            if ready <= 0 { continue }
            lock.lock()
            for i in polled.indices where polled[i].fd >= 0 && polled[i].revents != 0 {
                polled[i].revents = 0
                while true {
                    let n = buffer.withUnsafeMutableBytes { Glibc.read(polled[i].fd, $0.baseAddress, $0.count) }
                    if n > 0 {
                        take(i, buffer[0..<n], at: monotonicNanoseconds())
                        if n < buffer.count { break }
                    } else {
                        if n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) {
                            ended[i] = true
                            polled[i].fd = -1
                        }
                        break
                    }
                }
            }
            settle()
            lock.unlock()
        }
        finished.signal()
    }

    /// Under the lock: the lines of one read.
    private func take(_ client: Int, _ bytes: ArraySlice<UInt8>, at time: UInt64) {
        var line = pending[client]
        for byte in bytes {
            if byte != 10 {
                line.append(byte)
                continue
            }
            if line.count > 4, line[0] == 105, line[1] == 100, line[2] == 58, line[3] == 32,  // "id: "
                let seq = Int64(String(decoding: line[4...], as: UTF8.self).trimmingCharacters(in: .whitespaces))
            {
                if arrivals[client][seq] == nil { arrivals[client][seq] = time }
                last[client] = max(last[client], seq)
            } else if line == [48, 13] {
                // "0\r": the last chunk. The response is over; HTTP/1.1 keeps the connection.
                ended[client] = true
            } else if status[client] == 0, line.starts(with: Array("HTTP/1.1 ".utf8)) {
                status[client] = Int(String(decoding: line[9..<min(12, line.count)], as: UTF8.self)) ?? -1
            }
            line.removeAll(keepingCapacity: true)
        }
        pending[client] = line
    }

    private func holds(_ condition: Condition) -> Bool {
        switch condition {
        case let .reached(seq): last.allSatisfy { $0 >= seq }
        case .ended: ended.allSatisfy { $0 }
        }
    }

    /// Under the lock: wakes the waiter whose condition now holds.
    private func settle() {
        if let w = waiter, holds(w.condition) {
            waiter = nil
            w.continuation.resume(returning: true)
        }
    }

    /// Whether `condition` held within `timeout`.
    func wait(_ condition: Condition, timeout: Duration) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            lock.lock()
            if holds(condition) {
                lock.unlock()
                continuation.resume(returning: true)
                return
            }
            nextWaiter += 1
            let id = nextWaiter
            waiter = (id, condition, continuation)
            lock.unlock()
            let ms =
                Int(timeout.components.seconds) * 1000 + Int(timeout.components.attoseconds / 1_000_000_000_000_000)
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(ms)) { [self] in
                lock.lock()
                guard let w = waiter, w.id == id else {
                    lock.unlock()
                    return
                }
                waiter = nil
                lock.unlock()
                w.continuation.resume(returning: false)
            }
        }
    }

    /// Every (client, event) delay in milliseconds, for the events in `commits` (seq → commit time).
    func delays(_ commits: [Int64: UInt64]) -> [Double] {
        lock.lock()
        defer { lock.unlock() }
        var out: [Double] = []
        out.reserveCapacity(arrivals.count * commits.count)
        for client in arrivals {
            for (seq, committed) in commits {
                guard let arrived = client[seq] else { continue }
                out.append((Double(arrived) - Double(committed)) / 1e6)
            }
        }
        return out
    }

    func openCount() -> Int {
        lock.lock()
        defer { lock.unlock() }
        return ended.filter { !$0 }.count
    }

    func describe() -> String {
        lock.lock()
        defer { lock.unlock() }
        let statuses = Dictionary(grouping: status, by: { $0 }).mapValues(\.count)
        return "HTTP statuses \(statuses), events seen from \(last.min() ?? 0) to \(last.max() ?? 0), "
            + "\(ended.filter { $0 }.count) streams ended"
    }

    /// Stops the reader and closes every socket (once).
    func close() {
        lock.lock()
        if closed {
            lock.unlock()
            return
        }
        closed = true
        stopping = true
        lock.unlock()
        finished.wait()
        for fd in fds { Glibc.close(fd) }
    }
}

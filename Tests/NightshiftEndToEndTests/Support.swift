import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftHarness
import NightshiftModels
import NightshiftSQLite
import NightshiftTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The configuration folder the CLI tests' commands use unless a test names its own: shared by
/// this test process (so `nightshift init` trusts files for the commands after it), apart from the
/// machine user's own.
let testConfigHome: String = {
    let path = tempDir("ns-config-home")
    chmod(path, 0o777)
    return path
}()

/// The `nightshift` executable built next to this test bundle.
func nightshiftBinary() throws -> String {
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for dir in [
        bundle, bundle.deletingLastPathComponent(),
        URL(fileURLWithPath: FileManager.default.currentDirectoryPath + "/.build/debug"),
    ] {
        let candidate = dir.appendingPathComponent("nightshift").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    throw TestFailure(
        "the nightshift executable was not built next to the tests (run `swift build --build-tests` first)")
}

struct CLIResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `nightshift` with arguments; waits at most `timeout`.
func nightshift(
    _ args: [String], env: [String: String] = [:], asUser uid: UInt32? = nil, timeout: Duration = .seconds(120),
    cwd: String? = nil
) async throws -> CLIResult {
    // The copy run as another user can still be held open for writing for an instant by a child
    // another test is spawning (between its fork and its exec): exec then fails with ETXTBSY. Retry.
    for _ in 0..<5 {
        let r = try await nightshiftOnce(args, env: env, asUser: uid, timeout: timeout, cwd: cwd)
        guard uid != nil, r.status == 126, r.stderr.contains("Text file busy") else { return r }
        try await Task.sleep(for: .milliseconds(200))
    }
    return try await nightshiftOnce(args, env: env, asUser: uid, timeout: timeout, cwd: cwd)
}

private func nightshiftOnce(
    _ args: [String], env: [String: String], asUser uid: UInt32?, timeout: Duration, cwd: String?
) async throws -> CLIResult {
    let p = Process()
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    var argv = args
    if let uid {
        // The build folder may sit under a directory the unprivileged user cannot enter: run a copy.
        let copyDir = tempDir("ns-bin")
        let copy = copyDir + "/nightshift"
        try copyCloseOnExec(from: try nightshiftBinary(), to: copy)
        p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        argv = ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", copy] + args
    } else {
        p.executableURL = URL(fileURLWithPath: try nightshiftBinary())
    }
    p.arguments = argv
    var environment = ProcessInfo.processInfo.environment
    // The person's configuration folder (their own file, the trust store, the audit key): one of
    // this test process's own unless the test names one, never the machine user's.
    environment["XDG_CONFIG_HOME"] = testConfigHome
    for (k, v) in env { environment[k] = v }
    p.environment = environment
    let dir = tempDir("ns-out")
    FileManager.default.createFile(atPath: dir + "/out", contents: nil)
    FileManager.default.createFile(atPath: dir + "/err", contents: nil)
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/out"))
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/err"))
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let deadline = ContinuousClock.now + timeout
    while p.isRunning {
        if ContinuousClock.now > deadline {
            p.terminate()
            throw TestFailure("nightshift \(args.joined(separator: " ")) timed out")
        }
        try await Task.sleep(for: .milliseconds(10))
    }
    try out.close()
    try err.close()
    return CLIResult(
        status: p.terminationStatus,
        stdout: (try? String(contentsOfFile: dir + "/out", encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOfFile: dir + "/err", encoding: .utf8)) ?? "")
}

extension Process {
    /// Waits for exit without blocking a cooperative-pool thread (which starves other tests).
    func exit(within timeout: Duration = .seconds(30)) async {
        let deadline = ContinuousClock.now + timeout
        while isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(5)) }
    }
}

/// Reads from a pipe until `marker` appears, off the cooperative pool.
func readUntil(_ pipe: Pipe, contains marker: String, timeout: Duration = .seconds(30)) async -> String {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread {
            var text = ""
            let deadline = Date().addingTimeInterval(Double(timeout.components.seconds))
            while !text.contains(marker) && Date() < deadline {
                let data = pipe.fileHandleForReading.availableData
                if data.isEmpty { break }
                text += String(decoding: data, as: UTF8.self)
            }
            continuation.resume(returning: text)
        }
    }
}

/// Copies a file through a close-on-exec descriptor: a child another test spawns meanwhile must
/// not inherit the write descriptor, or executing the copy fails with "Text file busy".
func copyCloseOnExec(from source: String, to destination: String) throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: source))
    let fd = open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
    guard fd >= 0 else { throw TestFailure("cannot create \(destination)") }
    let written = data.withUnsafeBytes { write(fd, $0.baseAddress, data.count) }
    close(fd)
    guard written == data.count else { throw TestFailure("short write to \(destination)") }
}

/// Waits (at most `timeout`) until `run` in the database at `db` has finished; its final status.
func waitForFinish(_ run: String, db: String, timeout: Duration = .seconds(30)) async throws -> RunStatus? {
    let store = try SQLiteEventStore(path: db)
    let deadline = ContinuousClock.now + timeout
    while try await store.summary(of: RunID(run))?.status != .finished, ContinuousClock.now < deadline {
        try await Task.sleep(for: .milliseconds(50))
    }
    return try await store.summary(of: RunID(run))?.status
}

/// Runs the binary with `argv` and a test stop point in `env` (`NIGHTSHIFT_TEST_STOP_AFTER_SEQ`
/// or `NIGHTSHIFT_TEST_STOP_AT`), waits until it stops itself there, and SIGKILLs it. False (an
/// issue recorded) when it never stopped.
func killWhereItStops(_ argv: [String], env: [String: String], output: String) async throws -> Bool {
    let child = try ChildProcess.spawn(
        [try nightshiftBinary()] + argv, environment: testEnvironment.merging(env) { $1 },
        outputPath: output)
    guard case .stopped = await child.wait(timeout: .seconds(60)) else {
        child.kill()
        Issue.record("\(argv.prefix(2).joined(separator: " ")) did not stop at \(env)")
        return false
    }
    child.kill()
    return true
}

/// `nightshift trust` in `dir`: a person's review of the project's configuration files as they
/// are now (what a person does after editing them by hand).
func trustProject(_ dir: String, env: [String: String] = [:]) async throws {
    let r = try await nightshift(["trust", "--yes"], env: env, cwd: dir)
    guard r.status == 0 else { throw TestFailure("nightshift trust failed: \(r.stdout)\(r.stderr)") }
}

/// A TCP listener on loopback that only counts who connects and keeps what they sent first: an
/// attacker's endpoint, which a test expects never to be reached.
final class ConnectionCounter: @unchecked Sendable {
    let port: Int
    private let fd: Int32
    private let lock = NSLock()
    private var accepted = 0
    private var bytes = ""

    init() throws {
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard sock >= 0 else { throw TestFailure("socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(sock, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(sock, 16) == 0 else { throw TestFailure("cannot listen on loopback") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(sock, $0, &length) }
        }
        fd = sock
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in self.serve() }
    }

    private func serve() {
        while true {
            let client = accept(fd, nil, nil)
            guard client >= 0 else { return }  // closed
            var buffer = [UInt8](repeating: 0, count: 4096)
            var timeout = timeval(tv_sec: 1, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let n = read(client, &buffer, buffer.count)
            lock.withLock {
                accepted += 1
                if n > 0 { bytes += String(decoding: buffer.prefix(n), as: UTF8.self) }
            }
            Glibc.close(client)
        }
    }

    var connections: Int { lock.withLock { accepted } }
    var received: String { lock.withLock { bytes } }

    deinit {
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
    }
}

/// The environment a test spawns `nightshift` with directly: this process's, with the test
/// configuration folder (its trust store) that the `nightshift` helper uses.
var testEnvironment: [String: String] {
    ProcessInfo.processInfo.environment.merging(["XDG_CONFIG_HOME": testConfigHome]) { $1 }
}

/// Waits until the file at `path` holds a line containing `text` (a process's gate), at most
/// `timeout`. True when it did.
func waitForLine(_ text: String, in path: String, timeout: Duration = .seconds(30)) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let log = try? String(contentsOfFile: path, encoding: .utf8), log.contains(text) { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return false
}

/// Starts `nightshift serve` over `db` on a free loopback port (its log is `root/serve.log`) and
/// waits until it listens: the process (kill it when done) and its port.
func startServe(db: String, root: String, extra: [String] = []) async throws -> (server: ChildProcess, port: Int) {
    let server = try ChildProcess.spawn(
        [try nightshiftBinary(), "serve", "--db", db, "--port", "0"] + extra, environment: testEnvironment,
        outputPath: root + "/serve.log")
    guard await waitForLine("serving http://127.0.0.1:", in: root + "/serve.log") else {
        server.kill()
        throw TestFailure(
            "serve never listened: \((try? String(contentsOfFile: root + "/serve.log", encoding: .utf8)) ?? "")")
    }
    let log = (try? String(contentsOfFile: root + "/serve.log", encoding: .utf8)) ?? ""
    guard
        let port = log.split(separator: "\n").first(where: { $0.contains("serving http://127.0.0.1:") })
            .flatMap({ $0.split(separator: ":").last?.split(separator: " ").first }).flatMap({ Int($0) })
    else {
        server.kill()
        throw TestFailure("serve did not say its port: \(log)")
    }
    return (server, port)
}

import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftHarness
import NightshiftModels
import NightshiftSQLite
import Testing

#if canImport(Glibc)
import Glibc
#endif

func tempDir(_ name: String = "ns") -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)").path
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    chmod(path, 0o755)
    return path
}

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
    throw CLITestError(
        "the nightshift executable was not built next to the tests (run `swift build --build-tests` first)")
}

struct CLITestError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
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
            throw CLITestError("nightshift \(args.joined(separator: " ")) timed out")
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

/// A model double that records every request it is handed, then plays a scripted model.
actor RequestLog {
    var requests: [ModelRequest] = []
    func add(_ r: ModelRequest) { requests.append(r) }
}

struct RecordingModel: ModelProvider {
    let inner: ScriptedModel
    let log: RequestLog
    var label: String { inner.label }
    func respond(to request: ModelRequest) async throws -> ModelResponse {
        await log.add(request)
        return try await inner.respond(to: request)
    }
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
    guard fd >= 0 else { throw CLITestError("cannot create \(destination)") }
    let written = data.withUnsafeBytes { write(fd, $0.baseAddress, data.count) }
    close(fd)
    guard written == data.count else { throw CLITestError("short write to \(destination)") }
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
        [try nightshiftBinary()] + argv, environment: ProcessInfo.processInfo.environment.merging(env) { $1 },
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
    let r = try await nightshift(["trust"], env: env, cwd: dir)
    guard r.status == 0 else { throw CLITestError("nightshift trust failed: \(r.stdout)\(r.stderr)") }
}

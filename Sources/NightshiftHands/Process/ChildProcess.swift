import CNightshiftSpawn
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A child process the caller supervises itself (waits, stops, kills). Used by benchmarks and
/// crash tests that must see a child freeze (SIGSTOP) and then SIGKILL it at an exact point;
/// Foundation's `Process` reaps children on its own and cannot report a stop.
public struct ChildProcess: Sendable {
    public let pid: Int32
    /// When it started (ticks since boot): how `kill` knows the pid is still this child's.
    let startTicks: Int64?

    public enum State: Equatable, Sendable { case running, stopped, exited(Int32), signalled(Int32) }

    /// Starts `argv` with `environment`, stdout and stderr appended to `outputPath`.
    public static func spawn(_ argv: [String], environment: [String: String], outputPath: String) throws -> ChildProcess
    {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (cArgs + cEnv).forEach { free($0) } }
        // Signals as a shell would give them: none blocked, none ignored. Without this the child
        // inherits the spawning thread's mask, and dispatch worker threads block signals.
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        SpawnSignals.reset(&attr, newProcessGroup: false)
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attr, cArgs, cEnv)
        guard rc == 0 else {
            throw ChildProcessError(message: "cannot start \(argv[0]): \(String(cString: strerror(rc)))")
        }
        return ChildProcess(pid: pid, startTicks: LocalProcess.startTicks(pid, includingZombies: true))
    }

    /// Non-blocking look at the child's state (reaps it once it has exited).
    public func poll() -> State {
        var status: Int32 = 0
        let w = waitpid(pid, &status, WNOHANG | WUNTRACED)
        guard w == pid else { return .running }
        if status & 0xff == 0x7f { return .stopped }
        if status & 0x7f == 0 { return .exited((status >> 8) & 0xff) }
        return .signalled(status & 0x7f)
    }

    /// Waits until the child stops or ends, or `timeout` passes (then `.running`).
    public func wait(timeout: Duration) async -> State {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let s = poll()
            if s != .running { return s }
            await pollPause(milliseconds: 2)
        }
        return .running
    }

    /// SIGKILL and reap, if it is still this child: a child already reaped (by `poll`) is not
    /// signalled, since its pid may belong to another process by now (pids wrap).
    public func kill() {
        guard let startTicks, LocalProcess.startTicks(pid, includingZombies: true) == startTicks else { return }
        _ = Glibc.kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}

public struct ChildProcessError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// posix_spawn with what every child Nightshift starts gets: default signals and an empty mask,
/// an explicit environment (nothing inherited), and the caller's file actions.
/// - Returns: the pid, and 0 or the errno posix_spawn failed with.
func spawnProcess(
    _ argv: [String], environment: [String: String], actions: inout posix_spawn_file_actions_t,
    newProcessGroup: Bool
) -> (pid: pid_t, error: Int32) {
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    SpawnSignals.reset(&attr, newProcessGroup: newProcessGroup)
    let cArgs = argv.map { strdup($0) } + [nil]
    let cEnv = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { (cArgs + cEnv).forEach { free($0) } }
    // Nothing of this process beyond 0, 1 and 2 reaches the child, whatever opened it without
    // close-on-exec (a library, or a pipe made while another thread spawned): a tool never holds the
    // database or a key file, and no long-lived child holds a pipe another reader waits to see end.
    // After the caller's actions, which may dup2 from higher descriptors onto 0-2.
    // Refused (out of memory), the child is not started rather than started with them.
    let closing = nightshift_spawn_addclosefrom(&actions, 3)
    guard closing == 0 else { return (0, closing) }
    // A sandboxed command's seccomp program: bubblewrap reads it from this descriptor. Opened last,
    // so no earlier action (the output pipe's dup2) lands on the same number; each spawn opens the
    // file afresh, so every bubblewrap reads it from the start.
    if let program = Seccomp.programPath, argv.contains("--seccomp") {
        posix_spawn_file_actions_addopen(&actions, Seccomp.descriptor, program, O_RDONLY, 0)
    }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, argv[0], &actions, &attr, cArgs, cEnv)
    return (pid, rc)
}

/// Signals for every child Nightshift starts, as a shell would give them: none blocked, the
/// usual ones at their default action. A child otherwise inherits the spawning thread's mask,
/// and dispatch worker threads block signals (such a child would never see SIGINT or SIGTERM).
enum SpawnSignals {
    static func reset(_ attr: inout posix_spawnattr_t, newProcessGroup: Bool) {
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGCHLD] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attr, &mask)
        var flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK
        if newProcessGroup {
            posix_spawnattr_setpgroup(&attr, 0)
            flags |= POSIX_SPAWN_SETPGROUP
        }
        posix_spawnattr_setflags(&attr, Int16(flags))
    }
}

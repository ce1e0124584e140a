import CNightshiftSpawn
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A long-lived child spoken to over its stdin and stdout (an MCP stdio server). Its stderr goes
/// to a file so a failed start can be explained. Both pipes are close-on-exec, so no other child
/// Nightshift starts holds them open: when Nightshift closes its end, the server sees EOF.
final class StdioServerProcess: Sendable {
    let pid: pid_t
    /// Nightshift reads the server's stdout here.
    let readFD: Int32
    /// Nightshift writes the server's stdin here.
    let writeFD: Int32
    let stderrPath: String
    /// Reaping and signalling happen under this lock: a reaped pid must never be signalled again.
    private struct State {
        var exitStatus: Int32?
        var closed = false
    }
    private let state = Mutex(State())

    private init(pid: pid_t, readFD: Int32, writeFD: Int32, stderrPath: String) {
        self.pid = pid
        self.readFD = readFD
        self.writeFD = writeFD
        self.stderrPath = stderrPath
    }

    /// Starts `argv` (absolute executable first) in its own process group.
    static func start(
        argv: [String], environment: [String: String], cwd: String, stderrPath: String
    ) throws(MCPSourceError) -> StdioServerProcess {
        // Writing to a server that died must be an error (EPIPE), not a signal that kills Nightshift.
        _ = ignoreSIGPIPE
        var toChild: [Int32] = [-1, -1], fromChild: [Int32] = [-1, -1]
        guard nightshift_pipe_cloexec(&toChild) == 0 else {
            throw MCPSourceError("cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        guard nightshift_pipe_cloexec(&fromChild) == 0 else {
            close(toChild[0])
            close(toChild[1])
            throw MCPSourceError("cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        nightshift_spawn_addchdir(&actions, cwd)
        let spawned = spawnProcess(argv, environment: environment, actions: &actions, newProcessGroup: true)
        close(toChild[0])
        close(fromChild[1])
        let (pid, rc) = spawned
        guard rc == 0 else {
            close(toChild[1])
            close(fromChild[0])
            throw MCPSourceError("cannot start \(argv[0]): \(String(cString: strerror(rc)))")
        }
        return StdioServerProcess(pid: pid, readFD: fromChild[0], writeFD: toChild[1], stderrPath: stderrPath)
    }

    private static let ignoreSIGPIPE: Void = {
        signal(SIGPIPE, SIG_IGN)
        return ()
    }()

    /// The exit status (128 + signal when killed) once the process has ended; nil while it runs. Reaps it.
    var exited: Int32? {
        state.withLock { state in
            if let exitStatus = state.exitStatus { return exitStatus }
            var status: Int32 = 0
            let w = waitpid(pid, &status, WNOHANG)
            // Reaped by someone else (ECHILD): it has ended, status unknown; never wait for it forever.
            if w == -1, errno == ECHILD {
                state.exitStatus = 128 + SIGKILL
                return state.exitStatus
            }
            guard w == pid else { return nil }
            let exitStatus = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            state.exitStatus = exitStatus
            return exitStatus
        }
    }

    /// The last `bytes` of what the server wrote to stderr, for error messages.
    func stderrTail(_ bytes: Int = 1500) -> String {
        guard let data = FileManager.default.contents(atPath: stderrPath), !data.isEmpty else { return "" }
        return String(decoding: data.suffix(bytes), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Closes stdin (a polite server exits on EOF), waits up to `grace`, then kills the whole group.
    /// Call only after the MCP client stopped reading, so no descriptor is closed under a reader.
    func stop(grace: Duration = .seconds(2)) async {
        let first = state.withLock { state in
            defer { state.closed = true }
            return !state.closed
        }
        guard first else { return }
        close(writeFD)
        let deadline = ContinuousClock.now + grace
        while exited == nil, ContinuousClock.now < deadline { await pollPause() }
        // Under the lock that reaps: once reaped, the pid (and its group id) may belong to another
        // process already (pids wrap), and must never be signalled again.
        state.withLock { state in
            guard state.exitStatus == nil else { return }
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
        }
        // SIGKILL ends it at once; bounded all the same, and no busy wait if this task is cancelled.
        let killed = ContinuousClock.now + .seconds(10)
        while exited == nil, ContinuousClock.now < killed { await pollPause() }
        close(readFD)
        unlink(stderrPath)
    }
}

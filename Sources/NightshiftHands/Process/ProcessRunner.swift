import CNightshiftSpawn
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What a finished child process left behind.
public struct ProcessOutcome: Sendable, Equatable {
    /// The exit status, or 128 + signal number if it was killed (as shells report it).
    public var exitCode: Int32
    /// Captured stdout and stderr, interleaved, cut to the limit with a marker saying how much was cut.
    public var output: String
    public var totalBytes: Int
    public var timedOut: Bool
    public var durationMs: Int64
    /// The most processes the command had at once, where a pids cgroup counted them.
    public var peakProcesses: Int? = nil
}

/// Runs a command in its own process group with an explicit environment, a timeout that kills
/// the whole group, and bounded output. Runs on a blocking thread so async callers never spin.
public enum ProcessRunner {
    /// - Parameters:
    ///   - argv: absolute executable path followed by its arguments (no shell unless argv names one).
    ///   - environment: the complete environment; nothing is inherited.
    ///   - timeout: after this, the process group gets SIGKILL.
    ///   - outputLimit: bytes kept (half from the start, half from the end).
    ///   - maxProcesses: a cap on the command's process count, through a pids cgroup where one can be made.
    public static func run(
        argv: [String], environment: [String: String], cwd: String, timeout: Duration,
        outputLimit: Int = 16 * 1024, maxProcesses: Int? = nil
    ) async -> ProcessOutcome {
        // Cancelling the calling task kills the command's group, as a timeout does: a caller that
        // stopped waiting (the harness's deadline) leaves nothing running.
        let stop = StopFlag()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                Thread.detachNewThread {
                    continuation.resume(
                        returning: runBlocking(
                            argv: argv, environment: environment, cwd: cwd,
                            timeout: timeout, outputLimit: outputLimit, maxProcesses: maxProcesses, stop: stop))
                }
            }
        } onCancel: {
            stop.raise()
        }
    }

    /// Set when the caller's task is cancelled; read by the blocking loop between polls.
    final class StopFlag: Sendable {
        private let raised = Atomic<Bool>(false)
        func raise() { raised.store(true, ordering: .relaxed) }
        var isRaised: Bool { raised.load(ordering: .relaxed) }
    }

    /// How long a stopped or timed-out command has between SIGTERM and SIGKILL.
    static let termGrace: Duration = .seconds(2)

    static func runBlocking(
        argv: [String], environment: [String: String], cwd: String, timeout: Duration,
        outputLimit: Int, maxProcesses: Int? = nil, stop: StopFlag? = nil
    ) -> ProcessOutcome {
        let cgroup = maxProcesses.flatMap { PidsCgroup.create(max: $0) }
        var argv = argv
        if let cgroup {
            // The command joins its group itself before it can fork anything: a shell writes its own
            // pid into the group, then execs the command. Adding the pid from here after spawning
            // would race a fork bomb, which could escape under load. If joining fails, nothing runs.
            argv = ["/bin/sh", "-c", "echo $$ > \"$0\" && exec \"$@\"", cgroup.path + "/cgroup.procs"] + argv
        }
        var peak: Int?
        defer { cgroup?.destroy() }
        let start = ContinuousClock.now
        func elapsedMs() -> Int64 {
            let d = ContinuousClock.now - start
            return d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
        }
        var fds: [Int32] = [-1, -1]
        guard nightshift_pipe_cloexec(&fds) == 0 else {
            return ProcessOutcome(
                exitCode: 127, output: "cannot create a pipe: \(String(cString: strerror(errno)))",
                totalBytes: 0, timedOut: false, durationMs: 0)
        }
        let (readFD, writeFD) = (fds[0], fds[1])

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, writeFD, 1)
        posix_spawn_file_actions_adddup2(&actions, writeFD, 2)
        nightshift_spawn_addchdir(&actions, cwd)

        let spawned = spawnProcess(argv, environment: environment, actions: &actions, newProcessGroup: true)
        close(writeFD)
        let (pid, rc) = spawned
        guard rc == 0 else {
            close(readFD)
            return ProcessOutcome(
                exitCode: 127, output: "cannot start \(argv[0]): \(String(cString: strerror(rc)))",
                totalBytes: 0, timedOut: false, durationMs: elapsedMs())
        }

        var head = [UInt8](), tail = [UInt8]()
        let half = max(outputLimit / 2, 1)
        var total = 0
        var timedOut = false
        var stopped = false
        var status: Int32 = 0
        var exited = false
        var exitedAt: ContinuousClock.Instant?
        var terminatedAt: ContinuousClock.Instant?
        var killed = false
        let deadline = start + timeout
        var buffer = [UInt8](repeating: 0, count: 65536)
        var eof = false
        while !eof {
            var pfd = pollfd(fd: readFD, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, 50)
            if ready > 0 {
                let n = read(readFD, &buffer, buffer.count)
                if n > 0 {
                    total += n
                    let chunk = buffer[0..<n]
                    if head.count < half {
                        let take = min(half - head.count, n)
                        head += chunk.prefix(take)
                        tail += chunk.dropFirst(take)
                    } else {
                        tail += chunk
                    }
                    if tail.count > 2 * half { tail.removeFirst(tail.count - half) }
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    eof = true
                }
            }
            if !exited, ProcessRunner.hasExited(pid) {
                // Whatever the command left running in its group goes with it. Signalled before the
                // leader is reaped: until then its pid, and so its group id, cannot be reused (pids
                // wrap, at 32,768 on some hosts); after, the same number may be another's group.
                kill(-pid, SIGKILL)
                waitpid(pid, &status, 0)
                exited = true
                exitedAt = .now
                peak = cgroup?.peak ?? peak
                cgroup?.destroy()
            }
            // Stopped or timed out: SIGTERM first, so a program that holds a lock (git's index.lock)
            // removes it as it ends; SIGKILL for whatever is still there `termGrace` later.
            if !exited, !killed {
                if stop?.isRaised == true { stopped = true }
                if ContinuousClock.now >= deadline { timedOut = true }
                if stopped || timedOut {
                    if let terminatedAt {
                        if ContinuousClock.now - terminatedAt >= termGrace {
                            killed = true
                            kill(-pid, SIGKILL)
                            peak = cgroup?.peak ?? peak
                            cgroup?.destroy()
                        }
                    } else {
                        terminatedAt = .now
                        kill(-pid, SIGTERM)
                    }
                }
            }
            // Descendants that left the group may hold the pipe open: stop reading soon after exit.
            if let exitedAt, ContinuousClock.now - exitedAt > .seconds(1) { break }
        }
        close(readFD)
        if !exited { waitpid(pid, &status, 0) }

        let exitCode: Int32
        if status & 0x7f == 0 { exitCode = (status >> 8) & 0xff } else { exitCode = 128 + (status & 0x7f) }
        if tail.count > half { tail.removeFirst(tail.count - half) }
        var text = render(head)
        let cut = total - head.count - tail.count
        if cut > 0 { text += "\n[… \(cut) bytes of output cut …]\n" }
        text += render(tail)
        if timedOut { text += "\n[killed: timed out after \(timeout)]" }
        if stopped, !timedOut { text += "\n[killed: the caller stopped waiting]" }
        return ProcessOutcome(
            exitCode: exitCode, output: text, totalBytes: total, timedOut: timedOut, durationMs: elapsedMs(),
            peakProcesses: peak ?? cgroup?.peak)
    }

    /// Whether `pid` has exited, without reaping it (`WNOWAIT`): it stays a zombie, holding its pid.
    static func hasExited(_ pid: pid_t) -> Bool {
        var info = siginfo_t()
        guard waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 else { return false }
        return info._sifields._sigchld.si_pid == pid
    }

    /// UTF-8 text as is; binary data summarised rather than pasted.
    static func render(_ bytes: [UInt8]) -> String {
        if bytes.isEmpty { return "" }
        let nonText = bytes.lazy.filter { $0 == 0 }.count
        if nonText > 0 { return "[binary output: \(bytes.count) bytes]" }
        return String(decoding: bytes, as: UTF8.self)
    }
}

import Foundation
import NightshiftCore
import NightshiftRuntime
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How the CLI stops on Ctrl-C, SIGTERM and SIGHUP.
///
/// A command that drives runs (`run`, `resume`, `worker`) stops cleanly on the first signal: its
/// ``Runtime`` takes no new work and ends each drive at its next append (what the step under way
/// began is in doubt at the next resume, as after a crash), gives the leases back (a worker's
/// drives are handed over, so the next worker goes on at once), says so, and then the process ends
/// by that signal, as its default action would (exit status 128 + N in a shell). A second signal,
/// or `grace` seconds without an end, ends it at once: the log is durable at every step. Any other
/// command ends at once on the first signal.
///
/// A handler writes the signal's number to a pipe, and one thread reads it. (Waiting with
/// `sigwait` in a thread does not work in an async `main`: the main thread waits in `sigsuspend`
/// with every signal unblocked, so it takes the signal first, with its default action.) A signal
/// the process was started ignoring (SIGINT in a shell's background job) stays ignored.
enum StopSignals {
    /// How long a clean stop may take before the process ends without it, in seconds.
    static let grace: Int32 = 10

    private static let stopper = Mutex<(@Sendable () async -> Void)?>(nil)
    private static let received = Atomic<Int32>(0)
    private static let signals = [SIGINT, SIGTERM, SIGHUP]

    /// Installs the handlers and starts the thread that reads what they write. Called once, first.
    static func deliver() {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        stopSignalPipe = fds[1]
        let readEnd = fds[0]
        for s in signals {
            var old = sigaction()
            sigaction(s, nil, &old)
            if let handler = old.__sigaction_handler.sa_handler,
                unsafeBitCast(handler, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self)
            {
                continue
            }
            var action = sigaction()
            action.__sigaction_handler.sa_handler = onStopSignal
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(s, &action, nil)
        }
        Thread.detachNewThread {
            let signal = nextSignal(readEnd, timeoutMs: -1)
            guard signal > 0 else { return }
            if let stop = stopper.withLock({ $0 }) {
                received.store(signal, ordering: .sequentiallyConsistent)
                writeErr(
                    "nightshift: stopping (\(name(signal))): the step under way is abandoned and the run given back; "
                        + "a second signal ends the process at once\n")
                // The one bridge from this thread into the concurrency runtime.
                Task { await stop() }
                _ = nextSignal(readEnd, timeoutMs: grace * 1000)
            }
            die(by: signal)
        }
    }

    /// The next signal number the handler wrote; 0 when `timeoutMs` passed first (-1: no limit).
    private static func nextSignal(_ fd: Int32, timeoutMs: Int32) -> Int32 {
        var byte: UInt8 = 0
        while true {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&entry, 1, timeoutMs)
            if ready < 0, errno == EINTR { continue }
            guard ready > 0 else { return 0 }
            let n = read(fd, &byte, 1)
            if n < 0, errno == EINTR { continue }
            return n == 1 ? Int32(byte) : 0
        }
    }

    /// Runs `body` with `runtime` serving; the first stop signal meanwhile stops the runtime.
    static func serving<T>(
        _ runtime: Runtime, with others: [any Service] = [], _ body: (Runtime) async throws -> T
    ) async throws -> T {
        stopper.withLock { $0 = { await runtime.stop() } }
        defer { stopper.withLock { $0 = nil } }
        return try await runtime.serving(with: others, body)
    }

    /// After a clean stop: ends the process by the signal that asked for it. Returns when no
    /// signal did (the caller exits with an error).
    static func endIfSignalled() {
        let signal = received.load(ordering: .sequentiallyConsistent)
        if signal != 0 { die(by: signal) }
    }

    private static func die(by signal: Int32) {
        Glibc.signal(signal, SIG_DFL)
        var one = sigset_t()
        sigemptyset(&one)
        sigaddset(&one, signal)
        pthread_sigmask(SIG_UNBLOCK, &one, nil)
        raise(signal)
        exit(128 + signal)  // not reached: the signal's default action ends the process
    }

    private static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGINT: "SIGINT"
        case SIGTERM: "SIGTERM"
        case SIGHUP: "SIGHUP"
        default: "signal \(signal)"
        }
    }
}

/// Where the stop signals' handler writes: a plain global with a constant initial value, so the
/// handler reads it without any lazy initialisation (it must be async-signal-safe).
nonisolated(unsafe) private var stopSignalPipe: Int32 = -1

/// The handler: one byte, the signal's number, and nothing else (`write` is async-signal-safe).
private func onStopSignal(_ signal: Int32) {
    var byte = UInt8(truncatingIfNeeded: signal)
    _ = write(stopSignalPipe, &byte, 1)
}

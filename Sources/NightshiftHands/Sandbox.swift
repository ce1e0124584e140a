import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Limits applied inside the sandbox. Every default is stated on its property.
public struct SandboxLimits: Sendable, Equatable {
    /// Network access. Defaults to false: only a private loopback exists inside.
    public var network = false
    /// CPU seconds per command (RLIMIT_CPU); 0 for no limit (long-lived MCP servers). Defaults to 600.
    public var cpuSeconds = 600
    /// Address space per process (RLIMIT_AS). Defaults to 8 GiB.
    public var memoryBytes = 8 << 30
    /// Largest file a command may write (RLIMIT_FSIZE). Defaults to 1 GiB.
    public var fileSizeBytes = 1 << 30
    /// Open files per process (RLIMIT_NOFILE). Defaults to 1,024.
    public var openFiles = 1024
    /// Processes per command, through a pids cgroup where one can be made (RLIMIT_NPROC does not bind root). Defaults to 512.
    public var processes = 512
    /// Read-only paths bound in besides /usr and a few files of /etc (e.g. a toolchain under /opt). Defaults to none.
    public var readOnlyPaths: [String] = []
    /// Files inside the workspace that commands may read but not change (the run's own policy). Defaults to none.
    public var sealedPaths: [String] = []
    public init() {}
}

/// How commands are isolated. `bubblewrap` runs each in new user, PID, IPC, UTS and (by default)
/// network namespaces, with the root filesystem read-only, the workspace the only writable place
/// (its `.git` read-only), a private /tmp, a cleared environment, and resource limits; the whole
/// sandbox dies with its parent. `none` runs commands directly — only when the user asked for it.
public enum Isolation: Sendable, Equatable {
    case bubblewrap(path: String, limits: SandboxLimits)
    case none(reason: String)

    /// The process cap for one command, when sandboxed.
    public var maxProcesses: Int? {
        if case let .bubblewrap(_, limits) = self { return limits.processes }
        return nil
    }

    /// Whether a fork bomb is contained here (a writable pids cgroup exists).
    public static var processLimitAvailable: Bool { PidsCgroup.root != nil }

    /// Recorded in the log when a process starts driving a run.
    public var label: String {
        switch self {
        case let .bubblewrap(path, limits):
            "bubblewrap (\(path)); network \(limits.network ? "allowed" : "off"); "
                + (PidsCgroup.root != nil ? "at most \(limits.processes) processes" : "no process limit (no writable pids cgroup)")
        case let .none(reason): "UNSANDBOXED: \(reason)"
        }
    }

    /// Finds bubblewrap and checks that it can create its namespaces here.
    /// - Returns: the isolation, or why bubblewrap cannot be used.
    /// - Parameter bwrap: the bubblewrap executable to use; nil looks in /usr/bin, /usr/local/bin and /bin.
    public static func detect(limits: SandboxLimits = SandboxLimits(), bwrap: String? = nil) -> Result<Isolation, SandboxUnavailable> {
        let candidates = bwrap.map { [$0] } ?? ["/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap"]
        guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return .failure(SandboxUnavailable(reason: "bubblewrap is not installed\(bwrap.map { " at \($0)" } ?? "") (apt-get install bubblewrap)"))
        }
        let probe = Isolation.bubblewrap(path: path, limits: limits)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nightshift-probe-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outcome = ProcessRunner.runBlocking(argv: probe.argv(["/bin/sh", "-c", "exit 0"], workspace: dir, cwd: dir),
                                                environment: ["PATH": "/usr/bin:/bin"], cwd: dir, timeout: .seconds(10), outputLimit: 4096)
        guard outcome.exitCode == 0 else {
            return .failure(SandboxUnavailable(reason: "bubblewrap cannot create its namespaces here (unprivileged user namespaces may be off): \(outcome.output.prefix(200))"))
        }
        return .success(probe)
    }

    /// The argv that runs `command` (absolute executable first) isolated, with `cwd` inside `workspace`.
    /// - Parameter keepSpawnEnvironment: false sets the tool allowlist inside the sandbox; true keeps
    ///   the environment the caller spawns bubblewrap with, so values meant for one process (an MCP
    ///   server's variables) never appear on a command line, which any local user can read.
    public func argv(_ command: [String], workspace: String, cwd: String, keepSpawnEnvironment: Bool = false) -> [String] {
        guard case let .bubblewrap(path, limits) = self else { return command }
        var a = [path, "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                 "--die-with-parent", "--new-session"]
        if !limits.network { a.append("--unshare-net") }
        a += ["--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
              "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin"]
        // The parts of /etc that programs need to run; never passwd/shadow/ssh keys of the host.
        for etc in ["/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
                    "/etc/ssl", "/etc/ca-certificates", "/etc/nsswitch.conf", "/etc/mime.types", "/etc/python3",
                    "/etc/python3.11", "/etc/gitconfig"] {
            a += ["--ro-bind-try", etc, etc]
        }
        if limits.network { a += ["--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf", "--ro-bind-try", "/etc/hosts", "/etc/hosts"] }
        a += ["--ro-bind-try", Isolation.identityFiles.passwd, "/etc/passwd", "--ro-bind-try", Isolation.identityFiles.group, "/etc/group"]
        a += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        // After the private /tmp, so a toolchain or venv that lives under /tmp is not hidden by it.
        for p in limits.readOnlyPaths { a += ["--ro-bind-try", p, p] }
        a += ["--bind", workspace, workspace]
        if FileManager.default.fileExists(atPath: workspace + "/.git") { a += ["--ro-bind", workspace + "/.git", workspace + "/.git"] }
        for p in limits.sealedPaths where p.hasPrefix(workspace + "/") { a += ["--ro-bind-try", p, p] }
        // Nothing outside the binds is writable: bubblewrap's root is a tmpfs, which would otherwise take writes (in memory).
        a += ["--remount-ro", "/", "--chdir", cwd]
        if !keepSpawnEnvironment {
            a.append("--clearenv")
            for (k, v) in ToolEnvironment.make(workspace: workspace).sorted(by: { $0.key < $1.key }) { a += ["--setenv", k, v] }
        }
        a += ["--", "/usr/bin/prlimit", "--cpu=\(limits.cpuSeconds > 0 ? String(limits.cpuSeconds) : "unlimited")", "--as=\(limits.memoryBytes)", "--fsize=\(limits.fileSizeBytes)",
              "--nofile=\(limits.openFiles)", "--core=0", "--"]
        return a + command
    }

    /// Minimal passwd and group files for the sandbox (so `id`, `whoami`, git and python work).
    static let identityFiles: (passwd: String, group: String) = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nightshift-identity-\(getuid())").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // Content-addressed names, created once and never rewritten: another process's bubblewrap may be
        // binding the file at this moment, and replacing it would leave that bind pointing at a deleted inode.
        func place(_ name: String, _ text: String) -> String {
            let path = dir + "/\(name)-v1"
            guard !FileManager.default.fileExists(atPath: path) else { return path }
            let tmp = dir + "/.\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try? text.write(toFile: tmp, atomically: false, encoding: .utf8)
            _ = link(tmp, path)   // fails harmlessly if another process won the race
            unlink(tmp)
            return path
        }
        return (place("passwd", "root:x:0:0:sandbox:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"),
                place("group", "root:x:0:\nnogroup:x:65534:\n"))
    }()
}

public struct SandboxUnavailable: Error, CustomStringConvertible, Sendable {
    public var reason: String
    public var description: String { reason }
}

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
    /// Processes per command: through a pids cgroup where one can be made, and RLIMIT_NPROC in the
    /// sandbox's own user namespace (which binds an ordinary user, never root). Defaults to 512.
    public var processes = 512
    /// Read-only paths bound in besides /usr and a few files of /etc (e.g. a toolchain under /opt). Defaults to none.
    public var readOnlyPaths: [String] = []
    /// Files inside the workspace that commands may read but not change (the run's own policy). Defaults to none.
    public var sealedPaths: [String] = []
    /// Nightshift's own files or folders that lie inside the workspace (the database's folder, a key
    /// file): commands see an empty read-only folder or an empty file in their place. Defaults to none.
    public var hiddenPaths: [String] = []
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

    /// Whether Nightshift runs as root: RLIMIT_NPROC then does not bind its sandboxed commands
    /// (their uid maps to root outside, which the kernel exempts), so only a pids cgroup caps them.
    public static var runsAsRoot: Bool { getuid() == 0 || geteuid() == 0 }

    /// How a command's processes are capped here, or nil when nothing caps them.
    public static var processCap: String? {
        if PidsCgroup.root != nil { return "a pids cgroup" }
        if !runsAsRoot { return "RLIMIT_NPROC in the sandbox's user namespace" }
        return nil
    }

    /// Whether `isolation` caps each command's processes (unsandboxed runs are labelled as such already).
    public static func processCapAvailable(_ isolation: Isolation) -> Bool {
        guard case .bubblewrap = isolation else { return true }
        return processCap != nil
    }

    /// Recorded in the log when a process starts driving a run.
    public var label: String {
        switch self {
        case let .bubblewrap(path, limits):
            "bubblewrap (\(path)); uid \(Isolation.sandboxUID), no capabilities; "
                + (Seccomp.programPath != nil ? "seccomp filter; " : "no seccomp filter on this architecture; ")
                + "network \(limits.network ? "allowed" : "off"); "
                + (Isolation.processCap.map { "at most \(limits.processes) processes (\($0))" }
                    ?? "no process limit (no writable pids cgroup, and RLIMIT_NPROC does not bind root)")
        case let .none(reason): "UNSANDBOXED: \(reason)"
        }
    }

    /// Finds bubblewrap and checks that it can create its namespaces here.
    /// - Returns: the isolation, or why bubblewrap cannot be used.
    /// - Parameter bwrap: the bubblewrap executable to use; nil looks in /usr/bin, /usr/local/bin and /bin.
    public static func detect(
        limits: SandboxLimits = SandboxLimits(), bwrap: String? = nil
    ) -> Result<Isolation, SandboxUnavailable> {
        let candidates = bwrap.map { [$0] } ?? ["/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap"]
        guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return .failure(
                SandboxUnavailable(
                    reason: "bubblewrap is not installed\(bwrap.map { " at \($0)" } ?? "") (apt-get install bubblewrap)"
                ))
        }
        let probe = Isolation.bubblewrap(path: path, limits: limits)
        // A folder of this probe's own: a process wiring several runs at once (a fleet) probes
        // concurrently, and one probe removing a shared folder failed the others.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "nightshift-probe-\(getpid())-\(UUID().uuidString)"
        ).path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outcome = ProcessRunner.runBlocking(
            argv: probe.argv(["/bin/sh", "-c", "exit 0"], workspace: dir, cwd: dir),
            environment: ["PATH": "/usr/bin:/bin"], cwd: dir, timeout: .seconds(10), outputLimit: 4096)
        guard outcome.exitCode == 0 else {
            return .failure(
                SandboxUnavailable(
                    reason:
                        "bubblewrap cannot create its namespaces here (unprivileged user namespaces may be off): \(outcome.output.prefix(200))"
                ))
        }
        return .success(probe)
    }

    /// The uid and gid a sandboxed command runs as, inside its own user namespace. Never 0: run by
    /// root, bubblewrap would otherwise keep root's capabilities inside (remounting read-only binds
    /// writable). The workspace's owner maps to this uid, so the workspace stays writable.
    public static let sandboxUID = 1000

    /// The argv that runs `command` (absolute executable first) isolated, with `cwd` inside `workspace`.
    /// - Parameter keepSpawnEnvironment: false sets the tool allowlist inside the sandbox; true keeps
    ///   the environment the caller spawns bubblewrap with, so values meant for one process (an MCP
    ///   server's variables) never appear on a command line, which any local user can read.
    public func argv(
        _ command: [String], workspace: String, cwd: String, keepSpawnEnvironment: Bool = false
    ) -> [String] {
        guard case let .bubblewrap(path, limits) = self else { return command }
        // An unprivileged uid, no capabilities at all, no further user namespaces (so none can be
        // made to regain capabilities), a new session (no TIOCSTI into the operator's terminal).
        var a = [
            path, "--unshare-user", "--uid", "\(Isolation.sandboxUID)", "--gid", "\(Isolation.sandboxUID)",
            "--cap-drop", "ALL", "--disable-userns",
            "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session",
        ]
        if !limits.network { a.append("--unshare-net") }
        a += [
            "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
        ]
        // The parts of /etc that programs need to run; never passwd/shadow/ssh keys of the host.
        for etc in [
            "/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
            "/etc/ssl", "/etc/ca-certificates", "/etc/nsswitch.conf", "/etc/mime.types", "/etc/python3",
            "/etc/python3.11", "/etc/gitconfig",
        ] {
            a += ["--ro-bind-try", etc, etc]
        }
        if limits.network {
            a += ["--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf", "--ro-bind-try", "/etc/hosts", "/etc/hosts"]
        }
        if let identity = Isolation.identityFiles {
            a += ["--ro-bind", identity.passwd, "/etc/passwd", "--ro-bind", identity.group, "/etc/group"]
        }
        a += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        // After the private /tmp, so a toolchain or venv that lives under /tmp is not hidden by it.
        for p in limits.readOnlyPaths { a += ["--ro-bind-try", p, p] }
        a += ["--bind", workspace, workspace]
        if FileManager.default.fileExists(atPath: workspace + "/.git") {
            a += ["--ro-bind", workspace + "/.git", workspace + "/.git"]
        }
        for p in limits.sealedPaths where p.hasPrefix(workspace + "/") { a += ["--ro-bind-try", p, p] }
        // Nightshift's own files that happen to lie in the workspace (the database's folder, a key
        // file): an empty read-only folder, or an empty file, in their place.
        for p in limits.hiddenPaths where p.hasPrefix(workspace + "/") {
            var st = stat()
            guard lstat(p, &st) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                a += ["--tmpfs", p, "--remount-ro", p]
            } else {
                a += ["--ro-bind", "/dev/null", p]
            }
        }
        // Nothing outside the binds is writable: bubblewrap's root is a tmpfs, which would otherwise take writes (in memory).
        a += ["--remount-ro", "/", "--chdir", cwd]
        if Seccomp.programPath != nil { a += ["--seccomp", "\(Seccomp.descriptor)"] }
        if !keepSpawnEnvironment {
            a.append("--clearenv")
            for (k, v) in ToolEnvironment.make(workspace: workspace).sorted(by: { $0.key < $1.key }) {
                a += ["--setenv", k, v]
            }
        }
        a += [
            "--", "/usr/bin/prlimit", "--cpu=\(limits.cpuSeconds > 0 ? String(limits.cpuSeconds) : "unlimited")",
            "--as=\(limits.memoryBytes)", "--fsize=\(limits.fileSizeBytes)",
            "--nofile=\(limits.openFiles)", "--nproc=\(limits.processes)", "--core=0", "--",
        ]
        return a + command
    }

    /// Minimal passwd and group files for the sandbox (so `id`, `whoami`, git and python work):
    /// the sandbox's own user, and nobody (the owner of files whose host owner is not mapped).
    static let identityFiles: (passwd: String, group: String)? = {
        guard let dir = PrivateFolder.path else { return nil }
        let uid = Isolation.sandboxUID
        guard
            let passwd = PrivateFolder.place(
                "passwd",
                Data(
                    "agent:x:\(uid):\(uid):sandbox:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
                        .utf8), in: dir),
            let group = PrivateFolder.place("group", Data("agent:x:\(uid):\nnogroup:x:65534:\n".utf8), in: dir)
        else { return nil }
        return (passwd, group)
    }()
}

public struct SandboxUnavailable: Error, CustomStringConvertible, Sendable {
    public var reason: String
    public var description: String { reason }
}

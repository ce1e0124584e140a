import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A per-command process-count limit through the cgroup `pids` controller. `RLIMIT_NPROC` does
/// not bind root (nor anyone in the init user's accounting), so a fork bomb is contained only by
/// a cgroup. Each command gets its own group; when the command ends, whatever is left in the
/// group is killed and the group removed. Unavailable (nil) where the controller is not writable.
struct PidsCgroup {
    let path: String

    /// The writable `pids` hierarchy, if any (cgroup v1 `pids`, or v2 with the controller enabled).
    static let root: String? = {
        let candidates = ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"]
        for base in candidates {
            let limitFile = base == "/sys/fs/cgroup" ? base + "/cgroup.controllers" : base + "/cgroup.procs"
            guard FileManager.default.fileExists(atPath: limitFile), access(base, W_OK) == 0 else { continue }
            if base == "/sys/fs/cgroup",
                !((try? String(contentsOfFile: base + "/cgroup.subtree_control", encoding: .utf8)) ?? "").contains(
                    "pids")
            {
                continue
            }
            let dir = base + "/nightshift"
            if mkdir(dir, 0o755) != 0 && errno != EEXIST { continue }
            guard FileManager.default.fileExists(atPath: dir + "/pids.max") else { continue }
            sweep(dir)
            return dir
        }
        return nil
    }()

    /// Groups left by a Nightshift process that died (SIGKILL gives it no chance to clean up):
    /// whatever still runs in them is killed, and the groups removed.
    private static func sweep(_ dir: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
            guard let owner = name.split(separator: "-").first.flatMap({ Int32($0) }), owner != getpid() else {
                continue
            }
            if kill(owner, 0) == 0 || errno != ESRCH { continue }  // its owner is alive
            PidsCgroup(path: dir + "/" + name).destroy()
        }
    }

    /// Numbers this process's groups: their names must not collide.
    private static let counter = Atomic<Int>(0)

    /// Creates a group allowing at most `max` processes.
    static func create(max: Int) -> PidsCgroup? {
        guard let root else { return nil }
        let n = counter.add(1, ordering: .relaxed).newValue
        let path = root + "/\(getpid())-\(n)"
        guard mkdir(path, 0o755) == 0 else { return nil }
        let group = PidsCgroup(path: path)
        guard group.write("pids.max", "\(max)") else {
            rmdir(path)
            return nil
        }
        return group
    }

    @discardableResult
    func write(_ file: String, _ value: String) -> Bool {
        let fd = open(path + "/" + file, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return value.withCString { Glibc.write(fd, $0, strlen($0)) } >= 0
    }

    /// The most processes the group held at once (cgroup v1 `pids.peak` when present).
    var peak: Int? {
        (try? String(contentsOfFile: path + "/pids.peak", encoding: .utf8)).flatMap {
            Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    /// Kills every process left in the group, then removes it.
    func destroy() {
        for _ in 0..<100 {
            let pids = ((try? String(contentsOfFile: path + "/cgroup.procs", encoding: .utf8)) ?? "").split(
                separator: "\n"
            ).compactMap { Int32($0) }
            if pids.isEmpty { break }
            for pid in pids { kill(pid, SIGKILL) }
            usleep(10_000)
        }
        rmdir(path)
    }
}

/// Whether commands' process counts can be capped here (a writable pids cgroup), for `doctor`.
public enum ProcessLimits {
    public static var pidsCgroupAvailable: Bool { PidsCgroup.root != nil }
}

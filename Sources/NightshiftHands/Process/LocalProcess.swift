import Foundation
public import NightshiftCore

#if canImport(Glibc)
import Glibc
#endif

/// This process as a run's lease holder, and whether a holder recorded here still runs. "Here"
/// is this boot of this kernel and this PID namespace (`boot`), never the host name, which
/// cloned machines and containers share: a holder elsewhere, or from before a reboot, is judged
/// by its heartbeat alone. Here, a holder is the same process only if its pid exists with the
/// same start time: a pid reused by another program is a dead holder.
public enum LocalProcess {
    /// This process.
    public static let holder: LeaseHolder = LeaseHolder(
        host: hostName, boot: bootID, pid: getpid(), started: startTicks(getpid()) ?? 0)

    /// Whether `holder` is still running. For another host it answers true: there only the
    /// heartbeat can tell, and the store applies the time-to-live.
    @Sendable public static func isAlive(_ holder: LeaseHolder) -> Bool {
        guard holder.boot == bootID else { return true }
        return startTicks(holder.pid) == holder.started
    }

    static let hostName: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    /// The kernel's boot id (random at each boot, so no two machines share it) and this PID
    /// namespace's inode (containers on one kernel each have their own pids).
    static let bootID: String = {
        let boot =
            (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown-\(UUID().uuidString)"
        let pids = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/pid")) ?? "pid:[?]"
        return boot + " " + pids
    }()

    /// Field 22 of /proc/PID/stat (start time in clock ticks since boot), or nil when there is no
    /// such process or it has ended (a zombie, unless `includingZombies`: it still holds its pid).
    static func startTicks(_ pid: Int32, includingZombies: Bool = false) -> Int64? {
        guard pid > 0, let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name (which may hold spaces and parentheses) start at field 3.
        let fields = text[text.index(after: close)...].split(separator: " ")
        // A zombie ("Z") or dead ("X") process has ended: it holds its pid until reaped, nothing more.
        guard fields.count > 19, includingZombies || (fields[0] != "Z" && fields[0] != "X") else { return nil }
        return Int64(fields[19])
    }
}

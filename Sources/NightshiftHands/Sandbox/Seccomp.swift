import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The seccomp filter every sandboxed command runs under: a classic BPF program that refuses, with
/// EPERM, the system calls a coding agent never needs and that widen the kernel's attack surface
/// (mounts, namespaces, modules, kexec, keyrings, bpf, ptrace and reading other processes' memory,
/// perf, userfaultfd, io_uring, file handles, clock and swap changes). Everything else is allowed.
///
/// The program is built here, not with libseccomp, so the project needs no C library to build: it
/// is about sixty instructions and the layout of `seccomp_data` is kernel ABI. bubblewrap installs
/// it (`--seccomp FD`) after setting up the sandbox and before running the command, so bubblewrap's
/// own mounts are unaffected. Other architectures than x86_64 and aarch64 get no filter (the
/// isolation label says so); the capability drop, the unprivileged uid and `--disable-userns`
/// already refuse the same calls there.
public enum Seccomp {
    /// The descriptor number bubblewrap reads the program from in the child (see `spawnProcess`).
    static let descriptor: Int32 = 9

    /// Names of the refused calls, for documentation and the isolation label.
    public static let refused: [String] = table.map(\.name)

    /// (name, x86_64 number, aarch64 number); nil where the call does not exist on that architecture.
    static let table: [(name: String, x86: UInt32?, arm: UInt32?)] = [
        ("mount", 165, 40), ("umount2", 166, 39), ("pivot_root", 155, 41), ("chroot", 161, 51),
        ("open_tree", 428, 428), ("move_mount", 429, 429), ("fsopen", 430, 430), ("fsconfig", 431, 431),
        ("fsmount", 432, 432), ("fspick", 433, 433), ("mount_setattr", 442, 442),
        ("unshare", 272, 97), ("setns", 308, 268),
        ("swapon", 167, 224), ("swapoff", 168, 225), ("reboot", 169, 142),
        ("init_module", 175, 105), ("finit_module", 313, 273), ("delete_module", 176, 106),
        ("kexec_load", 246, 104), ("kexec_file_load", 320, 294),
        ("iopl", 172, nil), ("ioperm", 173, nil), ("uselib", 134, nil), ("nfsservctl", 180, 42), ("vhangup", 153, 58),
        ("quotactl", 179, 60), ("quotactl_fd", 443, 443), ("acct", 163, 89), ("lookup_dcookie", 212, 18),
        ("settimeofday", 164, 170), ("clock_settime", 227, 112), ("clock_adjtime", 305, 266), ("adjtimex", 159, 171),
        ("syslog", 103, 116),
        ("ptrace", 101, 117), ("process_vm_readv", 310, 270), ("process_vm_writev", 311, 271),
        ("pidfd_getfd", 438, 438), ("kcmp", 312, 272),
        ("add_key", 248, 217), ("request_key", 249, 218), ("keyctl", 250, 219),
        ("bpf", 321, 280), ("perf_event_open", 298, 241), ("userfaultfd", 323, 282), ("fanotify_init", 300, 262),
        ("name_to_handle_at", 303, 264), ("open_by_handle_at", 304, 265),
        ("io_uring_setup", 425, 425), ("io_uring_enter", 426, 426), ("io_uring_register", 427, 427),
    ]

    enum Architecture {
        case x86_64, aarch64
        /// AUDIT_ARCH_* as the kernel reports it in `seccomp_data.arch`.
        var audit: UInt32 { self == .x86_64 ? 0xC000_003E : 0xC000_00B7 }
        static var current: Architecture? {
            #if arch(x86_64)
            return .x86_64
            #elseif arch(arm64)
            return .aarch64
            #else
            return nil
            #endif
        }
    }

    /// The program as the kernel's `struct sock_filter` array (8 bytes an instruction, host order).
    static func program(for arch: Architecture) -> [UInt8] {
        // BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
        let ldAbsW: UInt16 = 0x20, jeq: UInt16 = 0x15, jge: UInt16 = 0x35, ret: UInt16 = 0x06
        let allow: UInt32 = 0x7FFF_0000, errnoEPERM: UInt32 = 0x0005_0000 | UInt32(EPERM),
            killProcess: UInt32 = 0x8000_0000
        let numbers = table.compactMap { arch == .x86_64 ? $0.x86 : $0.arm }
        var code: [(UInt16, UInt8, UInt8, UInt32)] = []
        // Layout: [arch check][load nr][x32 check][one jeq per call][allow][deny][kill]
        let checks = numbers.count + (arch == .x86_64 ? 1 : 0)
        let afterLoad = checks  // instructions between the load and `allow`
        code.append((ldAbsW, 0, 0, 4))  // A = seccomp_data.arch
        code.append((jeq, 1, 0, arch.audit))  // same arch: skip the kill
        code.append((ret, 0, 0, killProcess))  // another ABI (i386 on x86_64): never
        code.append((ldAbsW, 0, 0, 0))  // A = seccomp_data.nr
        var index = 0
        if arch == .x86_64 {
            // x32 calls carry bit 30; they would bypass the numbers below.
            code.append((jge, UInt8(afterLoad - index), 0, 0x4000_0000))
            index += 1
        }
        for n in numbers {
            code.append((jeq, UInt8(afterLoad - index), 0, n))  // jump to `deny`
            index += 1
        }
        code.append((ret, 0, 0, allow))
        code.append((ret, 0, 0, errnoEPERM))
        var bytes: [UInt8] = []
        for (op, jt, jf, k) in code {
            withUnsafeBytes(of: op) { bytes += $0 }
            bytes += [jt, jf]
            withUnsafeBytes(of: k) { bytes += $0 }
        }
        return bytes
    }

    /// The program written once to Nightshift's private folder, or nil on an architecture without a table.
    static let programPath: String? = {
        guard let arch = Architecture.current, let dir = PrivateFolder.path else { return nil }
        return PrivateFolder.place("seccomp-\(arch).bpf", Data(program(for: arch)), in: dir)
    }()
}

/// A folder only this user can use, for the files bubblewrap binds or reads (the sandbox's passwd
/// and group files, the seccomp program). Checked to be a real folder owned by this user with mode
/// 0700, so another local user cannot plant or swap those files.
enum PrivateFolder {
    static let path: String? = {
        let temporary = FileManager.default.temporaryDirectory.path
        let dir = temporary + "/nightshift-sandbox-\(getuid())"
        _ = mkdir(dir, 0o700)
        if isPrivate(dir) { return dir }
        // Someone else made (or linked) that name: a fresh folder of our own instead, never theirs.
        var template = Array((temporary + "/nightshift-sandbox-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { return nil }
        let fresh = String(cString: made)
        return isPrivate(fresh) ? fresh : nil
    }()

    static func isPrivate(_ dir: String) -> Bool {
        var st = stat()
        return lstat(dir, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR && st.st_uid == getuid()
            && st.st_mode & 0o077 == 0
    }

    /// Writes `data` under a name derived from its content, never rewritten in place: another
    /// process's bubblewrap may be reading or binding the file at this moment.
    static func place(_ name: String, _ data: Data, in dir: String) -> String? {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a: a name per content, not a security check
        for byte in data { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let path = dir + "/" + String(hash, radix: 16) + "-" + name
        if FileManager.default.contents(atPath: path) == data { return path }
        let tmp = dir + "/.\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard FileManager.default.createFile(atPath: tmp, contents: data, attributes: [.posixPermissions: 0o644]) else {
            return nil
        }
        defer { unlink(tmp) }
        // link() never replaces: if another process won the race it wrote the same bytes.
        _ = link(tmp, path)
        return FileManager.default.contents(atPath: path) == data ? path : nil
    }
}

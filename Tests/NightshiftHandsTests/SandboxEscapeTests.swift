import Foundation
import NightshiftCore
import Testing

@testable import NightshiftHands

#if canImport(Glibc)
import Glibc
#endif

/// A hostile command in the sandbox, run by whoever runs these tests (root here and in CI, as on
/// most containers): it tries to regain privilege and to write through every read-only bind. Each
/// attempt must be refused and the host left untouched. `SandboxUnprivilegedTests` (harness
/// tests) runs the same attacks through `nightshift run` as an unprivileged user.
@Suite(.enabled(if: SandboxProbe.isolation != nil || ProcessInfo.processInfo.environment["CI"] != nil))
struct SandboxEscapeTests {
    /// A workspace with a `.git` folder, a sealed file, a hidden folder (Nightshift's database folder)
    /// and a read-only toolchain outside; a sentinel outside the sandbox that must never change.
    struct Scene {
        let root: String, outside: String, sealed: String, hidden: String, toolchain: String
        let isolation: Isolation
    }

    func scene() throws -> Scene {
        let (root, outside) = try makeWorkspace()
        guard case let .bubblewrap(path, _)? = SandboxProbe.isolation else { throw ProbeError() }
        try FileManager.default.createDirectory(atPath: root + "/.git/hooks", withIntermediateDirectories: true)
        try "[core]\n".write(toFile: root + "/.git/config", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: root + "/conf", withIntermediateDirectories: true)
        try "default: ask\n".write(toFile: root + "/conf/policy.yaml", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: root + "/.nightshift", withIntermediateDirectories: true)
        try "database".write(toFile: root + "/.nightshift/nightshift.db", atomically: true, encoding: .utf8)
        let toolchain = outside + "/toolchain"
        try FileManager.default.createDirectory(atPath: toolchain, withIntermediateDirectories: true)
        try "tool".write(toFile: toolchain + "/bin", atomically: true, encoding: .utf8)
        var limits = SandboxLimits()
        limits.readOnlyPaths = [toolchain]
        limits.sealedPaths = [root + "/conf/policy.yaml"]
        limits.hiddenPaths = [root + "/.nightshift"]
        return Scene(
            root: root, outside: outside, sealed: root + "/conf/policy.yaml", hidden: root + "/.nightshift",
            toolchain: toolchain, isolation: .bubblewrap(path: path, limits: limits))
    }

    struct ProbeError: Error {}

    func shell(_ command: String, _ s: Scene) async -> ToolResult {
        let json = String(decoding: try! JSONSerialization.data(withJSONObject: ["command": command]), as: UTF8.self)
        return await ToolBox.standard(isolation: s.isolation).run(
            ToolCall(id: CallID("m1.1"), name: "shell", arguments: Payload(json)), workspace: s.root)
    }

    @Test func theCommandRunsWithNoCapabilitiesAsAnUnprivilegedUser() async throws {
        let s = try scene()
        let r = await shell(
            "id -u; id -g; grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status", s)
        #expect(r.ok, "\(r.output.text)")
        let lines = r.output.text.split(separator: "\n").map(String.init)
        #expect(lines.contains("\(Isolation.sandboxUID)"), "\(r.output.text)")
        #expect(!lines.contains("0"), "uid or gid 0 inside: \(r.output.text)")
        for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            let line = try #require(lines.first { $0.hasPrefix(cap + ":") }, "\(r.output.text)")
            #expect(line.hasSuffix("0000000000000000"), "\(line)")
        }
        // Mode 2: a filter is installed.
        #expect(lines.contains { $0.hasPrefix("Seccomp:") && $0.hasSuffix("2") }, "\(r.output.text)")
    }

    /// Every read-only bind: remounting it writable is refused, and so is writing through it.
    @Test func noReadOnlyBindCanBeRemountedWritableOrWrittenThrough() async throws {
        let s = try scene()
        let targets = ["/usr", s.toolchain, s.root + "/.git", s.sealed, s.hidden, "/"]
        for target in targets {
            let r = await shell(
                """
                mount -o remount,bind,rw '\(target)' 2>&1 && echo REMOUNTED
                mount -o remount,rw '\(target)' 2>&1 && echo REMOUNTED
                if [ -d '\(target)' ]; then echo x > '\(target)/planted' 2>&1 && echo WROTE; else echo x >> '\(target)' 2>&1 && echo WROTE; fi
                true
                """, s)
            #expect(!r.output.text.contains("REMOUNTED"), "\(target): \(r.output.text)")
            #expect(!r.output.text.contains("WROTE"), "\(target): \(r.output.text)")
        }
        // The host is untouched.
        #expect(!FileManager.default.fileExists(atPath: s.toolchain + "/planted"))
        #expect(!FileManager.default.fileExists(atPath: s.root + "/.git/planted"))
        #expect(!FileManager.default.fileExists(atPath: s.hidden + "/planted"))
        #expect(!FileManager.default.fileExists(atPath: "/usr/planted"))
        #expect(try String(contentsOfFile: s.sealed, encoding: .utf8) == "default: ask\n")
        #expect(try String(contentsOfFile: s.outside + "/secret.txt", encoding: .utf8) == "secret")
    }

    /// New namespaces (the way back to capabilities), mounts and the calls the filter refuses.
    @Test func namespacesMountsAndKernelInterfacesAreRefused() async throws {
        let s = try scene()
        let r = await shell(
            """
            unshare -r true 2>/dev/null && echo UNSHARED-USER
            unshare -m true 2>/dev/null && echo UNSHARED-MOUNT
            unshare -U -m -r sh -c 'mount -t tmpfs none /usr && echo MOUNTED-IN-NEW-NS' 2>/dev/null
            mkdir -p /tmp/m && mount -t tmpfs none /tmp/m 2>/dev/null && echo MOUNTED
            mount --bind /tmp /usr 2>/dev/null && echo BOUND
            python3 - <<'EOF'
            import ctypes, os
            libc = ctypes.CDLL(None, use_errno=True)
            def call(name, nr, *args):
                r = libc.syscall(nr, *args)
                print(name, r, os.strerror(ctypes.get_errno()) if r < 0 else "ok")
            # x86_64 numbers; on aarch64 the test below is skipped by its expectations
            call("ptrace", 101, 0, 0, 0, 0)                 # PTRACE_TRACEME: allowed to any process without a filter
            call("add_key", 248, b"user", b"k", b"v", 1, -2)  # a key in the process keyring: allowed without a filter
            call("io_uring_setup", 425, 1, 0)               # EFAULT without a filter
            call("unshare", 272, 0x10000000)                # CLONE_NEWUSER
            EOF
            true
            """, s)
        for marker in ["UNSHARED-USER", "UNSHARED-MOUNT", "MOUNTED-IN-NEW-NS", "MOUNTED", "BOUND"] {
            #expect(!r.output.text.split(separator: "\n").contains(Substring(marker)), "\(marker): \(r.output.text)")
        }
        #if arch(x86_64)
        for name in ["ptrace", "add_key", "io_uring_setup", "unshare"] {
            #expect(r.output.text.contains("\(name) -1 Operation not permitted"), "\(name): \(r.output.text)")
        }
        #endif
    }

    /// The program bubblewrap loads: for the right architecture, refusing every listed call with
    /// EPERM and killing a foreign ABI; jump offsets within range.
    @Test func theSeccompProgramIsWellFormed() throws {
        for arch in [Seccomp.Architecture.x86_64, .aarch64] {
            let bytes = Seccomp.program(for: arch)
            #expect(bytes.count % 8 == 0)
            let count = bytes.count / 8
            func k(_ i: Int) -> UInt32 {
                bytes[(i * 8 + 4)..<(i * 8 + 8)].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            }
            #expect(k(1) == arch.audit)
            #expect(k(2) == 0x8000_0000)  // kill another ABI
            #expect(k(count - 2) == 0x7FFF_0000)  // allow
            #expect(k(count - 1) == 0x0005_0000 | 1)  // EPERM
            let listed = Seccomp.table.compactMap { arch == .x86_64 ? $0.x86 : $0.arm }
            #expect(count == 4 + listed.count + (arch == .x86_64 ? 1 : 0) + 2)
            // Every conditional jump lands on the deny instruction.
            for i in 4..<(count - 2) {
                let jt = Int(bytes[i * 8 + 2])
                #expect(i + 1 + jt == count - 1, "instruction \(i)")
            }
        }
    }

    /// Nightshift's own folder in the workspace is empty and read-only inside; the database is not there.
    @Test func nightshiftsOwnFolderIsEmptyInside() async throws {
        let s = try scene()
        let r = await shell(
            "ls -A .nightshift; cat .nightshift/nightshift.db 2>&1; echo x > .nightshift/new 2>&1 || echo REFUSED", s)
        #expect(!r.output.text.contains("database"), "\(r.output.text)")
        #expect(r.output.text.contains("REFUSED"), "\(r.output.text)")
        #expect(try String(contentsOfFile: s.hidden + "/nightshift.db", encoding: .utf8) == "database")
    }
}

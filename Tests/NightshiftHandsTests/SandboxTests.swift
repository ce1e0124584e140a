import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What a sandboxed command must not be able to do. Each attempt is contained, and the call
/// returns a short, truthful result. Runs wherever bubblewrap works; required in CI.
@Suite(.enabled(if: SandboxProbe.isolation != nil || ProcessInfo.processInfo.environment["CI"] != nil))
struct SandboxTests {
    func shell(_ command: String, in root: String, timeout: Int = 20) async throws -> ToolResult {
        let isolation = try #require(SandboxProbe.isolation, "bubblewrap does not work here; CI installs it")
        return await ToolBox.standard(isolation: isolation).run(
            ToolCall(
                id: CallID("m1.1"), name: "shell",
                arguments: Payload(#"{"command":\#(jsonString(command)),"timeout_seconds":\#(timeout)}"#)),
            workspace: root)
    }

    func jsonString(_ s: String) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: [s]), as: UTF8.self).dropFirst().dropLast()
            .description
    }

    /// A read-only path under /tmp (a venv in a checkout under /tmp) is not hidden by the private /tmp.
    /// A fleet wires several runs at once, each probing bubblewrap: every probe succeeds (they
    /// once shared one folder, which the first to finish removed under the others).
    @Test func concurrentProbesAllSucceed() async throws {
        let results = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<16 {
                group.addTask {
                    if case .success = Isolation.detect() { true } else { false }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.count == 16 && results.allSatisfy { $0 }, "\(results.filter { !$0 }.count) probes failed")
    }

    @Test func readOnlyPathsUnderTmpStayVisible() async throws {
        let (root, outside) = try makeWorkspace()
        guard case let .bubblewrap(path, _)? = SandboxProbe.isolation else {
            Issue.record("no bubblewrap")
            return
        }
        var limits = SandboxLimits()
        limits.readOnlyPaths = [outside]
        let r = await ToolBox.standard(isolation: .bubblewrap(path: path, limits: limits)).run(
            ToolCall(
                id: CallID("m1.1"), name: "shell",
                arguments: Payload(#"{"command":"cat \#(outside)/secret.txt && touch \#(outside)/x"}"#)),
            workspace: root)
        #expect(r.output.text.contains("secret"), "\(r.output.text)")
        #expect(!r.ok)  // readable, not writable
        #expect(!FileManager.default.fileExists(atPath: outside + "/x"))
    }

    @Test func nothingOutsideTheWorkspaceAndTmpIsWritable() async throws {
        let (root, _) = try makeWorkspace()
        for path in ["/planted", "/usr/planted", "/etc/planted", "/proc/planted"] {
            let r = try await shell("echo x > \(path)", in: root)
            #expect(!r.ok, "\(path) was writable")
        }
        let ok = try await shell("echo x > /tmp/scratch && echo x > ./kept && cat /tmp/scratch", in: root)
        #expect(ok.ok, "\(ok.output.text)")
    }

    @Test func hostSecretsAreNotVisible() async throws {
        let (root, outside) = try makeWorkspace()
        for path in ["/etc/shadow", "\(outside)/secret.txt", "/root/.ssh/id_rsa", NSHomeDirectory() + "/.ssh/id_rsa"] {
            let r = try await shell("cat \(path)", in: root)
            #expect(!r.ok, "\(path) was readable: \(r.output.text)")
            #expect(!r.output.text.contains("secret\n") && !r.output.text.hasSuffix("secret"))
        }
    }

    @Test func nightshiftsEnvironmentIsNotVisibleEvenThroughProc() async throws {
        let (root, _) = try makeWorkspace()
        setenv("NIGHTSHIFT_SANDBOX_CANARY", "canary-b33f", 1)
        defer { unsetenv("NIGHTSHIFT_SANDBOX_CANARY") }
        let r = try await shell("env; for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < $f; done; ls /proc", in: root)
        #expect(r.ok, "\(r.output.text)")
        #expect(!r.output.text.contains("canary-b33f"))
        // Only the sandbox's own processes exist in its PID namespace: not the test process.
        #expect(!r.output.text.split(separator: "\n").contains(Substring("\(getpid())")))
    }

    /// Public addresses and DNS, without sending anything off this machine (loopback-only tests):
    /// the sandbox's network namespace has only `lo`, no route and no resolver, so a connection to
    /// 192.0.2.1 (TEST-NET-1, documentation-only, never routed) fails at once with "unreachable".
    @Test func noRouteToPublicAddressesAndNoDNS() async throws {
        let (root, _) = try makeWorkspace()
        let ifaces = try await shell("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '", in: root)
        // after "exit 0"
        #expect(ifaces.output.text.split(separator: "\n").dropFirst() == ["lo"], "interfaces: \(ifaces.output.text)")
        let routes = try await shell("tail -n +2 /proc/net/route | wc -l", in: root)
        #expect(routes.output.text.split(separator: "\n").last == "0", "\(routes.output.text)")
        let connect = try await shell(
            "python3 -c \"import socket; socket.create_connection(('192.0.2.1', 80), timeout=3); print('CONNECTED')\"",
            in: root)
        #expect(!connect.ok)
        #expect(connect.output.text.contains("Network is unreachable"), "\(connect.output.text)")
        let dns = try await shell(
            "test -e /etc/resolv.conf && echo HAS-RESOLVER; getent hosts example.com || echo NO-DNS", in: root)
        #expect(!dns.output.text.contains("HAS-RESOLVER"))
        #expect(dns.output.text.contains("NO-DNS"), "\(dns.output.text)")
    }

    @Test func theHostsLoopbackIsUnreachable() async throws {
        let (root, _) = try makeWorkspace()
        // A listener on the host's 127.0.0.1; the sandbox has its own, empty network namespace.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        listen(fd, 4)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        let port = UInt16(bigEndian: addr.sin_port)
        let r = try await shell(
            "python3 -c \"import socket; socket.create_connection(('127.0.0.1', \(port)), timeout=3); print('CONNECTED')\"",
            in: root)
        #expect(!r.ok)
        #expect(!r.output.text.contains("CONNECTED"))
    }

    @Test func onlyTheWorkspaceIsWritableAndGitMetadataIsReadOnly() async throws {
        let (root, outside) = try makeWorkspace()
        try FileManager.default.createDirectory(atPath: root + "/.git/hooks", withIntermediateDirectories: true)
        let r = try await shell(
            """
            echo ok > inside.txt
            touch /usr/evil 2>/dev/null && echo WROTE-USR
            touch \(outside)/evil 2>/dev/null && echo WROTE-OUTSIDE
            echo 'curl evil | sh' > .git/hooks/pre-commit 2>/dev/null && echo WROTE-HOOK
            echo tmp > /tmp/ns-sandbox-private && cat /tmp/ns-sandbox-private
            true
            """, in: root)
        #expect(r.ok, "\(r.output.text)")
        #expect(try String(contentsOfFile: root + "/inside.txt", encoding: .utf8) == "ok\n")
        for marker in ["WROTE-USR", "WROTE-OUTSIDE", "WROTE-HOOK"] {
            #expect(!r.output.text.contains(marker), "\(marker)")
        }
        #expect(!FileManager.default.fileExists(atPath: root + "/.git/hooks/pre-commit"))
        #expect(r.output.text.contains("tmp"))  // a private /tmp works inside…
        #expect(!FileManager.default.fileExists(atPath: "/tmp/ns-sandbox-private"))  // …and is not the host's
    }

    /// A daemon (its own session, detached from the call) holds a lock while it lives; the call
    /// returns once it holds it, and the lock is freed soon after, by the daemon's death, long
    /// before its sleep would end.
    @Test func aDetachedDaemonDiesWithTheCall() async throws {
        let (root, _) = try makeWorkspace()
        let r = try await shell(
            """
            (setsid flock held.lock sh -c 'touch locked; sleep 60; touch late' > /dev/null 2>&1 &)
            while [ ! -f locked ]; do sleep 0.05; done
            echo started
            """, in: root)
        #expect(r.ok && r.output.text.contains("started"), "\(r.output.text)")
        #expect(FileManager.default.fileExists(atPath: root + "/locked"))
        #expect(await LockGate.freed(root + "/held.lock", within: .seconds(20)), "the daemon outlived its call")
        #expect(!FileManager.default.fileExists(atPath: root + "/late"))
    }

    @Test func aCommandThatNeverExitsIsKilledAtTheTimeout() async throws {
        let (root, _) = try makeWorkspace()
        let start = ContinuousClock.now
        let r = try await shell("sleep 600", in: root, timeout: 1)
        #expect(ContinuousClock.now - start < .seconds(60))  // far from 600 s, with room for a loaded machine
        #expect(!r.ok)
        #expect(r.output.text.contains("timed out"))
    }

    @Test func fileSizeIsLimited() async throws {
        let (root, _) = try makeWorkspace()
        var limits = SandboxLimits()
        limits.fileSizeBytes = 1 << 20
        guard case let .bubblewrap(path, _)? = SandboxProbe.isolation else {
            Issue.record("no bubblewrap")
            return
        }
        let tools = ToolBox.standard(isolation: .bubblewrap(path: path, limits: limits))
        let r = await tools.run(
            ToolCall(id: CallID("m1.1"), name: "shell", arguments: #"{"command":"head -c 5000000 /dev/zero > big"}"#),
            workspace: root)
        #expect(!r.ok)
        let size = (try? FileManager.default.attributesOfItem(atPath: root + "/big")[.size] as? NSNumber)?.intValue ?? 0
        #expect(size <= 1 << 20)
    }
}

enum SandboxProbe {
    static let isolation: Isolation? = {
        if case let .success(i) = Isolation.detect() { return i } else { return nil }
    }()
}

extension SandboxTests {
    /// Only where a pids cgroup can hold it: without one, this test would take the machine down.
    @Test(.enabled(if: Isolation.processLimitAvailable))
    func aForkBombIsContained() async throws {
        let (root, _) = try makeWorkspace()
        guard case let .bubblewrap(path, _)? = SandboxProbe.isolation else {
            Issue.record("no bubblewrap")
            return
        }
        var limits = SandboxLimits()
        limits.processes = 64
        let isolation = Isolation.bubblewrap(path: path, limits: limits)
        let start = ContinuousClock.now
        // Exponential all the same; the short sleep keeps it from starving tests running beside it.
        let outcome = await ProcessRunner.run(
            argv: isolation.argv(
                ["/bin/sh", "-c", "b() { sleep 0.05; b | b & }; b; sleep 600"], workspace: root, cwd: root),
            environment: ToolEnvironment.make(workspace: root), cwd: root, timeout: .seconds(4),
            outputLimit: 4096, maxProcesses: limits.processes)
        // Far from the 600 s the command would take, with room for a loaded machine.
        #expect(ContinuousClock.now - start < .seconds(120))
        #expect(outcome.timedOut)
        let peak = try #require(outcome.peakProcesses)
        #expect(peak <= 64, "peak \(peak)")
        // Nothing of it is left: the machine can still start processes normally.
        let after = await ProcessRunner.run(
            argv: ["/bin/echo", "alive"], environment: [:], cwd: root, timeout: .seconds(5))
        #expect(after.output == "alive\n")
    }

    @Test func aGigabyteOfOutputIsCutNotCollected() async throws {
        let (root, _) = try makeWorkspace()
        // Zeros straight from the kernel through one pipe: cheap to produce, 1 GiB to drain.
        let r = try await shell("head -c 1073741824 /dev/zero", in: root, timeout: 120)
        #expect(r.ok)
        #expect(r.output.text.utf8.count < 40_000)
        #expect(r.output.text.contains("bytes of output cut"))
        #expect(r.output.text.contains("[binary output:"))  // summarised, not pasted
    }
}

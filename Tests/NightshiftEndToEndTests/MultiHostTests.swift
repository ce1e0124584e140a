import Foundation
import Logging
import NightshiftCore
import NightshiftHands
import NightshiftPostgres
import NightshiftTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Hosts simulated on this machine: each worker in a network namespace of its own, reaching one
/// PostgreSQL (started for this test, so it can be restarted) over a veth pair the test makes and
/// removes, with a configuration home of its own. Needs root and `ip`.
enum Hosts {
    static var available: Bool {
        TestPostgres.enabled && getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip")
            && FileManager.default.fileExists(atPath: script)
    }
    static let script = FileManager.default.currentDirectoryPath + "/scripts/postgres-for-tests.sh"

    /// Runs a command to its end (at most a minute) and returns its output; throws with the
    /// output when it failed. Spawned and polled, never waited for on a thread of the pool.
    @discardableResult
    static func sh(_ argv: [String], env: [String: String] = [:]) async throws -> String {
        let log = tempDir("ns-sh") + "/out"
        let child = try ChildProcess.spawn(
            argv, environment: ProcessInfo.processInfo.environment.merging(env) { $1 }, outputPath: log)
        let state = await child.wait(timeout: .seconds(60))
        if state == .running { child.kill() }
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        guard state == .exited(0) else { throw TestFailure("\(argv.joined(separator: " ")): \(state) \(text)") }
        return text
    }
}

/// Workers on three simulated hosts share one PostgreSQL while a seeded nemesis kills one,
/// cuts another's link, freezes a third past its lease's time-to-live and restarts the database;
/// people approve runs meanwhile. Afterwards: every run finished once, every approval applied
/// once, no effect (a ledger outside every workspace) happened twice, every log verifies.
@Suite(.enabled(if: Hosts.available), .timeLimit(.minutes(10)))
struct MultiHostTests {
    static let runs = 12

    /// What to undo after the test, newest first, whether it passed or threw.
    final class Teardown: @unchecked Sendable {
        private var steps: [() async -> Void] = []
        func add(_ step: @escaping () async -> Void) { steps.append(step) }
        func run() async {
            for step in steps.reversed() { await step() }
            steps = []
        }
    }

    @Test func workersOnThreeHostsFinishEveryRunOnceThroughANemesis() async throws {
        let teardown = Teardown()
        do { try await nemesis(teardown) } catch {
            await teardown.run()
            throw error
        }
        await teardown.run()
    }

    func nemesis(_ teardown: Teardown) async throws {
        let root = tempDir("ns-hosts")
        let tag = String(getpid() % 1000)
        let hosts = (1...3).map { (ns: "nsmh\(tag)x\($0)", host: "mh\(tag)h\($0)", peer: "mh\(tag)n\($0)", net: $0) }
        var nemesis: [String] = []
        func note(_ s: String) { nemesis.append("\(Date().timeIntervalSince1970): \(s)") }
        // The namespaces and links, removed whatever happens.
        teardown.add {
            for h in hosts {
                _ = try? await Hosts.sh(["/usr/sbin/ip", "netns", "del", h.ns])
                _ = try? await Hosts.sh(["/usr/sbin/ip", "link", "del", h.host])
            }
        }
        for h in hosts {
            try await Hosts.sh(["/usr/sbin/ip", "netns", "add", h.ns])
            try await Hosts.sh(["/usr/sbin/ip", "link", "add", h.host, "type", "veth", "peer", "name", h.peer])
            try await Hosts.sh(["/usr/sbin/ip", "link", "set", h.peer, "netns", h.ns])
            try await Hosts.sh(["/usr/sbin/ip", "addr", "add", "10.231.\(h.net).1/24", "dev", h.host])
            try await Hosts.sh(["/usr/sbin/ip", "link", "set", h.host, "up"])
            try await Hosts.sh(["/usr/sbin/ip", "-n", h.ns, "addr", "add", "10.231.\(h.net).2/24", "dev", h.peer])
            try await Hosts.sh(["/usr/sbin/ip", "-n", h.ns, "link", "set", h.peer, "up"])
            try await Hosts.sh(["/usr/sbin/ip", "-n", h.ns, "link", "set", "lo", "up"])
        }
        // A PostgreSQL of this test's own, listening on the hosts' side of each link too.
        let pg = [
            "NIGHTSHIFT_PG_DIR": root + "/pg", "NIGHTSHIFT_PG_PORT": "55499",
            "NIGHTSHIFT_PG_LISTEN": hosts.map { "10.231.\($0.net).1" }.joined(separator: ","),
        ]
        let admin = try await Hosts.sh(["/bin/bash", Hosts.script, "start"], env: pg).trimmingCharacters(
            in: .whitespacesAndNewlines)
        teardown.add { _ = try? await Hosts.sh(["/bin/bash", Hosts.script, "stop"], env: pg) }
        let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let server = try PostgresDatabase(address: admin + "?sslmode=disable", logger: quiet)
        try await server.execute("CREATE DATABASE hosts")
        let local = "postgres://nightshift@127.0.0.1:55499/hosts?sslmode=disable"
        let db = try PostgresDatabase(address: local, logger: quiet)

        // The runs: each asks a person before its one effect, which appends to a ledger outside
        // every workspace and then takes a while.
        let ledger = root + "/ledger"
        FileManager.default.createFile(atPath: ledger, contents: nil)
        try """
        default: allow
        rules:
          - ask: shell
            command: "*ledger*"
            reason: a person approves each effect
        """.write(toFile: root + "/policy.yaml", atomically: true, encoding: .utf8)
        try
            "title: effect once\ntasks:\n  - id: one\n    description: append to the ledger once\n    checks:\n      - \"true\"\n"
            .write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        for i in 0..<Self.runs {
            let ws = root + "/ws\(i)"
            try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
            try """
            tasks:
              one:
                - tools: [{shell: {command: "echo mh-\(i) >> \(ledger); sleep 3; echo done > out.txt"}}]
                - done: it ran
            judge:
              one: [{verdict: pass}, {verdict: pass}, {verdict: pass}, {verdict: pass}]
            """.write(toFile: root + "/scenario\(i).yaml", atomically: true, encoding: .utf8)
            let r = try await nightshift(
                [
                    "run", "--id", "mh-\(i)", "-q", "--plan", root + "/plan.yaml", "--workspace", ws, "--model",
                    "scripted:\(root)/scenario\(i).yaml", "--store", local, "--unsandboxed", "--policy",
                    root + "/policy.yaml",
                ], cwd: root)
            #expect(r.status == 3, "mh-\(i): \(r.stdout)\(r.stderr)")
        }

        // The workers, one a host.
        let binary = try nightshiftBinary()
        var workers: [Int: ChildProcess] = [:]
        func startWorker(_ n: Int) throws {
            let h = hosts[n]
            let home = root + "/home\(n)"
            try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
            workers[n] = try ChildProcess.spawn(
                [
                    "/usr/sbin/ip", "netns", "exec", h.ns, binary, "worker", "--store",
                    "postgres://nightshift@10.231.\(h.net).1:55499/hosts?sslmode=disable", "--unsandboxed",
                    "--poll-ms", "50",
                ], environment: testEnvironment.merging(["XDG_CONFIG_HOME": home]) { $1 },
                outputPath: root + "/worker\(n)-\(nemesis.count).log")
            running.all.append(workers[n]!)
            note("worker \(n) started (pid \(workers[n]!.pid)) in \(h.ns)")
        }
        let running = Workers()
        teardown.add { for w in running.all { w.kill() } }
        for n in 0..<3 { try startWorker(n) }

        var rng = SplitMix(seed: 28)
        let order = [0, 1, 2].shuffled(using: &rng)
        let (killed, cut, frozen) = (order[0], order[1], order[2])
        note("seed 28: kill worker \(killed), cut worker \(cut)'s link, freeze worker \(frozen)")
        func approve(_ range: Range<Int>) async throws {
            for i in range {
                let r = try await nightshift(["approve", "mh-\(i)", "m1.1", "--store", local], cwd: root)
                #expect(r.status == 0, "approve mh-\(i): \(r.stdout)\(r.stderr)")
            }
            note("approved mh-\(range.lowerBound)…mh-\(range.upperBound - 1)")
        }
        func ledgerLines() -> [Substring] {
            ((try? String(contentsOfFile: ledger, encoding: .utf8)) ?? "").split(separator: "\n")
        }
        func until(_ what: String, within: Duration = .seconds(120), _ done: () async throws -> Bool) async throws {
            let deadline = ContinuousClock.now + within
            while !(try await done()) {
                guard ContinuousClock.now < deadline else {
                    throw TestFailure("waited for \(what) too long; nemesis:\n" + nemesis.joined(separator: "\n"))
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }

        try await approve(0..<6)
        try await until("a first effect") { ledgerLines().count >= 1 }
        workers[killed]?.kill()
        note("SIGKILL worker \(killed)")
        try await Task.sleep(for: .seconds(1))
        try startWorker(killed)

        let peer = hosts[cut]
        try await Hosts.sh(["/usr/sbin/ip", "-n", peer.ns, "link", "set", peer.peer, "down"])
        note("cut worker \(cut)'s link")
        try await approve(6..<9)
        try await Task.sleep(for: .seconds(4))
        try await Hosts.sh(["/usr/sbin/ip", "-n", peer.ns, "link", "set", peer.peer, "up"])
        note("restored worker \(cut)'s link")

        try await Hosts.sh(["/bin/bash", Hosts.script, "restart"], env: pg)
        note("restarted PostgreSQL")
        try await approve(9..<Self.runs)

        // Frozen while it drives (its lease held), past the lease's time-to-live, then woken.
        let holder = try #require(workers[frozen]?.pid)
        try await until("worker \(frozen) to drive a run", within: .seconds(60)) {
            for i in 0..<Self.runs {
                if let l = try? await db.leaseRecord(of: RunID("mh-\(i)")), !l.released,
                    l.lease.holder.pid == holder
                {
                    return true
                }
            }
            return false
        }
        kill(holder, SIGSTOP)
        note("SIGSTOP worker \(frozen) (pid \(holder))")
        try await Task.sleep(for: .seconds(36))
        kill(holder, SIGCONT)
        note("SIGCONT worker \(frozen)")

        try await until("every run to finish", within: .seconds(240)) {
            try await db.runs().filter { $0.id.rawValue.hasPrefix("mh-") && $0.status == .finished }.count == Self.runs
        }

        // The checker.
        let effects = ledgerLines()
        for i in 0..<Self.runs {
            let run = RunID("mh-\(i)")
            let events = try await db.readAll(run).map(\.event)
            let finished = events.filter { if case .runFinished = $0 { true } else { false } }.count
            let decided = events.filter { if case .approvalDecided = $0 { true } else { false } }.count
            #expect(finished == 1, "mh-\(i) finished \(finished) times")
            #expect(decided == 1, "mh-\(i)'s approval applied \(decided) times")
            #expect(effects.filter { $0 == "mh-\(i)" }.count <= 1, "mh-\(i)'s effect happened twice")
            #expect(try await db.verify(run).ok, "mh-\(i) does not verify")
        }
        let verified = try await nightshift(["audit", "verify", "--all", "--store", local], cwd: root)
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        for (n, w) in workers { #expect(w.poll() == .running, "worker \(n) is gone; nemesis:\n\(nemesis)") }
    }
}

/// Every worker process a test started (killed at its end).
final class Workers: @unchecked Sendable { var all: [ChildProcess] = [] }

import Foundation
import NightshiftCore
import NightshiftSQLite
import NightshiftTesting
import Testing

@testable import NightshiftRuntime

/// What a hostile review of the trust work found, each tried again: a database an agent wrote or
/// a repository brought, a link to a trusted file, a coordinator spawning past the person's
/// policy, a review that trusted more than it showed, a trusted change that never applied, an
/// accepted rollback over a longer copy of the log.
@Suite struct TrustReviewTests {
    /// A run Nightshift never made, planted as a database where one is looked for by default (a
    /// subfolder of the person's, or a repository's `.nightshift/`), recorded as unsandboxed: it
    /// is refused by `resume`, `status` and `worker`; named with `--db`, it is the person's choice.
    @Test func aDatabaseNobodyNamedIsObeyedOnlyIfNightshiftMadeIt() async throws {
        let root = tempDir("ns-planted-db")
        let planted = root + "/sub"
        try FileManager.default.createDirectory(atPath: planted, withIntermediateDirectories: true)
        // The agent's database: made elsewhere (by any means), then put where the person will look.
        let elsewhere = tempDir("ns-forge-db")
        try "title: t\ntasks:\n  - id: t\n    description: d\n    checks: ['true']\n".write(
            toFile: elsewhere + "/plan.yaml", atomically: true, encoding: .utf8)
        try "tasks:\n  t:\n    - tools:\n        - escalate: {reason: wait}\n    - done: ok\n".write(
            toFile: elsewhere + "/s.yaml", atomically: true, encoding: .utf8)
        let forged = try await nightshift(
            [
                "run", "--plan", elsewhere + "/plan.yaml", "--workspace", elsewhere, "--model",
                "scripted:\(elsewhere)/s.yaml", "--db", elsewhere + "/made/nightshift.db", "--id", "evil", "-q",
                "--unsandboxed", "--no-baseline",
            ], env: ["XDG_CONFIG_HOME": tempDir("ns-agent-home")])
        #expect(forged.status == 3, "\(forged.stdout)\(forged.stderr)")
        try FileManager.default.createDirectory(atPath: planted + "/.nightshift", withIntermediateDirectories: true)
        for suffix in ["", "-wal", "-shm"]
        where FileManager.default.fileExists(atPath: elsewhere + "/made/nightshift.db" + suffix) {
            try FileManager.default.copyItem(
                atPath: elsewhere + "/made/nightshift.db" + suffix,
                toPath: planted + "/.nightshift/nightshift.db" + suffix)
        }
        for args in [["resume", "evil"], ["status"], ["worker", "--once"]] {
            let r = try await nightshift(args, cwd: planted)
            #expect(r.status == 1, "\(args): \(r.stdout)\(r.stderr)")
            #expect(r.stderr.contains("is not one Nightshift made for you here"), "\(args): \(r.stderr)")
        }
        // Named, it is the person's: `status` reads it; `trust --database` records it as theirs.
        #expect(try await nightshift(["status", "--db", planted + "/.nightshift/nightshift.db"]).status == 0)
        #expect(try await nightshift(["trust", "--database", planted + "/.nightshift/nightshift.db"]).status == 0)
        #expect(try await nightshift(["status"], cwd: planted).status == 0)
    }

    /// A project file found in a folder that is a link to a trusted one is refused: trust is for
    /// the file where it lies, and a link would lend it to another folder (whose relative paths
    /// and default database are the agent's).
    @Test func aLinkToATrustedConfigurationIsNotTrustedWhereItIsFound() async throws {
        let repo = tempDir("ns-linked")
        #expect(try await nightshift(["init"], cwd: repo).status == 0)
        let sub = repo + "/sub"
        try FileManager.default.createDirectory(atPath: sub + "/.nightshift", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: sub + "/.nightshift/config.yaml", withDestinationPath: "../../.nightshift/config.yaml")
        let r = try await nightshift(["status"], cwd: sub)
        #expect(r.status == 1 && r.stderr.contains("is a symbolic link"), "\(r.stdout)\(r.stderr)")
    }

    /// The person names the run's policy on the command line; a profile names a lenient one. The
    /// coordinator's sub-agent runs under the person's, as a run started as that profile would.
    @Test func aSubAgentKeepsThePolicyThePersonNamed() async throws {
        let root = tempDir("ns-named-policy")
        for folder in ["agents", "ws", "etc"] {
            try FileManager.default.createDirectory(atPath: root + "/" + folder, withIntermediateDirectories: true)
        }
        try
            "default: allow\nrules:\n  - deny: shell\n    command: \"touch*\"\n    reason: strict\nfleet: {max_depth: 1}\n"
            .write(toFile: root + "/etc/strict.yaml", atomically: true, encoding: .utf8)
        try "default: allow\n".write(toFile: root + "/etc/lenient.yaml", atomically: true, encoding: .utf8)
        try "description: Touches\nmodel: scripted:../child.yaml\npolicy: ../etc/lenient.yaml\n".write(
            toFile: root + "/agents/worker.yaml", atomically: true, encoding: .utf8)
        try "tasks:\n  t1:\n    - tools:\n        - shell: {command: touch touched}\n      done: tried\n".write(
            toFile: root + "/child.yaml", atomically: true, encoding: .utf8)
        try """
        tasks:
          coordinate:
            - tools:
                - spawn_agents: {agents: [{profile: worker, task: {id: t1, description: "touch", checks: ["true"]}, budget: {steps: 5}}]}
            - tools:
                - wait_agents: {}
            - done: reported
        """.write(toFile: root + "/coord.yaml", atomically: true, encoding: .utf8)
        try "title: c\ntasks:\n  - id: coordinate\n    description: d\n    checks: ['true']\n".write(
            toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        let r = try await nightshift(
            [
                "run", "--plan", root + "/plan.yaml", "--workspace", root + "/ws", "--model",
                "scripted:\(root)/coord.yaml", "--agents", root + "/agents", "--db", root + "/ns.db", "--id", "c", "-q",
                "--unsandboxed", "--no-baseline", "--policy", root + "/etc/strict.yaml",
            ], cwd: root)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let store = try SQLiteEventStore(path: root + "/ns.db")
        let child = try await store.state(
            of: try #require(try await store.state(of: RunID("c")).fleet.children.first?.id))
        #expect(!FileManager.default.fileExists(atPath: child.workspace + "/touched"))
        #expect(child.gate.policySource?.hasSuffix("strict.yaml") == true, "\(child.gate.policySource ?? "")")
    }

    /// A profile's own policy (no policy named by the person) may not let its sub-agent spawn
    /// deeper or more than the parent's policy lets the parent, nor give it the network.
    @Test func aProfilesPolicyCannotWidenTheFleetOrTheNetwork() throws {
        var parent = Policy()
        parent.fleet = FleetLimits(maxDepth: 1, maxChildren: 5)
        var profile = Policy()
        profile.network = true
        let child = profile.bounded(byParent: parent, parentHasNetwork: false)
        #expect(child.fleet == FleetLimits(maxDepth: 1, maxChildren: 5), "the default limits are the parent's")
        #expect(child.network == false, "no network the parent lacks")
        profile.fleet = FleetLimits(maxDepth: 0, maxChildren: 9)
        #expect(
            profile.bounded(byParent: parent, parentHasNetwork: true).fleet == FleetLimits(maxDepth: 0, maxChildren: 5),
            "each limit the tighter of the two")
        #expect(
            profile.bounded(byParent: parent, parentHasNetwork: true).network == true,
            "the parent's network may be kept")
        #expect(profile.bounded(byParent: nil, parentHasNetwork: false).fleet == profile.fleet)
        // A parent whose policy sets no limits runs under the defaults: a profile cannot exceed them.
        var deep = Policy()
        deep.fleet = FleetLimits(maxDepth: 50, maxChildren: 100_000)
        #expect(deep.bounded(byParent: Policy(), parentHasNetwork: true).fleet == FleetLimits())
        // A profile that says nothing of the network gets the parent's, stated (never the child's sandbox's).
        #expect(Policy().bounded(byParent: parent, parentHasNetwork: false).network == false)
        #expect(Policy().bounded(byParent: parent, parentHasNetwork: true).network == true)
    }

    /// Without a terminal to ask on, `trust` records nothing unless told `--yes`; and every line of
    /// a long file is shown (what is trusted is exactly what was shown).
    @Test func aReviewTrustsOnlyWhatItShowedAndOnlyWhenAsked() async throws {
        let repo = tempDir("ns-review")
        let home = ["XDG_CONFIG_HOME": tempDir("ns-review-home")]
        try FileManager.default.createDirectory(atPath: repo + "/.nightshift", withIntermediateDirectories: true)
        let long = String(repeating: "# a comment\n", count: 420) + "sandbox: {unsandboxed: true}\n"
        try long.write(toFile: repo + "/.nightshift/config.yaml", atomically: true, encoding: .utf8)
        let asked = try await nightshift(["trust"], env: home, cwd: repo)
        #expect(asked.status == 1 && asked.stderr.contains("pass --yes"), "\(asked.stdout)\(asked.stderr)")
        #expect(asked.stdout.contains(" 421 | sandbox: {unsandboxed: true}"), "every line is shown")
        #expect(try await nightshift(["trust", "--check"], env: home, cwd: repo).status == 1, "nothing was trusted")
        #expect(try await nightshift(["trust", "--yes"], env: home, cwd: repo).status == 0)
        #expect(try await nightshift(["trust", "--check"], env: home, cwd: repo).status == 0)
    }

    /// A policy file edited during a run waits for trust; once trusted (which does not touch the
    /// file), the running watcher applies it at its next look.
    @Test func aTrustedChangeAppliesWithoutTheFileBeingTouchedAgain() throws {
        let dir = tempDir("ns-watch")
        let path = dir + "/policy.yaml"
        try "default: allow\n".write(toFile: path, atomically: true, encoding: .utf8)
        let trust = InMemoryTrustStore()
        let notices = NoticeLog()
        let watcher = PolicyWatcher(
            path: path, recordedHash: Payload("default: allow\n").sha256Hex, workspace: dir + "/ws", trust: trust,
            notice: { notices.add($0) })
        let strict = "default: deny\n"
        try strict.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(watcher.check() == nil && notices.all.count == 1)
        #expect(watcher.check() == nil && notices.all.count == 1, "said once")
        trust.trust(ConfigTrust.key(path), text: strict, by: "alice", at: Timestamp(milliseconds: 1))
        guard case let .policySet(policy, _, _, _)? = watcher.check() else {
            Issue.record("the trusted version was not applied")
            return
        }
        #expect(policy.defaultEffect == .deny)
        #expect(watcher.check() == nil)
    }

    /// A copy of the database that went further than its head witness was put back: the log is
    /// longer than the witnessed head and forks from it. `--accept-rollback` records that as a
    /// replaced head, and the run goes on with a log that folds and verifies.
    @Test func acceptingALongerCopyOfTheLogLeavesOneThatFolds() async throws {
        let w = try IntegrityRunTests.Waiting()
        #expect(try await w.start().status == 3)
        try w.backup()
        // The copy goes on (in another folder, so its witness is not the original's).
        let other = tempDir("ns-copy")
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: w.root + "/backup" + suffix) {
            try FileManager.default.copyItem(atPath: w.root + "/backup" + suffix, toPath: other + "/ns.db" + suffix)
        }
        #expect(try await nightshift(["deny", "w", "m1.1", "--reason", "no", "--db", other + "/ns.db"]).status == 0)
        #expect(
            try await nightshift(["resume", "w", "-q", "--unsandboxed", "--db", other + "/ns.db"]).status == 3)
        #expect(try await nightshift(["approve", "w", "m3.1", "--db", other + "/ns.db"]).status == 0)
        #expect(
            try await nightshift(["resume", "w", "-q", "--unsandboxed", "--db", other + "/ns.db"]).status == 0)
        // The original goes on differently meanwhile (its witness moves with it), then is replaced by the copy.
        #expect(try await nightshift(["approve", "w", "m1.1"] + w.db_).status == 0)
        let copyHead = try #require(try await SQLiteEventStore(path: other + "/ns.db").summary(of: RunID("w"))?.headSeq)
        #expect(try #require(try await w.head()) < copyHead, "the copy is longer")
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: w.db + suffix)
            if FileManager.default.fileExists(atPath: other + "/ns.db" + suffix) {
                try FileManager.default.copyItem(atPath: other + "/ns.db" + suffix, toPath: w.db + suffix)
            }
        }
        let refused = try await nightshift(["resume", "w", "-q", "--unsandboxed"] + w.db_)
        #expect(refused.status == 1 && refused.stderr.contains("replaced or rewritten"), "\(refused.stderr)")
        let accepted = try await nightshift(["resume", "w", "-q", "--unsandboxed", "--accept-rollback"] + w.db_)
        #expect(accepted.status == 0, "\(accepted.stdout)\(accepted.stderr)")
        #expect(try await nightshift(["status", "w"] + w.db_).status == 0)
        #expect(try await nightshift(["audit", "verify", "w"] + w.db_).status == 0)
    }
}

/// Notices a test collects.
final class NoticeLog: @unchecked Sendable {
    private let lock = NSLock()
    private var notices: [String] = []
    func add(_ text: String) { lock.withLock { notices.append(text) } }
    var all: [String] { lock.withLock { notices } }
}

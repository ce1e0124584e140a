import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftSQLite
import NightshiftTesting
import Testing

/// A run is recorded by its repository and branch, not pinned to the folder its worktree was made
/// in: a process with another workspace home (another host would have one) continues a run whose
/// worktree it does not have, from the work committed so far. Real processes, a real SIGKILL.
@Suite struct WorkspaceHomeTests {
    static let plan = """
        title: two homes
        tasks:
          - id: a
            description: write a.txt
            checks: [{command: "test -f a.txt"}]
          - id: b
            description: write b.txt
            checks: [{command: "test -f b.txt"}]
        """
    /// Task b's first call says it started, then sleeps far longer than the test: it is killed there.
    static let scenario = """
        tasks:
          a:
            - tools: [{write_file: {path: a.txt, content: "a"}}]
            - done: a written
          b:
            - tools: [{shell: {command: "echo $$ > b.pid; echo started >> b-started.txt; sleep 300"}}]
            - tools: [{write_file: {path: b.txt, content: "b"}}]
            - done: b written
        """

    /// A repository, and run `id` started in it with workspace home A and SIGKILLed while task b's
    /// call runs (task a committed by then); the command it left running is ended too.
    struct Killed {
        let root: String
        var repo: String { root + "/repo" }
        var homeA: String { root + "/home-a" }
        var homeB: String { root + "/home-b" }
        var db: String { root + "/db/ns.db" }
    }

    func startAndKill(_ id: String) async throws -> Killed {
        let k = Killed(root: tempDir("ns-homes"))
        try FileManager.default.createDirectory(atPath: k.repo, withIntermediateDirectories: true)
        try makeRepository(k.repo)
        try Self.plan.write(toFile: k.root + "/plan.yaml", atomically: true, encoding: .utf8)
        try Self.scenario.write(toFile: k.root + "/scenario.yaml", atomically: true, encoding: .utf8)
        let child = try ChildProcess.spawn(
            [
                try nightshiftBinary(), "run", "--id", id, "--plan", k.root + "/plan.yaml", "--workspace", k.repo,
                "--model", "scripted:\(k.root)/scenario.yaml", "--db", k.db, "--workspaces", k.homeA, "--unsandboxed",
            ], environment: testEnvironment, outputPath: k.root + "/run-a.log")
        // The gate: task b's call has started in home A's worktree.
        let started = await waitForLine("started", in: k.homeA + "/\(id)/b-started.txt", timeout: .seconds(60))
        child.kill()  // SIGKILL (and reaped): a crash, mid-task
        await endOrphanedCommand(k.homeA + "/\(id)/b.pid")
        guard started else { throw TestFailure("run \(id) never started task b's call") }
        return k
    }

    @Test func aSecondProcessWithAnotherHomeContinuesAKilledRun() async throws {
        let k = try await startAndKill("mv")
        let (repo, homeA, homeB, db) = (k.repo, k.homeA, k.homeB, k.db)
        // The other host has none of home A (its worktree, and the uncommitted b-started.txt in it).
        try FileManager.default.removeItem(atPath: homeA)

        let resumed = try await nightshift(["resume", "mv", "--db", db, "--workspaces", homeB, "--unsandboxed"])
        #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
        #expect(resumed.stdout.contains("workspace moved"), "\(resumed.stdout)")
        #expect(resumed.stdout.contains("IN DOUBT"), "\(resumed.stdout)")
        let store = try SQLiteEventStore(path: db)
        let state = try await store.state(of: RunID("mv"))
        #expect(state.status == .finished)
        #expect(state.workspace == Workspace.canonical(homeB + "/mv"))
        let moves = try await store.readAll(RunID("mv")).compactMap {
            if case let .workspaceMoved(path, branch, _, from) = $0.event { (path, branch, from) } else { nil }
        }
        #expect(moves.count == 1)
        #expect(moves.first?.0 == state.workspace && moves.first?.1 == "nightshift/mv")
        #expect(moves.first?.2 == Workspace.canonical(homeA) + "/mv")
        // Nothing lost: task a's committed work is in the new worktree, and both tasks' commits are
        // on the run's branch in the repository.
        #expect(FileManager.default.fileExists(atPath: homeB + "/mv/a.txt"))
        #expect(FileManager.default.fileExists(atPath: homeB + "/mv/b.txt"))
        let log = try git(["log", "--format=%s", "nightshift/mv"], in: repo)
        #expect(log.contains("task a done") && log.contains("task b done"), "\(log)")
        // Nothing done twice: the killed call is in doubt and was not run again here.
        #expect(!FileManager.default.fileExists(atPath: homeB + "/mv/b-started.txt"))
        #expect(state.tasks.allSatisfy { $0.status == .done })
        #expect(try await nightshift(["audit", "verify", "mv", "--db", db]).status == 0)
    }

    /// A branch that no longer holds the work the run recorded (reset or rewritten meanwhile) is
    /// refused, in one line, before anything is made or recorded.
    @Test func aRewrittenBranchIsRefused() async throws {
        let k = try await startAndKill("rw")
        let (root, repo, homeA, db) = (k.root, k.repo, k.homeA, k.db)
        try FileManager.default.removeItem(atPath: homeA)
        _ = try git(["worktree", "prune"], in: repo)
        _ = try git(["branch", "-f", "nightshift/rw", "main"], in: repo)  // task a's commit is gone from it
        let before = try await SQLiteEventStore(path: db).summary(of: RunID("rw"))?.headSeq
        let r = try await nightshift(["resume", "rw", "--db", db, "--workspaces", root + "/home-b", "--unsandboxed"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("no longer holds commit"), "\(r.stderr)")
        #expect(try await SQLiteEventStore(path: db).summary(of: RunID("rw"))?.headSeq == before)
    }
}

extension WorkspaceHomeTests {
    /// The same for a coding fleet's worker: killed mid-task with the fleet's first process, it is
    /// made again in the second process's home, beside its parent's moved worktree, and its work is
    /// merged into the run's branch there, once.
    @Test func aFleetsWorkerMovesWithItsParent() async throws {
        let root = tempDir("ns-homes-fleet")
        let repo = root + "/repo", homeA = root + "/home-a", homeB = root + "/home-b", db = root + "/db/ns.db"
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        try makeRepository(repo)
        try """
        title: one worker
        tasks:
          - id: a
            description: write a.txt
            checks: [{command: "test -f a.txt"}]
        """.write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        try """
        tasks:
          a:
            - tools: [{shell: {command: "echo $$ > b.pid; echo started >> started.txt; sleep 300"}}]
            - tools: [{write_file: {path: a.txt, content: "a"}}]
            - done: a written
        """.write(toFile: root + "/scenario.yaml", atomically: true, encoding: .utf8)
        let child = try ChildProcess.spawn(
            [
                try nightshiftBinary(), "run", "--id", "fl", "--plan", root + "/plan.yaml", "--workspace", repo,
                "--model", "scripted:\(root)/scenario.yaml", "--db", db, "--workspaces", homeA, "--workers", "1",
                "--unsandboxed",
            ], environment: testEnvironment, outputPath: root + "/run-a.log")
        // The gate: the worker's call has started, in a worktree of its own in home A.
        let deadline = ContinuousClock.now + .seconds(60)
        var started: String?
        while started == nil, ContinuousClock.now < deadline {
            let folders = (try? FileManager.default.contentsOfDirectory(atPath: homeA)) ?? []
            started = folders.first { FileManager.default.fileExists(atPath: homeA + "/" + $0 + "/started.txt") }
            if started == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        let worker = try #require(started, "the worker never started its call")
        child.kill()  // SIGKILL (and reaped): the fleet's process, mid-task
        await endOrphanedCommand(homeA + "/" + worker + "/b.pid")
        try FileManager.default.removeItem(atPath: homeA)

        let resumed = try await nightshift(["resume", "fl", "--db", db, "--workspaces", homeB, "--unsandboxed"])
        #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
        let store = try SQLiteEventStore(path: db)
        #expect(try await store.summary(of: RunID("fl"))?.status == .finished)
        for run in ["fl", worker] {
            let moved = try await store.readAll(RunID(run)).contains {
                if case let .workspaceMoved(path, _, _, _) = $0.event {
                    path.hasPrefix(Workspace.canonical(homeB))
                } else {
                    false
                }
            }
            #expect(moved, "\(run) was not moved to home B")
        }
        // Its work reached the run's branch through the merge queue; its killed call ran once.
        let files = try git(["ls-tree", "--name-only", "nightshift/fl"], in: repo)
        #expect(files.contains("a.txt") && !files.contains("started.txt"), "\(files)")
        #expect(!FileManager.default.fileExists(atPath: homeB + "/" + worker + "/started.txt"))
        #expect(try await nightshift(["audit", "verify", "--all", "--db", db]).status == 0)
    }
}

extension WorkspaceHomeTests {
    /// A run's worktree gone together with its whole workspace home (a disk not mounted) is not
    /// made again under the mount point: refused in one line, nothing recorded.
    @Test func aMissingHomeIsRefusedNotMadeAgainInItsPlace() async throws {
        let k = try await startAndKill("um")
        let (homeA, db) = (k.homeA, k.db)
        try FileManager.default.removeItem(atPath: homeA)
        let before = try await SQLiteEventStore(path: db).summary(of: RunID("um"))?.headSeq
        let r = try await nightshift(["resume", "um", "--db", db, "--workspaces", homeA, "--unsandboxed"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("is a disk not mounted"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: homeA))
        #expect(try await SQLiteEventStore(path: db).summary(of: RunID("um"))?.headSeq == before)
    }
}

/// The command a SIGKILLed Nightshift left running (in a process group of its own, as every
/// command is): ended by the test, by the group id its shell wrote, so nothing outlives the test.
func endOrphanedCommand(_ pidFile: String) async {
    let deadline = ContinuousClock.now + .seconds(5)
    while ContinuousClock.now < deadline {
        if let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1
        {
            kill(-pid, SIGKILL)
            return
        }
        try? await Task.sleep(for: .milliseconds(10))
    }
}

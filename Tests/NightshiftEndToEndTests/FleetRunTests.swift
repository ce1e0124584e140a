import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftHands
import NightshiftHarness
import NightshiftModels
import NightshiftSQLite
import NightshiftTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Fleets through the executable, with scripted models (test doubles): a coordinator spawns
/// sub-agents of a profile, waits for them, and finishes; budgets, failures, cancellation and
/// SIGKILL anywhere.
@Suite(.serialized) struct FleetRunTests {
    /// A project with a `worker` profile (scripted from child.yaml) and a coordinator plan.
    struct Project {
        let root: String
        var db: String { root + "/ns.db" }
        var ws: String { root + "/ws" }

        /// `children` tasks t1…tN; each child writes its file in `turns` turns (the last claims done),
        /// except those in `failing`, whose checks can never pass.
        init(children: Int, steps: Int, turns: Int = 1, failing: Set<Int> = [], policy: String? = nil) throws {
            root = tempDir("ns-fleet")
            try FileManager.default.createDirectory(atPath: root + "/agents", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: root + "/ws", withIntermediateDirectories: true)
            try "description: Writes one file\nmodel: scripted:../child.yaml\n".write(
                toFile: root + "/agents/worker.yaml", atomically: true, encoding: .utf8)
            var child = "tasks:\n"
            for k in 1...children {
                child += "  t\(k):\n"
                for n in 1...turns {
                    child += "    - tools:\n        - write_file: {path: t\(k)-\(n).txt, content: \"\(n)\"}\n"
                    if n == turns { child += "      done: wrote t\(k)\n" }
                }
                // A next attempt (a kill left the last write in doubt, so the check failed) writes it again;
                // a loaded machine lets more kills land on one child, so there are three.
                for _ in 0..<3 {
                    child += "    - tools:\n        - write_file: {path: t\(k)-\(turns).txt, content: \"\(turns)\"}\n"
                    child += "      done: wrote t\(k) again\n"
                }
            }
            try child.write(toFile: root + "/child.yaml", atomically: true, encoding: .utf8)
            // The coordinator's next attempts, for a kill that left its summary write in doubt (not
            // re-run, so the check fails): without them it ran out of scripted turns and paused.
            let redo = String(
                repeating:
                    "    - tools:\n        - write_file: {path: summary.txt, content: \"done\"}\n      done: wrote it again\n",
                count: 2)
            let agents = (1...children).map { k in
                let check = failing.contains(k) ? "test -f never-there" : "test -f t\(k)-\(turns).txt"
                return
                    "{profile: worker, task: {id: t\(k), description: \"write t\(k)\", checks: [\"\(check)\"]}, budget: {steps: \(steps)}}"
            }
            try """
            tasks:
              coordinate:
                - tools:
                    - spawn_agents: {agents: [\(agents.joined(separator: ", "))]}
                - tools:
                    - wait_agents: {}
                - tools:
                    - write_file: {path: summary.txt, content: "done"}
                  done: every sub-agent reported
            \(redo)
            judge:
              coordinate:
            \(String(repeating: "    - tools:\n        - submit_verdict: {verdict: pass, reasons: []}\n", count: 3))
            """.write(toFile: root + "/coord.yaml", atomically: true, encoding: .utf8)
            try
                "title: coordinate\ntasks:\n  - id: coordinate\n    description: split the work\n    checks:\n      - test -f summary.txt\n"
                .write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
            if let policy { try policy.write(toFile: root + "/policy.yaml", atomically: true, encoding: .utf8) }
        }

        func run(_ id: String, extra: [String] = []) -> [String] {
            [
                "run", "--plan", root + "/plan.yaml", "--workspace", ws, "--model", "scripted:\(root)/coord.yaml",
                "--agents", root + "/agents", "--db", db, "--id", id, "-q", "--unsandboxed",
            ] + extra
        }
    }

    /// Every log in the database verifies, and each child's end is in its parent's log exactly once.
    func checkLogs(_ db: String, root: RunID, children: Int) async throws -> RunState {
        let store = try SQLiteEventStore(path: db)
        let runs = try await store.runs()
        #expect(runs.count == children + 1, "runs: \(runs.map(\.id))")
        for r in runs {
            let report = try await store.verify(r.id)
            #expect(report.ok, "\(r.id): \(report.problem ?? "")")
        }
        let events = try await store.readAll(root).map(\.event)
        var ended: [RunID: Int] = [:]
        for case let .childEnded(child, _) in events { ended[child, default: 0] += 1 }
        #expect(ended.count == children && ended.values.allSatisfy { $0 == 1 }, "\(ended)")
        return try await store.state(of: root)
    }

    @Test func aCoordinatorFansOutAndIn() async throws {
        let p = try Project(children: 3, steps: 5)
        let r = try await nightshift(p.run("c"), cwd: p.root)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let state = try await checkLogs(p.db, root: RunID("c"), children: 3)
        #expect(state.status == .finished)
        #expect(state.fleet.children.map { $0.outcome?.status } == [.finished, .finished, .finished])
        let store = try SQLiteEventStore(path: p.db)
        for c in state.fleet.children {
            let child = try await store.state(of: c.id)
            // Its own workspace, its profile, its parent, its reservation; the file it wrote is there.
            #expect(child.settings.parent?.run == RunID("c") && child.settings.parent?.depth == 1)
            #expect(child.settings.profile?.name == "worker" && child.gate.budgetOverrides[.run]?.steps == 5)
            #expect(FileManager.default.fileExists(atPath: child.workspace + "/\(c.task)-1.txt"))
            #expect(!child.workspace.hasPrefix(p.ws))
        }
        // The wait's result reached the coordinator's model as one tool result naming each child.
        let events = try await store.readAll(RunID("c")).map(\.event)
        let waitResult =
            events.compactMap { e -> String? in
                if case let .toolFinished(call, result) = e, call.rawValue == "m2.1" { result.output.text } else { nil }
            }.first ?? ""
        #expect(
            waitResult.contains("3 of 3 sub-agents ended")
                && waitResult.contains("c.m1.1.2 (worker, task t2): finished"))
        // A child's context is its task alone: the coordinator's words never reach it.
        let childLog = try await store.readAll(RunID("c.m1.1.1")).map(\.event)
        #expect(
            !childLog.contains {
                if case .runCreated(_, _, _, _) = $0 { false } else { "\($0)".contains("split the work") }
            })
        // status shows the tree with spend per node and in total.
        let status = try await nightshift(["status", "c", "--db", p.db])
        #expect(status.stdout.contains("c.m1.1.3") && status.stdout.contains("1/5"), "\(status.stdout)")
        #expect(status.stdout.contains("fleet     6 steps"), "\(status.stdout)")
    }

    /// A sub-agent reads its own profile's bank, never another profile's, and its parent (of no
    /// profile) reads neither: the scopes are fixed in each run's settings and every search stays in them.
    @Test func aSubAgentReadsItsOwnProfilesBankNotAnothers() async throws {
        let p = try Project(children: 1, steps: 5)
        func add(_ scope: String, _ text: String) async throws -> MemoryID {
            let r = try await nightshift(["memory", "add", "--db", p.db, "--scope", scope, "--json", text])
            #expect(r.status == 0, "\(r.stderr)")
            return try JSONDecoder().decode(Memory.self, from: Data(r.stdout.utf8)).id
        }
        let own = try await add("agent:worker", "t1 files are written in one turn")
        let other = try await add("agent:reviewer", "t1 reviews need two approvals")
        let r = try await nightshift(p.run("iso"), cwd: p.root)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let store = try SQLiteEventStore(path: p.db)
        func shown(_ run: String) async throws -> Set<MemoryID> {
            Set(
                try await store.readAll(RunID(run)).flatMap { e -> [MemoryID] in
                    if case let .memoriesShown(_, m) = e.event { m.map(\.id) } else { [] }
                })
        }
        let child = "iso.m1.1.1"
        #expect(try await shown(child) == [own])
        #expect(try await shown("iso").isDisjoint(with: [own, other]))
        let scopes = try await store.state(of: RunID(child)).settings.memory?.scopes ?? []
        #expect(scopes.contains(MemoryScope(.agent, "worker")) && !scopes.contains(MemoryScope(.agent, "reviewer")))
        #expect(try await store.state(of: RunID("iso")).settings.memory?.scopes.contains { $0.kind == .agent } == false)
    }

    /// `--concurrency 0` leaves the sub-agents to other processes: a worker drives the ones no
    /// process drives, then wakes the coordinator once its wait would end.
    @Test func aWorkerDrivesAFleetAnotherProcessStarted() async throws {
        let p = try Project(children: 2, steps: 5)
        let r = try await nightshift(p.run("w", extra: ["--concurrency", "0"]), cwd: p.root)
        #expect(r.status == 3, "\(r.stdout)\(r.stderr)")
        let store = try SQLiteEventStore(path: p.db)
        #expect(try await store.summary(of: RunID("w.m1.1.1"))?.status == .running)
        let worker = ["worker", "--once", "--db", p.db, "--unsandboxed", "--concurrency", "0"]
        let first = try await nightshift(worker)
        #expect(first.stdout.contains("resuming w.m1.1.1 (a sub-agent no process drives)"), "\(first.stdout)")
        #expect(try await store.state(of: RunID("w")).status == .paused)
        let second = try await nightshift(worker)
        #expect(second.stdout.contains("resuming w (its wait for sub-agents would end)"), "\(second.stdout)")
        let state = try await checkLogs(p.db, root: RunID("w"), children: 2)
        #expect(state.status == .finished)
    }

    /// In a git repository each sub-agent works in a worktree of its own, on its own branch,
    /// started from the parent's branch; its finished task is committed there.
    @Test func subAgentsInARepositoryGetWorktreesFromTheParentsBranch() async throws {
        let p = try Project(children: 2, steps: 5)
        try makeRepository(p.ws)
        let base = try git(["rev-parse", "HEAD"], in: p.ws).trimmingCharacters(in: .whitespacesAndNewlines)
        let r = try await nightshift(p.run("g"), cwd: p.root)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let state = try await checkLogs(p.db, root: RunID("g"), children: 2)
        let store = try SQLiteEventStore(path: p.db)
        for c in state.fleet.children {
            let child = try await store.state(of: c.id)
            #expect(child.branch == "nightshift/\(c.id)" && c.outcome?.branch == child.branch)
            #expect(child.workspace == p.root + "/worktrees/\(c.id)")
            // Its branch holds its own work, committed on top of where the parent's branch was.
            let files = try git(["show", "--name-only", "--format=", "nightshift/\(c.id)"], in: p.ws)
            #expect(files.contains("\(c.task)-1.txt"), "\(files)")
            let parent = try git(["rev-parse", "nightshift/\(c.id)~1"], in: p.ws)
            #expect(parent.trimmingCharacters(in: .whitespacesAndNewlines) == base)
        }
    }

    /// The second child's check can never pass; its reservation (1 step) ends it after its first
    /// claim. The coordinator gets the failure as a result and finishes.
    @Test func aFailedChildIsAResultNotTheParentsFailure() async throws {
        let p = try Project(children: 2, steps: 1, failing: [2])
        let r = try await nightshift(p.run("f"), cwd: p.root)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let state = try await checkLogs(p.db, root: RunID("f"), children: 2)
        #expect(state.status == .finished)
        #expect(state.fleet.children.map { $0.outcome?.status } == [.finished, .failed])
        #expect(state.fleet.children[1].outcome?.summary.contains("the reservation from f is spent") == true)
    }

    /// A wait with a deadline ends at it while a sub-agent still works: the fleet's driver wakes
    /// the parked coordinator at the deadline (a child task of the drive), not when the child ends.
    @Test func aWaitEndsAtItsDeadlineWhileASubAgentStillWorks() async throws {
        let p = try Project(children: 1, steps: 10)
        try """
        tasks:
          t1:
            - tools:
                - shell: {command: "sleep 4"}
            - tools:
                - write_file: {path: t1-1.txt, content: "1"}
              done: wrote t1
        """.write(toFile: p.root + "/child.yaml", atomically: true, encoding: .utf8)
        let coord = try String(contentsOfFile: p.root + "/coord.yaml", encoding: .utf8)
        try coord.replacingOccurrences(of: "wait_agents: {}", with: "wait_agents: {timeout_seconds: 1}")
            .write(toFile: p.root + "/coord.yaml", atomically: true, encoding: .utf8)
        let r = try await nightshift(p.run("d"), cwd: p.root)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let store = try SQLiteEventStore(path: p.db)
        let events = try await store.readAll(RunID("d")).map(\.event)
        let waitResult =
            events.compactMap { e -> String? in
                if case let .toolFinished(call, result) = e, call.rawValue == "m2.1" { result.output.text } else { nil }
            }.first ?? ""
        #expect(
            waitResult.contains("wait_agents timed out: 0 of 1 ended") && waitResult.contains("still running"),
            "\(waitResult)")
        // The coordinator then finished while the child still slept, and its end cancelled the child
        // (had the wait ended only with the child, the child would have finished first).
        let child = try await store.readAll(RunID("d.m1.1.1")).map(\.event)
        #expect(child.contains { if case let .runFailed(reason) = $0 { reason.contains("d, ended") } else { false } })
    }

    /// 300 sub-agents race to spend: each is held to its reservation (2 steps; each wants 3),
    /// the reservations fit the root's budget, and the fleet's total never exceeds it.
    @Test func threeHundredChildrenRacingNeverExceedTheRootBudget() async throws {
        let p = try Project(
            children: 300, steps: 2, turns: 3, policy: "default: allow\nbudgets:\n  run: {steps: 610}\n")
        let r = try await nightshift(
            p.run("b", extra: ["--policy", p.root + "/policy.yaml", "--concurrency", "8"]), timeout: .seconds(600),
            cwd: p.root)
        #expect(r.status == 0 || r.status == 3, "\(r.stdout)\(r.stderr)")
        let state = try await checkLogs(p.db, root: RunID("b"), children: 300)
        #expect(state.fleet.children.allSatisfy { $0.outcome?.status == .failed && $0.outcome?.spent.steps == 2 })
        let tree = try await nightshift(["status", "b", "--db", p.db])
        let total = state.ownSpent.steps + state.fleet.settled.steps
        #expect(total <= 610 && state.fleet.settled.steps == 600, "total \(total)")
        #expect(tree.stdout.contains("fleet     \(total) steps"), "\(tree.stdout.suffix(400))")
    }

    @Test func spawnBeyondTheDepthLimitIsRefusedToTheModel() async throws {
        let p = try Project(
            children: 1, steps: 5, policy: "default: allow\nfleet: {max_depth: 0}\n")
        let r = try await nightshift(p.run("d", extra: ["--policy", p.root + "/policy.yaml"]), cwd: p.root)
        let store = try SQLiteEventStore(path: p.db)
        let events = try await store.readAll(RunID("d")).map(\.event)
        let refused = events.contains {
            if case let .toolFinished(_, result) = $0 {
                result.output.text.contains("fleet.max_depth is 0")
            } else {
                false
            }
        }
        #expect(refused, "\(r.stdout)\(r.stderr)")
        #expect(try await store.runs().count == 1)
    }

    /// Cancelling a coordinator cancels its waiting sub-agents; one whose parent ended before it
    /// was cancelled (a crash between the two) is cancelled when it is next woken.
    @Test func cancellingARunCancelsItsSubtree() async throws {
        // The children stop for a person's approval of their writes: the coordinator waits on them.
        let p = try Project(
            children: 2, steps: 5,
            policy: "default: allow\nrules:\n  - ask: write_file\n    path: \"t*\"\n")
        try "description: Writes one file\nmodel: scripted:../child.yaml\npolicy: ../policy.yaml\n".write(
            toFile: p.root + "/agents/worker.yaml", atomically: true, encoding: .utf8)
        let r = try await nightshift(p.run("x"), cwd: p.root)
        #expect(r.status == 3, "\(r.stdout)\(r.stderr)")
        let store = try SQLiteEventStore(path: p.db)
        #expect(try await store.state(of: RunID("x")).pauseKind == .agents)
        #expect(try await store.state(of: RunID("x.m1.1.1")).pauseKind == .approval)
        // The inbox lists the sub-agents' approvals, not the coordinator waiting on them.
        let inbox = try await nightshift(["inbox", "--db", p.db])
        #expect(
            inbox.stdout.contains("x.m1.1.1  task") && !("\n" + inbox.stdout).contains("\nx  task"), "\(inbox.stdout)")
        // A person cannot raise a sub-agent's reservation.
        let raise = try await nightshift(["budget", "x.m1.1.1", "--steps", "100", "--db", p.db])
        #expect(
            raise.status != 0 && raise.stderr.contains("its run budget is its reservation from x"), "\(raise.stderr)")
        // A crash mid-cancel: the parent ended, its second child was not reached.
        let parent = try await store.state(of: RunID("x"))
        try await store.append(
            [.runFailed(reason: "cancelled by test: crash mid-cancel")], to: RunID("x"), expectedSeq: parent.lastSeq)
        let woken = try await nightshift(["resume", "x.m1.1.2", "--db", p.db, "-q", "--unsandboxed"])
        #expect(
            woken.stdout.contains("cancelled") || woken.stderr.contains("cancelled"), "\(woken.stdout)\(woken.stderr)")
        #expect(try await store.state(of: RunID("x.m1.1.2")).childOutcome?.status == .cancelled)
        // Cancelling the ended parent again finishes the rest of its subtree.
        let again = try await nightshift(["cancel", "x", "--reason", "finish it", "--db", p.db])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try await store.state(of: RunID("x.m1.1.1")).childOutcome?.status == .cancelled)
        // Then there is nothing left to cancel.
        let third = try await nightshift(["cancel", "x", "--reason", "again", "--db", p.db])
        #expect(third.status == 1 && third.stderr.contains("nothing to cancel"), "\(third.stderr)")
        for run in try await store.runs() { #expect(try await store.verify(run.id).ok) }
    }

    /// The crash contract for fleets: the driving process is SIGKILLed at random moments (during
    /// spawns, children's tools, waits, settlements) and resumed each time. No child is made twice,
    /// no end is lost or recorded twice, no non-idempotent tool runs twice, the budget holds, every log verifies.
    @Test func aFleetSurvivesSIGKILLAnywhere() async throws {
        let children = 12
        // Each child may redo its write twice after kills (3 turns and 2 redos: 5 of its 6 steps).
        let p = try Project(
            children: children, steps: 6, turns: 3, policy: "default: allow\nbudgets:\n  run: {steps: 90}\n")
        let binary = try nightshiftBinary()
        let start = p.run("k", extra: ["--policy", p.root + "/policy.yaml", "--concurrency", "3"])
        let resume = ["resume", "k", "--db", p.db, "-q", "--unsandboxed", "--concurrency", "3"]
        let out = p.root + "/out.log"
        var rng = SystemRandomNumberGenerator()
        var kills = 0
        var landed: Set<Int> = []  // how many runs existed at each kill: kills during spawning and after
        var finished = false
        for round in 0..<40 where !finished {
            // Until the run exists (a kill can land before it is made), it is started, not resumed.
            let exists = (try? await SQLiteEventStore(path: p.db).summary(of: RunID("k"))) != nil
            let child = try ChildProcess.spawn(
                [binary] + (exists ? resume : start), environment: testEnvironment,
                outputPath: out)
            // Longer as the rounds go on: on a loaded machine the process may take longer than 120 ms to start.
            try await Task.sleep(for: .milliseconds(Int.random(in: 10...(120 + 20 * round), using: &rng)))
            if case let .exited(status) = child.poll() {
                finished = status == 0
                continue
            }
            child.kill()
            kills += 1
            let store = try? SQLiteEventStore(path: p.db)
            if let runs = try? await store?.runs() { landed.insert(runs.count) }
        }
        for _ in 0..<5 where !finished {
            let exists = (try? await SQLiteEventStore(path: p.db).summary(of: RunID("k"))) != nil
            let r = try await nightshift(exists ? resume : start, timeout: .seconds(300))
            finished = r.status == 0
        }
        #expect(finished, "\((try? String(contentsOfFile: out, encoding: .utf8))?.suffix(1500) ?? "")")
        #expect(kills >= 5, "only \(kills) kills landed")
        #expect(landed.contains(children + 1), "no kill landed after the sub-agents were made: \(landed)")
        let state = try await checkLogs(p.db, root: RunID("k"), children: children)
        #expect(state.status == .finished)
        let store = try SQLiteEventStore(path: p.db)
        for c in state.fleet.children {
            let events = try await store.readAll(c.id).map(\.event)
            // A non-idempotent call (write_file) started at most once: after a kill it is in doubt, never re-run.
            var starts: [CallID: Int] = [:]
            for case let .toolStarted(call) in events { starts[call, default: 0] += 1 }
            #expect(starts.values.allSatisfy { $0 == 1 }, "\(c.id): \(starts)")
            #expect(events.filter { if case .runCreated = $0 { true } else { false } }.count == 1)
        }
        #expect(state.ownSpent.steps + state.fleet.settled.steps <= 90)
    }
}

extension FleetRunTests {
    struct Profiles: ChildRunMaker {
        var profiles: [SpawnableProfile] {
            [
                SpawnableProfile(name: "worker", description: "Writes one file", version: "v", budget: nil),
                SpawnableProfile(
                    name: "reviewer", description: "Reviews diffs for security problems", version: "v", budget: nil),
            ]
        }
        func make(_ child: ChildToMake) async throws -> String { "/nowhere" }
    }

    /// The coordinator is told which profiles it may spawn and what each is for, in the
    /// `spawn_agents` tool it is offered; a run that cannot make sub-agents is offered neither tool.
    @Test func theCoordinatorIsOfferedTheProfilesWithWhatEachIsFor() async throws {
        for maker in [Profiles() as (any ChildRunMaker)?, nil] {
            let log = RequestLog()
            let scenario = try ScenarioFile.parse("tasks:\n  t:\n    - done: nothing to do\n", file: "s.yaml")
            let harness = Harness(
                store: InMemoryEventStore(), model: RecordingModel(inner: ScriptedModel(scenario: scenario), log: log),
                tools: InMemoryToolRunner([]), checks: InMemoryCheckRunner(), children: maker)
            let plan = Plan(title: "t", tasks: [PlanTask(id: TaskID("t"), description: "d", checks: [])])
            try await harness.create(RunID("o"), title: "t", plan: plan, workspace: "/w", settings: RunSettings())
            _ = try await harness.drive(RunID("o"))
            let tools = try #require(await log.requests.first).tools
            let spawn = tools.first { $0.name == "spawn_agents" }
            if maker == nil {
                #expect(spawn == nil && !tools.contains { $0.name == "wait_agents" })
            } else {
                #expect(
                    spawn?.description.hasSuffix(
                        "Profiles:\n- reviewer: Reviews diffs for security problems\n- worker: Writes one file")
                        == true,
                    "\(spawn?.description ?? "not offered")")
                #expect(tools.contains { $0.name == "wait_agents" })
            }
        }
    }
}

extension FleetRunTests {
    /// A sub-agent that is itself a coordinator: the root spawns a lead, the lead spawns two
    /// workers. Each report goes to the run that spawned it, and `status` shows the tree.
    @Test func aSubAgentCanCoordinateItsOwnSubAgents() async throws {
        let p = try Project(children: 2, steps: 5)
        // The lead: spawns the two workers of the project's scenario, waits, and is done.
        let coord = try String(contentsOfFile: p.root + "/coord.yaml", encoding: .utf8)
        try coord.replacingOccurrences(of: "coordinate:", with: "lead:").write(
            toFile: p.root + "/lead.yaml", atomically: true, encoding: .utf8)
        try "description: Splits its task among workers\nmodel: scripted:../lead.yaml\n".write(
            toFile: p.root + "/agents/lead.yaml", atomically: true, encoding: .utf8)
        try """
        tasks:
          coordinate:
            - tools:
                - spawn_agents: {agents: [{profile: lead, task: {id: lead, description: "lead the work", checks: ["test -f summary.txt"]}, budget: {steps: 30}}]}
            - tools:
                - wait_agents: {}
            - tools:
                - write_file: {path: summary.txt, content: "done"}
              done: the lead reported
        judge:
          coordinate:
            - tools:
                - submit_verdict: {verdict: pass, reasons: []}
        """.write(toFile: p.root + "/coord.yaml", atomically: true, encoding: .utf8)
        let r = try await nightshift(p.run("n"), cwd: p.root)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let store = try SQLiteEventStore(path: p.db)
        let root = try await store.state(of: RunID("n"))
        let lead = try await store.state(of: RunID("n.m1.1.1"))
        #expect(root.status == .finished && lead.status == .finished && lead.depth == 1)
        // The workers' ends are in the lead's log, the lead's in the root's.
        #expect(root.fleet.children.map(\.id.rawValue) == ["n.m1.1.1"])
        #expect(lead.fleet.children.map(\.id.rawValue) == ["n.m1.1.1.m1.1.1", "n.m1.1.1.m1.1.2"])
        #expect(lead.fleet.children.allSatisfy { $0.outcome?.status == .finished })
        let worker = try await store.state(of: RunID("n.m1.1.1.m1.1.1"))
        #expect(worker.settings.parent?.run == RunID("n.m1.1.1") && worker.depth == 2)
        for run in try await store.runs() { #expect(try await store.verify(run.id).ok) }
        let status = try await nightshift(["status", "n", "--db", p.db])
        #expect(status.stdout.contains("  n.m1.1.1.m1.1.2"), "\(status.stdout)")  // indented under its lead
    }
}

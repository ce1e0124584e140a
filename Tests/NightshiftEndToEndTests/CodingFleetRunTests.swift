import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftSQLite
import NightshiftTesting
import Testing

/// Coding fleets through the executable, in a real git repository, with scripted models (test
/// doubles): `run --workers N` hands the plan's tasks to worker sub-agents, merges their branches
/// one at a time with the ratchet on the merged tree, and sends a conflict or a broken check back
/// as rework.
@Suite(.serialized) struct CodingFleetRunTests {
    /// A repository and a plan of four tasks:
    /// - `a` writes a.txt and shared.txt ("A"); its check also wants A in shared.txt and mode.txt not "broken";
    /// - `b` (slow check) writes b.txt and mode.txt "broken": merged after `a` it breaks a's check;
    ///   its next worker is held to a's check and fixes mode.txt on its second claim;
    /// - `c` (slow check) writes shared.txt "C": it conflicts with `a`; its next worker is held to
    ///   a's check and keeps both on its second claim;
    /// - `d` comes after `b` and `c`, and checks that their merged work is in its worktree.
    struct Project {
        let root: String
        var db: String { root + "/ns.db" }
        var ws: String { root + "/ws" }

        init() throws {
            root = tempDir("ns-coding-fleet")
            try FileManager.default.createDirectory(atPath: root + "/ws", withIntermediateDirectories: true)
            try makeRepository(root + "/ws")
            try """
            title: four tasks, at most three workers at once
            tasks:
              - id: a
                description: write a.txt and shared.txt
                checks:
                  - test -f a.txt && grep -q A shared.txt && ! grep -qs broken mode.txt
              - id: b
                description: write b.txt
                checks:
                  - sleep 1; test -f b.txt
              - id: c
                description: put C in shared.txt
                checks:
                  - sleep 1; grep -q C shared.txt
              - id: d
                description: write d.txt once b and c are in
                after: [b, c]
                checks:
                  - test -f d.txt && test -f b.txt && grep -q C shared.txt
            """.write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
            try """
            tasks:
              a:
                - tools:
                    - write_file: {path: a.txt, content: "a"}
                    - write_file: {path: shared.txt, content: "A\\n"}
                  done: wrote a
              b:
                - tools:
                    - write_file: {path: b.txt, content: "b"}
                    - write_file: {path: mode.txt, content: "broken"}
                  done: wrote b
                - tools:
                    - write_file: {path: mode.txt, content: "fixed"}
                  done: fixed mode.txt
              c:
                - tools:
                    - write_file: {path: shared.txt, content: "C\\n"}
                  done: wrote C
                - tools:
                    - write_file: {path: shared.txt, content: "A\\nC\\n"}
                  done: kept both
              d:
                - tools:
                    - write_file: {path: d.txt, content: "d"}
                  done: wrote d
            """.write(toFile: root + "/model.yaml", atomically: true, encoding: .utf8)
        }

        func run(_ id: String, extra: [String] = []) -> [String] {
            [
                "run", "--plan", root + "/plan.yaml", "--workspace", ws, "--model", "scripted:\(root)/model.yaml",
                "--db", db, "--id", id, "-q", "--unsandboxed", "--workers", "3",
            ] + extra
        }
    }

    /// Every log verifies; each task merged exactly once, in the log and on the branch.
    func checkMerged(_ p: Project, _ id: String) async throws -> [Event] {
        let store = try SQLiteEventStore(path: p.db)
        for r in try await store.runs() {
            let report = try await store.verify(r.id)
            #expect(report.ok, "\(r.id): \(report.problem ?? "")")
        }
        let state = try await store.state(of: RunID(id))
        #expect(state.status == .finished, "\(state.statusReason ?? "")")
        #expect(state.tasks.map(\.status) == [.done, .done, .done, .done])
        let events = try await store.readAll(RunID(id)).map(\.event)
        var merged: [TaskID: Int] = [:]
        for case let .workMerged(task, _, _) in events { merged[task, default: 0] += 1 }
        #expect(merged == [TaskID("a"): 1, TaskID("b"): 1, TaskID("c"): 1, TaskID("d"): 1], "\(merged)")
        // One merge commit per task on the run's branch; the user's own branch is untouched.
        let branch = "nightshift/\(id)"
        let merges = try git(["rev-list", "--merges", "--count", branch], in: p.ws)
        #expect(merges.trimmingCharacters(in: .whitespacesAndNewlines) == "4", "\(merges)")
        #expect(try git(["show", "\(branch):mode.txt"], in: p.ws) == "fixed")
        #expect(try git(["show", "\(branch):shared.txt"], in: p.ws) == "A\nC\n")
        #expect(try git(["show", "\(branch):d.txt"], in: p.ws) == "d")
        #expect(try git(["ls-tree", "--name-only", "main"], in: p.ws) == "README.md\n")
        // Nightshift's views are never part of the work.
        #expect(!(try git(["ls-tree", "-r", "--name-only", branch], in: p.ws)).contains("PROGRESS.md"))
        return events
    }

    @Test func workersAreMergedOneAtATimeAndBrokenOrConflictingWorkComesBackAsRework() async throws {
        let p = try Project()
        let r = try await nightshift(p.run("cf"), timeout: .seconds(300), cwd: p.root)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let events = try await checkMerged(p, "cf")
        var rejected: [TaskID: String] = [:]
        for case let .workRejected(task, _, feedback) in events { rejected[task] = feedback.text }
        // b's work merged cleanly but broke a's check on the merged tree; c's conflicted with a's.
        #expect(rejected[TaskID("b")]?.contains("merged tree failed") == true, "\(rejected)")
        #expect(rejected[TaskID("b")]?.contains("grep -qs broken mode.txt") == true, "\(rejected)")
        #expect(rejected[TaskID("c")]?.contains("shared.txt") == true, "\(rejected)")
        #expect(rejected[TaskID("a")] == nil && rejected[TaskID("d")] == nil, "\(rejected)")
        // The rework went to a new worker, with the rejection in its task.
        var dispatched: [(TaskID, Int, PlanTask)] = []
        for case let .taskDispatched(task, attempt, _, spec, _) in events { dispatched.append((task, attempt, spec)) }
        let second = try #require(dispatched.first { $0.0 == TaskID("b") && $0.1 == 2 })
        #expect(second.2.description.contains("merged tree failed"))
        // d was handed out only once b and c were merged.
        let dIndex = try #require(
            events.firstIndex {
                if case let .taskDispatched(task, _, _, _, _) = $0 { task == TaskID("d") } else { false }
            })
        for t in ["b", "c"] {
            let m = try #require(
                events.firstIndex {
                    if case let .workMerged(task, _, _) = $0 { task == TaskID(t) } else { false }
                })
            #expect(m < dIndex)
        }
        // Never more than three workers at once.
        var open = 0
        var most = 0
        for e in events {
            if case .taskDispatched = e { open += 1 }
            if case .childEnded = e { open -= 1 }
            most = max(most, open)
        }
        #expect(most == 3)
        // status shows the workers.
        let status = try await nightshift(["status", "cf", "--db", p.db])
        #expect(status.stdout.contains("cf.w1"), "\(status.stdout)")
    }

    @Test func aCodingFleetNeedsARepositoryAndSaysSo() async throws {
        let p = try Project()
        let plain = p.root + "/plain"
        try FileManager.default.createDirectory(atPath: plain, withIntermediateDirectories: true)
        var args = p.run("nr")
        args[args.firstIndex(of: p.ws)!] = plain
        let r = try await nightshift(args, cwd: p.root)
        #expect(r.status != 0)
        #expect(r.stderr.contains("--workers needs the workspace to be in a git repository"), "\(r.stderr)")
        let flag = try await nightshift(p.run("nw", extra: ["--no-worktree"]), cwd: p.root)
        #expect(flag.status != 0 && flag.stderr.contains("drop --no-worktree"), "\(flag.stderr)")
        let zero = try await nightshift(p.run("z", extra: ["--workers", "0"]), cwd: p.root)
        #expect(zero.status != 0 && zero.stderr.contains("--workers must be 1"), "\(zero.stderr)")
        // Refused before any run was made.
        if FileManager.default.fileExists(atPath: p.db) {
            let runs = try await SQLiteEventStore(path: p.db).runs()
            #expect(runs.isEmpty, "\(runs.map(\.id))")
        }
    }

    /// The crash contract for coding fleets: the driving process is SIGKILLed at random moments
    /// (dispatching, making workers, workers' tools and checks, merges, the branch's advance) and
    /// resumed each time. Every task is merged exactly once (one `work_merged`, one merge commit),
    /// no worker is made twice, no non-idempotent tool runs twice, every log verifies.
    @Test func aCodingFleetSurvivesSIGKILLAnywhere() async throws {
        let root = tempDir("ns-coding-kill")
        let ws = root + "/ws"
        try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
        try makeRepository(ws)
        let tasks = ["a", "b", "c", "e", "f", "g"]
        var plan = "title: independent tasks, then one after them all\ntasks:\n"
        var model = "tasks:\n"
        for t in tasks {
            plan += "  - id: \(t)\n    description: write \(t).txt\n    checks: [\"sleep 0.1; test -f \(t).txt\"]\n"
            // Three turns alike: a kill that leaves the write in doubt fails the check, and the next attempt writes again.
            let turn =
                "    - tools:\n        - write_file: {path: \(t).txt, content: \"\(t)\"}\n      done: wrote \(t)\n"
            model += "  \(t):\n" + String(repeating: turn, count: 3)
        }
        plan += "  - id: z\n    description: write z.txt\n    after: [\(tasks.joined(separator: ", "))]\n"
        plan += "    checks: [\"test -f z.txt && test -f a.txt && test -f e.txt\"]\n"
        let zTurn = "    - tools:\n        - write_file: {path: z.txt, content: \"z\"}\n      done: wrote z\n"
        model += "  z:\n" + String(repeating: zTurn, count: 3)
        try plan.write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
        try model.write(toFile: root + "/model.yaml", atomically: true, encoding: .utf8)
        let db = root + "/ns.db"
        let binary = try nightshiftBinary()
        let start = [
            "run", "--plan", root + "/plan.yaml", "--workspace", ws, "--model", "scripted:\(root)/model.yaml",
            "--db", db, "--id", "k", "-q", "--unsandboxed", "--workers", "2",
        ]
        let resume = ["resume", "k", "--db", db, "-q", "--unsandboxed"]
        let out = root + "/out.log"
        var rng = SystemRandomNumberGenerator()
        var kills = 0
        var killedMerging = 0
        var finished = false
        for round in 0..<40 where !finished {
            let exists = (try? await SQLiteEventStore(path: db).summary(of: RunID("k"))) != nil
            let child = try ChildProcess.spawn(
                [binary] + (exists ? resume : start), environment: testEnvironment,
                outputPath: out)
            if Bool.random(using: &rng) {
                // Longer as the rounds go on, so the run also gets past each phase between kills.
                try await Task.sleep(for: .milliseconds(Int.random(in: 20...(250 + 50 * round), using: &rng)))
            } else {
                // Aimed: wait (up to 3 s) until a merge is in progress, then kill within its first 150 ms.
                for _ in 0..<150 {
                    if let s = try? await SQLiteEventStore(path: db).state(of: RunID("k")), s.fleet.merging != nil {
                        break
                    }
                    if case .exited = child.poll() { break }
                    try await Task.sleep(for: .milliseconds(20))
                }
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...150, using: &rng)))
            }
            if case let .exited(status) = child.poll() {
                finished = status == 0
                continue
            }
            child.kill()
            kills += 1
            if let state = try? await SQLiteEventStore(path: db).state(of: RunID("k")), state.fleet.merging != nil {
                killedMerging += 1
            }
        }
        for _ in 0..<5 where !finished {
            let exists = (try? await SQLiteEventStore(path: db).summary(of: RunID("k"))) != nil
            let r = try await nightshift(exists ? resume : start, timeout: .seconds(300))
            finished = r.status == 0
        }
        #expect(finished, "\((try? String(contentsOfFile: out, encoding: .utf8))?.suffix(1500) ?? "")")
        #expect(kills >= 5, "only \(kills) kills landed")
        #expect(killedMerging >= 1, "no kill landed while a merge was in progress (\(kills) kills)")
        let store = try SQLiteEventStore(path: db)
        for r in try await store.runs() {
            let report = try await store.verify(r.id)
            #expect(report.ok, "\(r.id): \(report.problem ?? "")")
        }
        let state = try await store.state(of: RunID("k"))
        #expect(
            state.status == .finished && state.tasks.allSatisfy { $0.status == .done }, "\(state.tasks.map(\.status))")
        let events = try await store.readAll(RunID("k")).map(\.event)
        var merged: [TaskID: Int] = [:]
        for case let .workMerged(task, _, _) in events { merged[task, default: 0] += 1 }
        #expect(merged.count == tasks.count + 1 && merged.values.allSatisfy { $0 == 1 }, "\(merged)")
        let merges = try git(["rev-list", "--merges", "--count", "nightshift/k"], in: ws)
        #expect(merges.trimmingCharacters(in: .whitespacesAndNewlines) == "\(tasks.count + 1)", "\(merges)")
        // One log per worker handed out, each made once; a write started at most once.
        var dispatched = 0
        for e in events { if case .taskDispatched = e { dispatched += 1 } }
        #expect(state.fleet.children.count == dispatched)
        for c in state.fleet.children {
            let log = try await store.readAll(c.id).map(\.event)
            #expect(log.filter { if case .runCreated = $0 { true } else { false } }.count == 1)
            var starts: [CallID: Int] = [:]
            for case let .toolStarted(call) in log { starts[call, default: 0] += 1 }
            #expect(starts.values.allSatisfy { $0 == 1 }, "\(c.id): \(starts)")
        }
        for t in tasks + ["z"] { #expect(try git(["show", "nightshift/k:\(t).txt"], in: ws) == t) }
        print(
            "coding fleet kill test: \(kills) kills, \(killedMerging) with a merge in progress, "
                + "\(state.fleet.children.count) workers")
    }

    /// `--goal … --workers N`: the planner's plan (its `after` lists included) is worked by the fleet.
    @Test func thePlannersPlanIsWorkedByTheFleet() async throws {
        let root = tempDir("ns-coding-goal")
        let ws = root + "/ws"
        try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
        try makeRepository(ws)
        try """
        planner:
          - plan:
              title: two files, the second after the first
              tasks:
                - {id: second, description: write two.txt, after: [first], checks: [test -f one.txt && test -f two.txt]}
                - {id: first, description: write one.txt, checks: [test -f one.txt]}
        tasks:
          first:
            - tools: [{write_file: {path: one.txt, content: "1"}}]
              done: wrote one
          second:
            - tools: [{write_file: {path: two.txt, content: "2"}}]
              done: wrote two
        """.write(toFile: root + "/model.yaml", atomically: true, encoding: .utf8)
        let db = root + "/ns.db"
        let r = try await nightshift([
            "run", "--goal", "write one.txt, then two.txt", "--workspace", ws, "--model", "scripted:\(root)/model.yaml",
            "--db", db, "--id", "g", "-q", "--unsandboxed", "--workers", "2",
        ])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let store = try SQLiteEventStore(path: db)
        let state = try await store.state(of: RunID("g"))
        #expect(state.status == .finished && state.tasks.allSatisfy { $0.status == .done })
        #expect(state.plan?.tasks.first?.after == [TaskID("first")])
        // first went to a worker on its own; second only once first was merged, from the merged branch.
        let order = try await store.readAll(RunID("g")).compactMap { e -> String? in
            switch e.event {
            case let .taskDispatched(task, _, _, _, _): "dispatch \(task)"
            case let .workMerged(task, _, _): "merged \(task)"
            default: nil
            }
        }
        #expect(order == ["dispatch first", "merged first", "dispatch second", "merged second"], "\(order)")
        #expect(try git(["show", "nightshift/g:two.txt"], in: ws) == "2")
    }
}

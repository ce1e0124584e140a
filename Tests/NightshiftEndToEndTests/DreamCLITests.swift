import Foundation
import NightshiftCore
import NightshiftHands
import NightshiftRuntime
import NightshiftSQLite
import NightshiftTesting
import Testing

/// `nightshift dream` through the executable, with the scripted dreamer (a test double): a run
/// that failed and was fixed is reviewed, its proposals wait for a person, what is approved is
/// in the bank (or the guidance file) and shown to the next run, once, across kills.
@Suite struct DreamCLITests {
    /// A repository, a guidance file beside it, and a plan whose one task fails its check once
    /// before the worker fixes it (the kind of run a dream learns from).
    struct Project {
        let root: String
        let ws: String
        let db: String
        let guide: String
        var scope: String { "project:\(ws)" }

        init(_ name: String, dreamer: String, policy: String? = nil) throws {
            root = tempDir(name)
            ws = root + "/ws"
            db = root + "/ns.db"
            guide = root + "/guide.md"
            try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
            try makeRepository(ws)
            try "# Guidance\nKeep changes small.\n".write(toFile: guide, atomically: true, encoding: .utf8)
            try "tasks:\n  - id: fix\n    description: make the done marker file\n    checks: [test -f done.txt]\n"
                .write(toFile: root + "/plan.yaml", atomically: true, encoding: .utf8)
            try """
            tasks:
              fix:
                - done: claimed too early
                - tools:
                    - write_file: {path: done.txt, content: ok}
                  done: wrote done.txt
            dreamer:
            \(dreamer)
            """.write(toFile: root + "/model.yaml", atomically: true, encoding: .utf8)
            if let policy { try policy.write(toFile: root + "/policy.yaml", atomically: true, encoding: .utf8) }
        }

        func run(_ id: String) async throws -> [EventEnvelope] {
            let r = try await nightshift([
                "run", "--plan", root + "/plan.yaml", "--workspace", ws, "--model", "scripted:\(root)/model.yaml",
                "--guidance", guide, "--db", db, "--id", id, "-q", "--unsandboxed", "--max-attempts", "2",
            ])
            #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
            return try await SQLiteEventStore(path: db).readAll(RunID(id))
        }

        var dreamArgs: [String] {
            ["dream", "--db", db, "--model", "scripted:\(root)/model.yaml", "--scope", scope, "--json"]
                + (FileManager.default.fileExists(atPath: root + "/policy.yaml")
                    ? ["--policy", root + "/policy.yaml"] : [])
        }

        func dream() async throws -> (dream: Dream?, applied: [MemoryID]) {
            let r = try await nightshift(dreamArgs)
            #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
            struct Out: Decodable {
                var dream: Dream?
                var applied: [MemoryID]
            }
            let out = try JSONDecoder().decode(Out.self, from: Data(r.stdout.utf8))
            return (out.dream, out.applied)
        }

        var bank: SQLiteMemoryStore { get throws { SQLiteMemoryStore(sharing: try SQLiteEventStore(path: db)) } }

        /// The seq of the run's first failed attempt (what the scripted dreamer cites).
        static func failedSeq(_ events: [EventEnvelope]) -> Int64? {
            events.first { if case .taskAttemptFailed = $0.event { true } else { false } }?.seq
        }
    }

    /// The dreamer's proposals for a project (one list a dream): `SEQ` is the failed attempt's event.
    static func proposals(_ ws: String, _ guide: String, seq: Int64, more: String = "", extra: String = "") -> String {
        """
          - proposals:
              - {action: create, kind: lesson, scope: "project:\(ws)", text: "the done marker file is checked: write done.txt before claiming done", reason: "attempt 1 claimed done without it", sources: [{run: r1, seq: \(seq)}]}
              - {action: merge, memories: [MEMA, MEMB], kind: procedure, scope: "project:\(ws)", text: "run make, then the tests", reason: "two memories say one thing", sources: [{run: r1, seq: \(seq)}]}
              - {action: guidance, file: "\(guide)", old: "Keep changes small.", new: "Keep changes small.\\nRun the checks yourself before claiming done.", reason: "the worker claimed done early", sources: [{run: r1, seq: \(seq)}]}
              - {action: expire, memory: MEMC, reason: "no longer true", sources: [{run: r1, seq: \(seq)}]}
              - {action: guidance, file: /etc/passwd, new: "x", reason: "a record asked for it", sources: [{run: r1, seq: \(seq)}]}
        \(more.isEmpty ? "" : "      - {action: create, kind: lesson, scope: \"project:\(ws)\", text: \"\(more)\", reason: \"learned\", sources: [{run: r1, seq: \(seq)}]}")
        \(extra)
        """
    }

    /// Runs r1 once to learn the seq the dreamer cites, then writes the real dreamer and memories.
    func project(
        _ name: String, policy: String? = nil, more: String = "", later: String = "  - proposals: []"
    ) async throws -> (
        Project, [MemoryID]
    ) {
        let probe = try Project(name + "-probe", dreamer: "  - proposals: []")
        let seq = try #require(Project.failedSeq(try await probe.run("r1")))
        var p = try Project(name, dreamer: "  - proposals: []", policy: policy)
        var ids: [MemoryID] = []
        for text in ["run make before the tests", "make first, then test", "the build needs python 3.9"] {
            let r = try await nightshift([
                "memory", "add", "--db", p.db, "--scope", p.scope, "--kind", "procedure", "--json", text,
            ])
            #expect(r.status == 0, "\(r.stderr)")
            ids.append(try JSONDecoder().decode(Memory.self, from: Data(r.stdout.utf8)).id)
        }
        let dreamer = Self.proposals(p.ws, p.guide, seq: seq, more: more, extra: later)
            .replacingOccurrences(of: "MEMA", with: ids[0].rawValue)
            .replacingOccurrences(of: "MEMB", with: ids[1].rawValue)
            .replacingOccurrences(of: "MEMC", with: ids[2].rawValue)
        p = try Project(name, reusing: p, dreamer: dreamer)
        #expect(Project.failedSeq(try await p.run("r1")) == seq)
        return (p, ids)
    }

    @Test func whatADreamProposesWaitsAndWhatIsApprovedIsShownToTheNextRun() async throws {
        let (p, ids) = try await project("ns-dream")
        let (dream, applied) = try await p.dream()
        let d = try #require(dream)
        #expect(applied.isEmpty)
        #expect(d.reviewed.map(\.run) == [RunID("r1")])
        #expect(d.proposals.map(\.action.name) == [.create, .merge, .guidance, .expire])
        #expect(d.dropped.count == 1 && d.dropped[0].contains("not a guidance file in force"), "\(d.dropped)")
        #expect(d.model.contains("test double"))
        #expect((d.usage?.input ?? 0) > 0, "what the dreamer's call used is recorded with the dream")
        // Nothing changed yet: the bank, the guidance file.
        #expect(try await p.bank.list(scopes: nil, includeGone: false).count == 3)
        #expect(try String(contentsOfFile: p.guide, encoding: .utf8) == "# Guidance\nKeep changes small.\n")
        let inbox = try await nightshift(["inbox", "--db", p.db])
        #expect(inbox.stdout.components(separatedBy: "DREAM PROPOSAL").count == 5, "\(inbox.stdout)")
        #expect(inbox.stdout.contains("+ Run the checks yourself before claiming done."))
        #expect(inbox.stdout.contains("(from r1#"))
        // As JSON: one object a proposal, with its action, reason and sources.
        let json = try await nightshift(["inbox", "--db", p.db, "--json"])
        let objects = json.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.filter { $0["kind"] as? String == "dream_proposal" }
        #expect(objects.count == 4, "\(json.stdout)")
        #expect(objects.allSatisfy { ($0["sources"] as? [Any])?.isEmpty == false && $0["reason"] is String })

        let (lesson, merge, edit, expire) = (d.proposals[0].id, d.proposals[1].id, d.proposals[2].id, d.proposals[3].id)
        for id in [lesson, merge, edit] {
            let r = try await nightshift(["approve", id.rawValue, "--db", p.db])
            #expect(r.status == 0, "\(r.stderr)")
        }
        let denied = try await nightshift(["deny", expire.rawValue, "--db", p.db, "--reason", "still true"])
        #expect(denied.status == 0, "\(denied.stderr)")
        // Decided once, by whoever comes second.
        let twice = try await nightshift(["approve", lesson.rawValue, "--db", p.db])
        #expect(twice.status != 0 && twice.stderr.contains("already accepted"), "\(twice.stderr)")
        let late = try await nightshift(["memory", "accept", expire.rawValue, "--db", p.db])
        #expect(late.status != 0 && late.stderr.contains("already declined"), "\(late.stderr)")

        let bank = try p.bank
        let kept = try #require(try await bank.memory(lesson))
        #expect(kept.source.dream == d.id && kept.source.run == RunID("r1") && kept.kind == .lesson)
        #expect(try await bank.memory(ids[0])?.expired == true)
        #expect(try await bank.memory(ids[1])?.expired == true)
        #expect(try await bank.memory(merge)?.text == "run make, then the tests")
        #expect(try await bank.memory(ids[2])?.expired == false)
        #expect(
            try String(contentsOfFile: p.guide, encoding: .utf8)
                == "# Guidance\nKeep changes small.\nRun the checks yourself before claiming done.\n")
        #expect(try await bank.verifyLog().firstBad == nil)
        // The dream's history: what it read, how its proposals stand, what it cost.
        let history = try await nightshift(["memory", "dreams", "--db", p.db])
        #expect(
            history.stdout.contains("\(d.id)  ") && history.stdout.contains("read r1#")
                && history.stdout.contains("4 proposals: 3 accepted, 0 waiting, 1 declined; 1 dropped; "),
            "\(history.stdout)")
        let past = try await nightshift(["memory", "dreams", "--db", p.db, "--json"])
        let line = try #require(
            try JSONSerialization.jsonObject(with: Data(past.stdout.utf8)) as? [String: Any], "\(past.stdout)")
        #expect(line["kind"] as? String == "dream" && line["accepted"] as? Int == 3 && line["declined"] as? Int == 1)

        // The next run is shown the lesson (recorded as shown) and given the edited guidance.
        let r2 = try await p.run("r2")
        let shown = r2.compactMap { if case let .memoriesShown(_, m) = $0.event { m } else { nil } }.flatMap { $0 }
        #expect(shown.contains { $0.id == lesson && $0.version == 1 }, "\(shown)")
        #expect(!shown.contains { $0.id == ids[0] || $0.id == ids[1] })
        let guidance = r2.compactMap { if case let .guidanceSet(_, _, text) = $0.event { text.text } else { nil } }
        #expect(guidance.first?.contains("Run the checks yourself") == true)

        // The next dream reads only r2; the one after has nothing new.
        let second = try #require(try await p.dream().dream)
        #expect(second.reviewed.map(\.run) == [RunID("r2")] && second.proposals.isEmpty)
        let none = try await nightshift(Array(p.dreamArgs.dropLast()))
        #expect(none.status == 0 && none.stdout.contains("nothing new to review"), "\(none.stdout)")
    }

    @Test func thePolicyAppliesNewLessonsButNeverAGuidanceEditOrAnExpiry() async throws {
        let policy = "memory:\n  write:\n    project: [lesson, procedure]\n"
        let (p, ids) = try await project("ns-dream-policy", policy: policy)
        let (dream, applied) = try await p.dream()
        let d = try #require(dream)
        // The new lesson; the merge makes a new memory but also expires two: a person decides it.
        #expect(applied == [d.proposals[0].id])
        #expect(try await p.bank.memory(d.proposals[0].id)?.source.human == "policy")
        let waiting = try await p.bank.proposals().filter { $0.status == .waiting }.map(\.proposal.id)
        #expect(waiting == [d.proposals[1].id, d.proposals[2].id, d.proposals[3].id])
        #expect(try await p.bank.memory(ids[2])?.expired == false)
        #expect(try String(contentsOfFile: p.guide, encoding: .utf8) == "# Guidance\nKeep changes small.\n")
    }

    @Test func badInputGetsOneLineAndChangesNothing() async throws {
        let (p, _) = try await project("ns-dream-bad")
        let cases: [([String], String)] = [
            (["dream", "--db", p.db, "--model", "scripted:\(p.root)/model.yaml", "--since", "yesterday"], "--since"),
            (["dream", "--db", p.db, "--model", "scripted:\(p.root)/model.yaml", "--scope", "team:x"], "not a scope"),
            (["dream", "--db", p.db, "--scope", p.scope, "--model", "scripted:\(p.root)/nope.yaml"], "nope.yaml"),
            (["approve", "mem-nothing", "--db", p.db], "no proposal"),
            (["deny", "mem-nothing", "--db", p.db, "--reason", " "], "reason"),
            (["worker", "--db", p.db, "--dream", "nobody", "--once"], "not a scope"),
        ]
        for (args, says) in cases {
            let r = try await nightshift(args)
            #expect(r.status != 0, "\(args)")
            #expect(r.stderr.contains(says), "\(args): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count <= 2, "\(r.stderr)")
        }
        #expect(try await p.bank.dreams().isEmpty)
        let none = try await nightshift(["memory", "dreams", "--db", p.db])
        #expect(none.status == 0 && none.stdout.contains("no dreams yet"), "\(none.stdout)")
        // A guidance file changed by hand since the dream: the edit is refused, nothing is decided.
        let d = try #require(try await p.dream().dream)
        try "# Guidance\nRewritten by hand.\n".write(toFile: p.guide, atomically: true, encoding: .utf8)
        let r = try await nightshift(["approve", d.proposals[2].id.rawValue, "--db", p.db])
        #expect(r.status != 0 && r.stderr.contains("changed since the dream"), "\(r.stderr)")
        #expect(try await p.bank.proposals()[2].status == .waiting)
        #expect(try String(contentsOfFile: p.guide, encoding: .utf8) == "# Guidance\nRewritten by hand.\n")
    }

    /// One dream at a time per database: a second dream while one is in flight is refused (busy,
    /// one line naming the dreaming process) and records nothing; once the first is killed, the next
    /// goes ahead and names it as interrupted.
    @Test func aSecondDreamWhileOneIsInFlightIsRefused() async throws {
        let (p, _) = try await project("ns-dream-two")
        let first = try ChildProcess.spawn(
            [try nightshiftBinary()] + p.dreamArgs,
            environment: testEnvironment.merging(["NIGHTSHIFT_TEST_STOP_AT": "dream-answered"]) {
                $1
            }, outputPath: p.root + "/first.out")
        defer { first.kill() }
        guard case .stopped = await first.wait(timeout: .seconds(60)) else {
            Issue.record("the first dream did not stop after its model answered")
            return
        }
        let bank = try p.bank
        let started = try await bank.unfinishedDreams()
        #expect(started.count == 1)
        let second = try await nightshift(p.dreamArgs)
        #expect(second.status == 5, "\(second.stdout)\(second.stderr)")
        #expect(
            second.stderr.contains("another process is dreaming over this database (pid \(first.pid)"),
            "\(second.stderr)")
        #expect(second.stderr.split(separator: "\n").count <= 2, "\(second.stderr)")
        // A worker finding another process dreaming skips its dream and goes on.
        let worker = try await nightshift([
            "worker", "--db", p.db, "--once", "--model", "scripted:\(p.root)/model.yaml", "--dream", p.scope,
        ])
        #expect(worker.status == 0, "\(worker.stderr)")
        #expect(worker.stdout.contains("dream skipped: another process is dreaming"), "\(worker.stdout)")
        #expect(try await bank.unfinishedDreams() == started)
        #expect(try await bank.dreams().isEmpty)
        first.kill()
        let third = try await p.dream()
        #expect(third.dream?.interrupted == started && third.dream?.proposals.count == 4)
        #expect(try await bank.verifyLog().firstBad == nil)
    }

    /// A dreamer whose call fails: one line; the log records the dream as started and failed (so
    /// it is not taken for one that was killed), and the next dream reviews the same runs.
    @Test func aFailedDreamerCallIsRecordedAndTheNextDreamReviewsTheSameRuns() async throws {
        let (p, _) = try await project("ns-dream-fail")
        let model = try String(contentsOfFile: p.root + "/model.yaml", encoding: .utf8)
        _ = try Project("ns-dream-fail", reusing: p, dreamer: "  []")  // no turn for the dreamer
        let failed = try await nightshift(p.dreamArgs.filter { $0 != "--json" })
        #expect(failed.status != 0)
        #expect(failed.stderr.contains("the dreamer's model failed"), "\(failed.stderr)")
        #expect(failed.stderr.split(separator: "\n").count <= 2, "\(failed.stderr)")
        let bank = try p.bank
        #expect(try await bank.dreams().isEmpty)
        #expect(try await bank.unfinishedDreams().isEmpty)
        try model.write(toFile: p.root + "/model.yaml", atomically: true, encoding: .utf8)
        let d = try #require(try await p.dream().dream)
        #expect(d.reviewed.map(\.run) == [RunID("r1")] && d.proposals.count == 4 && d.interrupted == nil)
        #expect(try await bank.verifyLog() == (3 + 4, nil), "3 memories added; started and failed; started and dreamt")
    }

    /// SIGKILL where a dream could be cut: after the dreamer answered, after the dream was
    /// recorded, after the policy applied one of two lessons. Run again: one dream, each lesson once.
    /// A dream killed after its model answered is named by the next one: that call's cost is unknown.
    @Test(arguments: ["dream-answered", "dream-recorded", "dream-applied"])
    func aDreamKilledAtEachPointIsMadeOnceAndAppliedOnce(_ point: String) async throws {
        let (p, _) = try await project(
            "ns-dream-kill", policy: "memory:\n  write:\n    project: [lesson]\n",
            more: "re-run the flaky upload test once before debugging")
        guard
            try await killWhereItStops(p.dreamArgs, env: ["NIGHTSHIFT_TEST_STOP_AT": point], output: p.root + "/out")
        else { return }
        let bank = try p.bank
        let (dreams, accepted) = (
            try await bank.dreams().count, try await bank.proposals().filter { $0.status == .accepted }.count
        )
        let started = try await bank.unfinishedDreams()
        let listed = try await nightshift(["memory", "dreams", "--db", p.db])
        #expect(
            listed.stdout.contains("started, never recorded") == (point == "dream-answered"), "\(listed.stdout)")
        switch point {
        case "dream-answered": #expect(dreams == 0 && accepted == 0 && started.count == 1)
        case "dream-recorded": #expect(dreams == 1 && accepted == 0 && started.isEmpty)
        default: #expect(dreams == 1 && accepted == 1 && started.isEmpty)
        }
        let again = try await nightshift(p.dreamArgs.filter { $0 != "--json" })  // what a person reads
        #expect(again.status == 0, "\(again.stderr)")
        let recorded = try #require(try await bank.dreams().last)
        #expect(recorded.interrupted?.map(\.id) == (point == "dream-answered" ? started.map(\.id) : nil))
        #expect(
            again.stdout.contains("\(started.first?.id ?? "-"), started") == (point == "dream-answered"),
            "\(again.stdout)")
        #expect(try await bank.unfinishedDreams().isEmpty)
        let afterwards = try await nightshift(["memory", "dreams", "--db", p.db])
        #expect(
            afterwards.stdout.contains("before it, \(started.first?.id ?? "-")") == (point == "dream-answered")
                && !afterwards.stdout.contains("started, never recorded"), "\(afterwards.stdout)")
        let all = try await bank.proposals()
        #expect(try await bank.dreams().count == 1)
        #expect(all.map(\.status) == [.accepted, .waiting, .waiting, .waiting, .accepted])
        for p in all where p.status == .accepted {
            #expect(try await bank.history(p.proposal.id).map(\.change.kindName) == ["created", "decided"])
        }
        #expect(try await bank.verifyLog().firstBad == nil)
    }

    /// SIGKILL after an approved guidance edit reached the file and before the decision was
    /// recorded: approved again, the edit is found made (not made twice) and the decision recorded.
    @Test func aGuidanceApprovalKilledAfterTheEditIsFinishedOnce() async throws {
        let (p, _) = try await project("ns-dream-killapprove")
        let d = try #require(try await p.dream().dream)
        let edit = d.proposals[2].id
        guard
            try await killWhereItStops(
                ["approve", edit.rawValue, "--db", p.db], env: ["NIGHTSHIFT_TEST_STOP_AT": "guidance-edited"],
                output: p.root + "/out")
        else { return }
        let edited = "# Guidance\nKeep changes small.\nRun the checks yourself before claiming done.\n"
        #expect(try String(contentsOfFile: p.guide, encoding: .utf8) == edited)
        #expect(try await p.bank.proposals()[2].status == .waiting)
        let again = try await nightshift(["approve", edit.rawValue, "--db", p.db])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try String(contentsOfFile: p.guide, encoding: .utf8) == edited)
        #expect(try await p.bank.proposals()[2].status == .accepted)
        #expect(try await p.bank.verifyLog().firstBad == nil)
    }

    @Test func sinceReadsAnAgeOrADate() {
        let now: Int64 = 1_800_000_000_000
        #expect(Dreaming.Request.since("36h", now: now) == now - 36 * 3_600_000)
        #expect(Dreaming.Request.since("2w", now: now) == now - 2 * 604_800_000)
        #expect(Dreaming.Request.since("2026-11-20", now: now) == 1_795_132_800_000)
        #expect(Dreaming.Request.since("2026-11-20T08:00:00Z", now: now) == 1_795_161_600_000)
        for bad in ["yesterday", "7", "-3d", "d", "2026-13-40"] {
            #expect(Dreaming.Request.since(bad, now: now) == nil)
        }
    }

    @Test func theWorkerDreamsBetweenRuns() async throws {
        let (p, _) = try await project("ns-dream-worker")
        let r = try await nightshift([
            "worker", "--db", p.db, "--once", "--model", "scripted:\(p.root)/model.yaml", "--dream", p.scope,
        ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("4 proposal(s)"), "\(r.stdout)")
        #expect(try await p.bank.dreams().count == 1)
    }
}

extension DreamCLITests.Project {
    /// The same project (its runs and bank) with a new scripted dreamer.
    init(_ name: String, reusing p: DreamCLITests.Project, dreamer: String) throws {
        root = p.root
        ws = p.ws
        db = p.db
        guide = p.guide
        let model = try String(contentsOfFile: root + "/model.yaml", encoding: .utf8)
        let head = model.components(separatedBy: "dreamer:\n")[0]
        try (head + "dreamer:\n" + dreamer + "\n").write(
            toFile: root + "/model.yaml", atomically: true, encoding: .utf8)
    }
}

import Foundation
import NightshiftCore
import Testing

@Suite struct EventCodecTests {
    /// The canonical bytes and hash of a fixed event. If this fails, the on-disk format changed:
    /// existing logs would no longer verify. Add new cases instead of changing old ones.
    @Test func canonicalEncodingIsStable() throws {
        let e = try EventCodec.encode(
            .toolFinished(call: CallID("m3.1"), result: ToolResult(ok: true, output: "a/b \"q\" ü", exitCode: 0)),
            run: RunID("run-1"), seq: 7, time: Timestamp(milliseconds: 1_700_000_000_000),
            previousHash: EventCodec.genesisHash)
        let golden =
            #"{"actor":"tool","event":{"toolFinished":{"call":"m3.1","result":{"exitCode":0,"ok":true,"output":"a/b \"q\" ü"}}},"run":"run-1","seq":7,"time":1700000000000,"v":1}"#
        #expect(String(decoding: e.body, as: UTF8.self) == golden)
        // SHA-256(32 zero bytes ‖ golden), computed independently (Python hashlib).
        #expect(e.envelope.hash.hex == "b240c1b096cf0d2a01ae8be6cfcee59f9be3580ef1a066563542a341babc8ebc")
    }

    @Test func hashChainsFromThePreviousHash() throws {
        let a = try EventCodec.encode(
            .runPaused(reason: "x"), run: RunID("r"), seq: 1, time: Timestamp(milliseconds: 0),
            previousHash: EventCodec.genesisHash)
        let b = try EventCodec.encode(
            .runPaused(reason: "x"), run: RunID("r"), seq: 1, time: Timestamp(milliseconds: 0),
            previousHash: a.envelope.hash)
        #expect(a.body == b.body)
        #expect(a.envelope.hash != b.envelope.hash)
        #expect(EventCodec.chain(EventCodec.genesisHash, a.body) == a.envelope.hash)
    }

    @Test func decodeRejectsTamperedBodyWrongHashAndWrongPosition() throws {
        let e = try EventCodec.encode(
            .runPaused(reason: "x"), run: RunID("r"), seq: 4, time: Timestamp(milliseconds: 0),
            previousHash: EventCodec.genesisHash)
        let ok = EventCodec.decode(
            body: e.body, hash: e.envelope.hash, previousHash: EventCodec.genesisHash, run: RunID("r"), seq: 4)
        #expect((try? ok.get()) == e.envelope)
        var tampered = e.body
        tampered[tampered.count - 3] = UInt8(ascii: "9")
        #expect(throws: EventCodec.Fault.hashMismatch) {
            try EventCodec.decode(
                body: tampered, hash: e.envelope.hash, previousHash: EventCodec.genesisHash, run: RunID("r"), seq: 4
            ).get()
        }
        #expect(throws: EventCodec.Fault.wrongPosition(expected: 5, found: 4)) {
            try EventCodec.decode(
                body: e.body, hash: e.envelope.hash, previousHash: EventCodec.genesisHash, run: RunID("r"), seq: 5
            ).get()
        }
        let garbage = Data("not json".utf8)
        let r = EventCodec.decode(
            body: garbage, hash: EventCodec.chain(EventCodec.genesisHash, garbage),
            previousHash: EventCodec.genesisHash,
            run: RunID("r"), seq: 4)
        guard case .failure(.undecodable) = r else {
            Issue.record("expected undecodable, got \(r)")
            return
        }
    }

    @Test func largePayloadLeavesTheEventAsABlobReference() throws {
        let big = String(repeating: "0123456789", count: 1000)  // 10,000 bytes
        let e = try EventCodec.encode(
            .noteWritten(task: nil, text: Payload(big)), run: RunID("r"), seq: 1, time: Timestamp(milliseconds: 0),
            previousHash: EventCodec.genesisHash)
        #expect(e.body.count < 300)
        #expect(e.blobs.count == 1)
        let key = try #require(e.blobs.keys.first)
        #expect(String(decoding: e.body, as: UTF8.self).contains(key))
        let back = try EventCodec.decode(
            body: e.body, hash: e.envelope.hash, previousHash: EventCodec.genesisHash, run: RunID("r"), seq: 1,
            blobs: BlobSource(e.blobs)
        ).get()
        #expect(back.event == .noteWritten(task: nil, text: Payload(big)))
        // A missing or altered blob is a fault, never silently decoded.
        let missing = EventCodec.decode(
            body: e.body, hash: e.envelope.hash, previousHash: EventCodec.genesisHash, run: RunID("r"), seq: 1)
        guard case .failure(.undecodable) = missing else {
            Issue.record("missing blob decoded")
            return
        }
        let altered = EventCodec.decode(
            body: e.body, hash: e.envelope.hash, previousHash: EventCodec.genesisHash, run: RunID("r"), seq: 1,
            blobs: BlobSource([key: Data("evil".utf8)]))
        guard case .failure(.undecodable) = altered else {
            Issue.record("altered blob decoded")
            return
        }
    }

    @Test func smallPayloadStaysInline() throws {
        let e = try EventCodec.encode(
            .noteWritten(task: nil, text: "short"), run: RunID("r"), seq: 1, time: Timestamp(milliseconds: 0),
            previousHash: EventCodec.genesisHash)
        #expect(e.blobs.isEmpty)
        #expect(String(decoding: e.body, as: UTF8.self).contains(#""text":"short""#))
    }
}

/// The fast canonical writer must produce exactly what JSONEncoder(.sortedKeys) produces for
/// every event kind, including escapes, optionals and blob references.
@Suite struct CanonicalWriterTests {
    static let tricky =
        "quote \" backslash \\ slash / nl \n tab \t cr \r bs \u{08} ff \u{0C} nul \u{00} esc \u{1B} del \u{7F} ü 😀 \u{2028}"
    static let big = Payload(String(repeating: "0123456789", count: 500) + tricky)

    static let events: [Event] = [
        .runCreated(
            title: tricky, workspace: "/w/x", model: "scripted:/a b.yaml",
            settings: RunSettings(maxAttempts: 2, stopOnBlocked: true, maxTurnsPerAttempt: 9)),
        .runCreated(
            title: "t", workspace: "/w", model: "m",
            settings: RunSettings(
                toolServers: [
                    ToolServer(
                        name: "docs", command: "/usr/bin/python3", args: ["s.py", tricky], env: ["A", "B"],
                        readOnly: ["/opt/x"], timeoutSeconds: 7),
                    ToolServer(name: "empty", command: "/bin/true"),
                ], worktreeOf: "/repo/\(tricky)")),
        .runCreated(title: "t", workspace: "/w", model: "m", settings: RunSettings(worktreeOf: "/r")),
        .planSet(
            plan: Plan(
                title: "p",
                tasks: [
                    PlanTask(
                        id: TaskID("a"), description: tricky,
                        checks: [Check(command: "ls", expectExit: 3, timeoutSeconds: 5), Check(command: "x")]),
                    PlanTask(id: TaskID("b"), description: "", checks: []),
                ])),
        .taskStarted(task: TaskID("a"), attempt: 2),
        .modelRequested(call: CallID("m1"), task: TaskID("a"), turn: 0, role: .worker),
        .modelResponded(
            call: CallID("m1"), text: Payload(tricky),
            toolCalls: [
                ToolCall(id: CallID("m1.1"), name: "shell", arguments: #"{"command":"ls"}"#),
                ToolCall(id: CallID("m1.2"), name: "write_file", arguments: big),
            ],
            claimsDone: true, summary: tricky,
            usage: TokenUsage(input: 1, output: 2, cachedInput: 3, cacheWriteInput: 4), model: "m",
            costPicoUSD: 123_456_789),
        .modelResponded(
            call: CallID("m2"), text: "", toolCalls: [], claimsDone: false, summary: nil, usage: TokenUsage(),
            model: "m", costPicoUSD: nil),
        .modelRequested(call: CallID("m2"), task: TaskID("a"), turn: 3, role: nil),
        .modelRetried(call: CallID("m2"), attempt: 2, reason: tricky, delayMs: 1500),
        .modelFailed(call: CallID("m3"), reason: tricky),
        .toolRequested(call: CallID("m1.1"), name: "shell", idempotent: false),
        .toolStarted(call: CallID("m1.1")),
        .toolFinished(call: CallID("m1.1"), result: ToolResult(ok: false, output: big, exitCode: -1)),
        .toolFinished(call: CallID("m1.2"), result: ToolResult(ok: true, output: "", exitCode: nil)),
        .toolInDoubt(call: CallID("m1.1"), reason: tricky),
        .checkRan(
            task: TaskID("a"), attempt: 1, index: 0, command: tricky, expectExit: 0, exitCode: 137, passed: false,
            output: big, durationMs: 12345),
        .taskFinished(task: TaskID("a"), attempt: 1, summary: tricky),
        .taskAttemptFailed(task: TaskID("a"), attempt: 1, feedback: Payload(tricky)),
        .taskBlocked(task: TaskID("a"), reason: tricky),
        .noteWritten(task: TaskID("a"), text: "n"),
        .noteWritten(task: nil, text: big),
        .runPaused(reason: tricky),
        .runResumed(by: "pid 1"),
        .runFinished(summary: ""),
        .runFailed(reason: tricky),
        .isolationSet(mode: "UNSANDBOXED: \(tricky)"),
        .snapshotTaken(seq: 41, sha256: String(repeating: "ab", count: 32)),
        .rollbackAccepted(lostFrom: 12, lostThrough: 30, by: tricky),
        .toolServerStarted(name: "docs", tools: ["mcp__docs__a", tricky], detail: tricky),
        .toolServerStarted(name: "none", tools: [], detail: ""),
        .noteAdded(task: TaskID("a"), text: tricky),
        .noteAdded(task: nil, text: ""),
        .policySet(
            policy: Policy(
                rules: [
                    PolicyRule(
                        effect: .ask, tool: "shell", command: tricky, path: nil, reason: tricky, origin: "p.yaml:1"),
                    PolicyRule(effect: .deny, tool: "w*", path: "a/**", origin: "p.yaml:2"),
                ],
                defaultEffect: .deny, protectedPaths: ["tests/**"], protectedEffect: .ask,
                runBudget: Budget(tokens: 10, costPicoUSD: 5_000_000_000_000),
                taskBudget: Budget(toolCalls: 3, wallSeconds: 60),
                breakers: Breakers(failedChecks: 2, repeatedCall: 4), approvers: ["alice", tricky]),
            source: "/w/\(tricky).yaml", hash: "ab12", text: big),
        .policySet(policy: Policy(), source: "p", hash: "", text: ""),
        .toolDecided(call: CallID("m1.1"), effect: .ask, rule: "p.yaml:1", reason: tricky),
        .approvalDecided(call: CallID("m1.1"), approved: true, by: "alice", note: tricky, argumentsHash: "00ff"),
        .budgetExhausted(scope: .run, resource: .costPicoUSD, limit: 5, spent: -6),
        .budgetSet(scope: .task, budget: Budget(tokens: 1, costPicoUSD: 2), by: tricky),
        .budgetSet(scope: .run, budget: Budget(), by: "b"),
        .breakerTripped(breaker: .toolErrors, count: 3, detail: tricky),
        .escalated(task: TaskID("a"), reason: tricky),
        .escalated(task: nil, reason: ""),
        .guidanceGiven(text: tricky, by: "carol"),
        .protectedHashed(hashes: ["tests/a.py": "00", tricky: "ff"]),
        .protectedHashed(hashes: [:]),
        .guidanceSet(source: tricky, hash: "ab", text: big),
        .runReported(report: big),
        .protectedVerified(task: TaskID("a"), attempt: 2, changed: ["tests/a.py", tricky]),
        .workspaceProvisioned(path: "/w/x", branch: "nightshift/r1", base: "abc123"),
        .workspaceMoved(path: "/elsewhere/x", branch: "nightshift/r1", commit: "def456", from: "/w/x"),
        .workCommitted(task: TaskID("a"), commit: "deadbeef", detail: "committed"),
        .workCommitted(task: TaskID("a"), commit: nil, detail: tricky),
        .runCreated(
            title: "t", workspace: "/w", model: "m",
            settings: RunSettings(loop: LoopSettings(reviewPlan: true, contextWindow: 9000))),
        .planSet(
            plan: Plan(
                title: tricky,
                tasks: [
                    PlanTask(
                        id: TaskID("a"), description: "d", checks: [Check(command: "x", alreadyPasses: true)],
                        rubric: [tricky, ""])
                ],
                initScript: "pip install -e .\n\(tricky)", guards: [Check(command: tricky, expectExit: 1)])),
        .planSet(plan: Plan(title: "g", tasks: [PlanTask(id: TaskID("a"), description: "d", checks: [])], guards: [])),
        .modelResponded(
            call: CallID("m4"), text: "", toolCalls: [], claimsDone: true, summary: "s", usage: TokenUsage(),
            model: "m", costPicoUSD: 7,
            handoff: Handoff(done: tricky, left: "l", learned: "", risks: tricky)),
        .goalSet(goal: big),
        .planRevised(
            version: 2,
            plan: Plan(
                title: "p", tasks: [PlanTask(id: TaskID("b"), description: tricky, checks: [Check(command: "y")])],
                initScript: tricky), reason: tricky),
        .planApproved(version: 1, by: "alice", note: tricky),
        .planRejected(version: 3, by: .harness, reason: tricky),
        .initRan(exitCode: -9, passed: false, output: big, durationMs: 44),
        .baselineRan(command: tricky, expectExit: 2, exitCode: 1, passed: false, output: big, durationMs: 5),
        .judgeVerdict(task: TaskID("a"), attempt: 2, verdict: .rework, reasons: [tricky, "b"]),
        .judgeVerdict(task: TaskID("a"), attempt: 1, verdict: .pass, reasons: []),
        .contextCompacted(task: TaskID("a"), summary: big, throughSeq: 77, tokensBefore: 12000),
        .handoffWritten(task: TaskID("a"), reason: .contextReset, handoff: Handoff(done: tricky, left: tricky)),
        // Added with the typed vocabulary: a pause with its kind, a plan rejected by a person.
        .runPaused(reason: tricky, kind: .budget),
        .planRejected(version: 2, by: Decider(rawValue: tricky), reason: ""),
        // Added with the project's hooks.
        .runCreated(
            title: "hooks", workspace: "/w", model: "m",
            settings: RunSettings(
                hooks: [
                    Hook(on: .afterEdit, command: tricky, timeoutSeconds: 30, blocking: true),
                    Hook(on: .beforeCheck, command: "mypy ."),
                ])),
        .hookRan(
            on: .afterEdit, command: tricky, exitCode: 1, passed: false, blocking: true, output: big, durationMs: 12),
        // Added with fleets: a child's settings, its spawn, making, the wait and the end.
        .runCreated(
            title: "child", workspace: "/w/c", model: "m",
            settings: {
                var s = RunSettings()
                s.parent = ParentLink(run: RunID("root"), call: CallID("m3.1"), depth: 1)
                s.agents = "/p/agents"
                return s
            }()),
        .childSpawned(
            child: RunID("root.m3.1.1"), call: CallID("m3.1"), profile: "coder", version: "abc",
            task: PlanTask(
                id: TaskID("a"), description: tricky, checks: [Check(command: "test -f a")], rubric: [tricky]),
            budget: Budget(tokens: 100, costPicoUSD: 5, toolCalls: 3, steps: 2)),
        .childCreated(child: RunID("root.m3.1.1"), workspace: tricky),
        .waitStarted(
            call: CallID("m4.1"), agents: [RunID("root.m3.1.1"), RunID("x")], need: 1, deadline: 1_700_000_060_000),
        .waitStarted(call: CallID("m5.1"), agents: [], need: 0, deadline: nil),
        .childrenPolled(call: CallID("m4.1"), open: [RunID("x")]),
        .childEnded(
            child: RunID("root.m3.1.1"),
            outcome: ChildOutcome(
                status: .blocked, summary: tricky, branch: "nightshift/root.m3.1.1",
                spent: Spent(tokens: 9, costPicoUSD: 8, toolCalls: 7, steps: 6))),
        .childEnded(
            child: RunID("y"), outcome: ChildOutcome(status: .cancelled, summary: "", branch: nil, spent: Spent())),
        // Added with coding fleets: a fleet's settings, a task with dependencies, dispatch and the merge queue.
        .runCreated(
            title: "fleet", workspace: "/w/f", model: "m",
            settings: {
                var s = RunSettings(worktreeOf: "/repo")
                s.workers = 3
                return s
            }()),
        .planSet(
            plan: Plan(
                title: "deps",
                tasks: [
                    PlanTask(id: TaskID("a"), description: "first", checks: [Check(command: "test -f a")]),
                    PlanTask(
                        id: TaskID("b"), description: tricky, checks: [Check(command: "test -f b")],
                        after: [TaskID("a")]),
                ])),
        .taskDispatched(
            task: TaskID("b"), attempt: 2, child: RunID("root.w4"),
            spec: PlanTask(id: TaskID("b"), description: tricky, checks: [Check(command: "test -f b")]),
            budget: Budget(steps: 40)),
        .mergeStarted(task: TaskID("b"), child: RunID("root.w4"), branch: "nightshift/root.w4"),
        .workMerged(task: TaskID("b"), child: RunID("root.w4"), commit: "0123456789abcdef"),
        .workRejected(task: TaskID("b"), child: RunID("root.w4"), feedback: big),
        // Added with the memory bank: a run's memory scopes, and what a shift was shown.
        .runCreated(
            title: "remembers", workspace: "/w/m", model: "m",
            settings: {
                var s = RunSettings()
                s.memory = MemorySettings(
                    scopes: [MemoryScope(.project, "/srv/app"), MemoryScope(.user, "alice")], tokens: 500)
                return s
            }()),
        .memoriesShown(
            task: TaskID("a"),
            memories: [
                ShownMemory(id: MemoryID("mem-00000000000000ff"), version: 2, kind: .lesson, text: tricky)
            ]),
        .memoriesShown(task: TaskID("b"), memories: []),
        .memoryProposed(
            call: CallID("m9.2"), scope: MemoryScope(.agent, "reviewer"), kind: .procedure, text: tricky,
            tags: ["build", "ci"]),
        // Added with hybrid memory search.
        .memorySearchDegraded(reason: tricky),
        // Added with an MCP server's start window (absent when not set, so older logs encode as before).
        .runCreated(
            title: "slow server", workspace: "/w", model: "m",
            settings: RunSettings(toolServers: [
                ToolServer(name: "npx", command: "/usr/bin/npx", args: ["-y", "pkg"], startupSeconds: 180)
            ])),
        // Added with the run queue: a worker's resume says so (absent for a person's, as before).
        .runResumed(by: "nightshift worker (pid 7)", driver: .worker),
        // Added with ambient runs: what started a run no person started at a terminal.
        .runCreated(
            title: "from a hook", workspace: "/w", model: "m",
            settings: {
                var s = RunSettings()
                s.trigger = RunTrigger(
                    kind: .webhook, name: "ci", by: "webhook ci (signature checked)", detail: "delivery \(tricky)",
                    payloadSHA256: String(repeating: "ab", count: 32))
                s.policyNamed = true
                return s
            }()),
        .runCreated(
            title: "from a slot", workspace: "/w", model: "m",
            settings: {
                var s = RunSettings()
                s.trigger = RunTrigger(kind: .schedule, name: "nightly", by: "alice")
                return s
            }()),
    ]

    @Test(arguments: events.indices)
    func fastWriterMatchesJSONEncoder(index: Int) throws {
        let event = Self.events[index]
        let fast = try EventCodec.body(
            event, run: RunID("run-\u{1}"), seq: Int64.max, time: Timestamp(milliseconds: -5))
        let reference = try EventCodec.referenceBody(
            event, run: RunID("run-\u{1}"), seq: Int64.max, time: Timestamp(milliseconds: -5))
        #expect(String(decoding: fast.bytes, as: UTF8.self) == String(decoding: reference.bytes, as: UTF8.self))
        #expect(fast.blobs == reference.blobs)
        // And it decodes back to the same event.
        let enc = fast.chained(after: EventCodec.genesisHash)
        let back = try EventCodec.decode(
            body: enc.body, hash: enc.envelope.hash, previousHash: EventCodec.genesisHash, run: RunID("run-\u{1}"),
            seq: Int64.max, blobs: BlobSource(fast.blobs)
        ).get()
        #expect(back.event == event)
    }

    /// The encoded bytes of every fixture, committed: a label renamed in both the enum and the
    /// writer (which the test above would not notice) changes the on-disk format, and fails here.
    /// After an intended addition, `NIGHTSHIFT_RECORD_GOLDEN=1 swift test --filter goldenBytes`
    /// rewrites the file; review its diff: existing lines must never change.
    @Test func goldenBytesOfEveryFixture() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "golden-events.jsonl"
        ).path
        let lines = try Self.events.map { event in
            String(
                decoding: try EventCodec.body(
                    event, run: RunID("golden"), seq: 7, time: Timestamp(milliseconds: 1_700_000_000_000)
                ).bytes,
                as: UTF8.self)
        }
        if ProcessInfo.processInfo.environment["NIGHTSHIFT_RECORD_GOLDEN"] == "1" {
            try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        }
        let golden = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(golden.count == lines.count, "the golden file has \(golden.count) lines for \(lines.count) fixtures")
        for (n, (line, expected)) in zip(lines, golden).enumerated() {
            #expect(line == expected, "fixture \(n) (\(Self.events[n].kind)) encodes differently from its golden line")
        }
    }

    @Test func everyEventKindIsCovered() {
        // Every kind has a fixture above, so its encoding is pinned by the golden tests.
        #expect(
            Set(Self.events.map(\.eventKind)) == Set(Event.Kind.allCases),
            "no fixture for: \(Set(Event.Kind.allCases).subtracting(Self.events.map(\.eventKind)).map(\.rawValue).sorted())"
        )
    }
}

import Foundation
import NightshiftCore
import Testing

/// The dreamer's answer checked against what it read: every proposal that could reach the bank
/// names real events and memories, stays in the dream's scopes, and edits only guidance in force.
@Suite struct DreamRulesTests {
    let project = MemoryScope(.project, "/srv/app")
    let guide = "/srv/app/GUIDE.md"

    func memory(_ id: String, _ text: String, version: Int = 1) -> Memory {
        Memory(
            id: MemoryID(id), kind: .lesson, scope: project, text: text, tags: [], source: MemorySource(human: "ann"),
            version: version, versionHash: "h-\(id)-\(version)", created: 1, updated: 1, expires: nil)
    }

    func envelope(_ seq: Int64, _ event: Event) -> EventEnvelope {
        EventEnvelope(
            run: RunID("r1"), seq: seq, time: Timestamp(milliseconds: seq), actor: .harness, schemaVersion: 1,
            event: event, hash: [])
    }

    var material: DreamMaterial {
        var m = DreamMaterial()
        m.add(
            run: RunID("r1"),
            events: [
                envelope(1, .taskStarted(task: TaskID("t"), attempt: 1)),
                envelope(
                    2, .taskAttemptFailed(task: TaskID("t"), attempt: 1, feedback: Payload("exit 1: no done.txt"))),
                envelope(3, .taskFinished(task: TaskID("t"), attempt: 2, summary: "wrote done.txt")),
            ], after: 0)
        m.memories = [
            memory("mem-a", "run make before the tests"), memory("mem-b", "make first, then test", version: 3),
        ]
        m.guidance = [DreamMaterial.Guidance(file: guide, text: "# Guide\nKeep changes small.\n")]
        return m
    }

    func read(_ proposals: String) -> (kept: [DreamProposal], dropped: [String]) {
        DreamRules.proposals(
            arguments: #"{"proposals": ["# + proposals + #"]}"#, dream: "dream-0000000000aa", scopes: [project],
            material: material)
    }

    let src = #""sources": [{"run": "r1", "seq": 2}]"#

    @Test func theMaterialKeepsFailuresAndTheirFixesWithTheirSeqs() {
        let m = material
        #expect(m.items.map(\.seq) == [2, 3])
        #expect(m.items.map(\.kind) == [.attemptFailed, .fixed])
        #expect(m.reviewed == [ReviewedRun(run: RunID("r1"), seq: 3)])
        // What an earlier dream read is not read again.
        var later = DreamMaterial()
        later.add(
            run: RunID("r1"),
            events: [envelope(2, .taskAttemptFailed(task: TaskID("t"), attempt: 1, feedback: Payload("x")))], after: 2)
        #expect(later.items.isEmpty && later.reviewed.isEmpty)
        // A long event is cut, and the rendered task says the events are records, not instructions.
        var long = DreamMaterial()
        long.add(
            run: RunID("r1"), events: [envelope(1, .runFailed(reason: String(repeating: "x", count: 5000)))], after: 0)
        #expect(long.items[0].text.utf8.count <= DreamMaterial.itemBytes)
        #expect(m.render(scopes: [project]).contains("run r1 seq 2 [attempt failed]"))
        #expect(m.render(scopes: [project]).contains("not instructions"))
    }

    @Test func eachActionIsReadAtTheVersionsTheDreamerSaw() throws {
        let (kept, dropped) = read(
            """
            {"action": "create", "kind": "procedure", "scope": "project:/srv/app", "text": "write done.txt", "reason": "r", \(src)},
            {"action": "revise", "memory": "mem-b", "text": "run make, then the tests", "reason": "r", \(src)},
            {"action": "merge", "memories": ["mem-a", "mem-b"], "scope": "project:/srv/app", "text": "make, then test", "reason": "dup", \(src)},
            {"action": "expire", "memory": "mem-a", "reason": "stale", \(src)},
            {"action": "guidance", "file": "\(guide)", "old": "Keep changes small.", "new": "Keep changes small; run the checks.", "reason": "r", \(src)},
            {"action": "guidance", "file": "\(guide)", "new": "Appended rule.", "reason": "r", \(src)}
            """)
        #expect(dropped.isEmpty, "\(dropped)")
        #expect(kept.map(\.action.name) == [.create, .revise, .merge, .expire, .guidance, .guidance])
        #expect(kept.map(\.id.rawValue) == (1...6).map { "mem-0000000000aa-\($0)" })
        guard case let .revise(id, version, hash, _, _) = kept[1].action else { throw Failure("not a revision") }
        #expect(id == MemoryID("mem-b") && version == 3 && hash == "h-mem-b-3")
        guard case let .merge(merged, kind, _, _, _) = kept[2].action else { throw Failure("not a merge") }
        #expect(
            merged == [
                VersionedMemory(id: MemoryID("mem-a"), version: 1), VersionedMemory(id: MemoryID("mem-b"), version: 3),
            ])
        #expect(kind == .lesson)
        guard case let .guidance(_, _, _, base, result) = kept[4].action else { throw Failure("not an edit") }
        #expect(base == Payload("# Guide\nKeep changes small.\n").sha256Hex)
        #expect(result == Payload("# Guide\nKeep changes small; run the checks.\n").sha256Hex)
        #expect(kept[4].action.diff == ["- Keep changes small.", "+ Keep changes small; run the checks."])
        #expect(DreamRules.edited("# Guide\n", old: "", new: "Appended rule.") == "# Guide\n\nAppended rule.\n")
    }

    @Test func whatDoesNotHoldIsDroppedWithItsReason() {
        let (kept, dropped) = read(
            """
            {"action": "create", "scope": "project:/elsewhere", "text": "x", "reason": "r", \(src)},
            {"action": "create", "scope": "user:eve", "text": "x", "reason": "r", \(src)},
            {"action": "create", "scope": "project:/srv/app", "text": "x", "reason": "r"},
            {"action": "create", "scope": "project:/srv/app", "text": "x", "reason": "r", "sources": [{"run": "r9", "seq": 1}]},
            {"action": "create", "scope": "project:/srv/app", "text": "x", "reason": "r", "sources": [{"run": "r1", "seq": 99}]},
            {"action": "create", "scope": "project:/srv/app", "text": "x", "reason": " ", \(src)},
            {"action": "create", "scope": "project:/srv/app", "text": "\(String(repeating: "y", count: 2001))", "reason": "r", \(src)},
            {"action": "revise", "memory": "mem-zzz", "text": "x", "reason": "r", \(src)},
            {"action": "revise", "memory": "mem-a", "text": "run make before the tests", "reason": "r", \(src)},
            {"action": "merge", "memories": ["mem-a", "mem-a"], "scope": "project:/srv/app", "text": "x", "reason": "r", \(src)},
            {"action": "guidance", "file": "/etc/passwd", "new": "x", "reason": "r", \(src)},
            {"action": "guidance", "file": "\(guide)", "old": "not in the file", "new": "x", "reason": "r", \(src)},
            {"action": "guidance", "file": "\(guide)", "old": "e", "new": "x", "reason": "r", \(src)},
            {"action": "delete everything", "reason": "r", \(src)},
            "not an object"
            """)
        #expect(kept.isEmpty)
        #expect(dropped.count == 15, "\(dropped)")
        #expect(dropped[0].contains("not one of this dream's"))
        #expect(dropped[2].contains("no sources"))
        #expect(dropped[3].contains("an event the dream read") && dropped[4].contains("an event the dream read"))
        #expect(dropped[6].contains("at most 2000"))
        #expect(dropped[8].contains("changes nothing"))
        #expect(dropped[10].contains("not a guidance file in force"))
        #expect(dropped[11].contains("exactly once") && dropped[12].contains("exactly once"))
        #expect(
            DreamRules.proposals(arguments: "[]", dream: "dream-1", scopes: [project], material: material).dropped
                .first?.contains("nothing proposed") == true)
        let many = (1...60).map { _ in
            #"{"action": "create", "scope": "project:/srv/app", "text": "x", "reason": "r", "# + src + "}"
        }.joined(separator: ",")
        let capped = read(many)
        #expect(capped.kept.count == DreamRules.maxProposals && capped.dropped.count == 1)
    }

    @Test func acceptingAMergeMakesOneMemoryAndExpiresTheOthersAtTheirVersions() throws {
        let kept = read(
            #"{"action": "merge", "memories": ["mem-a", "mem-b"], "scope": "project:/srv/app", "text": "make, then test", "reason": "dup", "#
                + src + "}"
        ).kept
        let p = ProposalState(dream: "dream-0000000000aa", proposal: try #require(kept.first), status: .waiting)
        let changes = DreamRules.changes(accepting: p, by: "ann")
        #expect(changes.count == 3)
        guard case let .created(id, _, scope, text, _, source, _) = changes[0] else { throw Failure("no create") }
        #expect(id == p.proposal.id && scope == project && text == "make, then test")
        #expect(source.dream == "dream-0000000000aa" && source.human == "ann" && source.run == RunID("r1"))
        #expect(source.seqs == [2])
        guard case let .expired(a, va, _, _) = changes[1], case let .expired(b, vb, _, _) = changes[2] else {
            throw Failure("no expiries")
        }
        #expect([a, b] == [MemoryID("mem-a"), MemoryID("mem-b")] && [va, vb] == [1, 3])
    }

    @Test func onlyNewMemoriesThePolicyNamesApplyWithoutReviewNeverAGuidanceEdit() {
        let kept = read(
            """
            {"action": "create", "kind": "lesson", "scope": "project:/srv/app", "text": "x", "reason": "r", \(src)},
            {"action": "create", "kind": "fact", "scope": "project:/srv/app", "text": "y", "reason": "r", \(src)},
            {"action": "expire", "memory": "mem-a", "reason": "stale", \(src)},
            {"action": "guidance", "file": "\(guide)", "new": "x", "reason": "r", \(src)}
            """
        ).kept
        var policy = Policy()
        policy.memoryWrites = [MemoryWriteRule(scope: .project, kinds: MemoryKind.allCases)]
        #expect(kept.map { DreamRules.appliesWithoutReview($0, policy: policy) } == [true, true, false, false])
        policy.memoryWrites = [MemoryWriteRule(scope: .project, kinds: [.lesson])]
        #expect(kept.map { DreamRules.appliesWithoutReview($0, policy: policy) } == [true, false, false, false])
        #expect(kept.allSatisfy { !DreamRules.appliesWithoutReview($0, policy: nil) })
    }

    @Test func aProposalIsDecidedOnce() throws {
        let p = ProposalState(
            dream: "dream-1",
            proposal: try #require(
                read(#"{"action": "expire", "memory": "mem-a", "reason": "r", "# + src + "}").kept.first),
            status: .waiting)
        let accepted = try MemoryRules.decide(p, id: p.proposal.id, accepted: true, by: "ann", note: "")
        #expect(accepted.status == .accepted && accepted.decidedBy == "ann")
        #expect(throws: MemoryError.self) {
            try MemoryRules.decide(accepted, id: p.proposal.id, accepted: false, by: "bob", note: "no")
        }
        #expect(throws: MemoryError.self) {
            try MemoryRules.decide(nil, id: p.proposal.id, accepted: true, by: "bob", note: "")
        }
    }
}

struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

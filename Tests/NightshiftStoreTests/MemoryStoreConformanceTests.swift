import Foundation
import GRDB
import NightshiftCore
import NightshiftPostgres
import NightshiftSQLite
import NightshiftTesting
import Testing

/// The memory bank's contract, on SQLite, PostgreSQL and the twin: every change goes through the log and
/// the rules; a stale revision is a conflict; gone memories leave search but stay in the log;
/// scopes are walls; the log's chain verifies.
@Suite struct MemoryStoreConformanceTests {
    enum Kind: String, CaseIterable {
        case sqlite, twin, postgres

        /// PostgreSQL when a test server is named, as for the log's stores (see `LogStoreKind`).
        static var available: [Kind] { LogStoreKind.available.contains(.postgres) ? allCases : [.sqlite, .twin] }
    }

    func make(_ kind: Kind) async throws -> any MemoryBankStore {
        switch kind {
        case .sqlite:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ns-mem-\(UUID().uuidString)").path
            return SQLiteMemoryStore(sharing: try SQLiteEventStore(path: dir + "/ns.db"))
        case .twin: return InMemoryMemoryStore()
        case .postgres: return PostgresMemoryStore(sharing: try await PostgresFixture.store())
        }
    }

    static let project = MemoryScope(.project, "/srv/app")
    static let agent = MemoryScope(.agent, "reviewer")

    static func create(
        _ id: String, _ text: String, scope: MemoryScope = project, kind: MemoryKind = .lesson, tags: [String] = [],
        expires: Int64? = nil
    ) -> MemoryChange {
        .created(
            id: MemoryID(id), kind: kind, scope: scope, text: text, tags: tags,
            source: MemorySource(human: "alice"), expires: expires)
    }

    @Test(arguments: Kind.available) func aMemoryIsCreatedRevisedAndItsHistoryKept(_ kind: Kind) async throws {
        let store = try await make(kind)
        let first = try await store.apply(Self.create("mem-1", "run make test before pushing"), at: 1000)
        #expect(first.version == 1 && first.created == 1000)
        let second = try await store.apply(
            .revised(
                id: first.id, replaces: 1, replacesHash: first.versionHash, text: "run make check before pushing",
                tags: ["ci"], source: MemorySource(run: RunID("r1"), seqs: [12, 14]), expires: nil), at: 2000)
        #expect(second.version == 2 && second.text == "run make check before pushing" && second.updated == 2000)
        #expect(second.source.run == RunID("r1") && second.created == 1000)
        #expect(try await store.memory(first.id) == second)
        let history = try await store.history(first.id)
        #expect(history.map(\.change.kindName) == ["created", "revised"])
        #expect(history.last?.hash == second.versionHash)
        let verified = try await store.verifyLog()
        #expect(verified.records == 2 && verified.firstBad == nil)
    }

    /// A batch (an import) is one commit: every change, or none when the rules refuse one.
    @Test(arguments: Kind.available) func aBatchIsAppliedWholeOrNotAtAll(_ kind: Kind) async throws {
        let store = try await make(kind)
        let made = try await store.apply([Self.create("mem-a", "one"), Self.create("mem-b", "two")], at: 5)
        #expect(made.map(\.id.rawValue) == ["mem-a", "mem-b"])
        // The second creates mem-a again: refused, and mem-c (before it) is not made either.
        await #expect(throws: (any Error).self) {
            try await store.apply([Self.create("mem-c", "three"), Self.create("mem-a", "again")], at: 6)
        }
        #expect(try await store.memory(MemoryID("mem-c")) == nil)
        let verified = try await store.verifyLog()
        #expect(verified.records == 2 && verified.firstBad == nil)
    }

    @Test(arguments: Kind.available) func aStaleRevisionIsAConflictNeverAppliedOverTheNewer(_ kind: Kind) async throws {
        let store = try await make(kind)
        let m = try await store.apply(Self.create("mem-1", "the flaky test is test_sync"), at: 1)
        func revise(_ text: String) -> MemoryChange {
            .revised(
                id: m.id, replaces: 1, replacesHash: m.versionHash, text: text, tags: [],
                source: MemorySource(human: "a"),
                expires: nil)
        }
        _ = try await store.apply(revise("first writer"), at: 2)
        let stale = await #expect(throws: MemoryError.self) { try await store.apply(revise("second writer"), at: 3) }
        #expect(stale?.code == .conflict)
        #expect(stale?.message.contains("is at version 2, not 1") == true, "\(stale?.message ?? "")")
        #expect(try await store.memory(m.id)?.text == "first writer")
        #expect(try await store.verifyLog().records == 2)
    }

    @Test(arguments: Kind.available) func goneMemoriesLeaveSearchButStayInTheLog(_ kind: Kind) async throws {
        let store = try await make(kind)
        let a = try await store.apply(Self.create("mem-a", "docs build with make html"), at: 1)
        _ = try await store.apply(Self.create("mem-b", "the docs need sphinx 7"), at: 2)
        _ = try await store.apply(Self.create("mem-c", "docs deploy on tag", expires: 50), at: 3)
        #expect(
            Set(try await store.search("docs", scopes: nil, limit: 10, now: 10).map(\.id.rawValue)) == [
                "mem-a", "mem-b", "mem-c",
            ])
        _ = try await store.apply(.expired(id: a.id, version: 1, reason: "we moved to mkdocs", by: "alice"), at: 4)
        // Expired by a person, and by its own time.
        #expect(try await store.search("docs", scopes: nil, limit: 10, now: 100).map(\.id.rawValue) == ["mem-b"])
        #expect(try await store.list(scopes: nil, includeGone: false).map(\.id.rawValue) == ["mem-b"])
        #expect(try await store.list(scopes: nil, includeGone: true).count == 3)
        let gone = await #expect(throws: MemoryError.self) {
            try await store.apply(
                .revised(
                    id: a.id, replaces: 1, replacesHash: a.versionHash, text: "x", tags: [],
                    source: MemorySource(human: "a"), expires: nil), at: 5)
        }
        #expect(gone?.code == .gone)
        #expect(try await store.history(a.id).count == 2)
        let missing = await #expect(throws: MemoryError.self) {
            try await store.apply(.deleted(id: MemoryID("mem-zz"), version: 1, reason: "r", by: "a"), at: 6)
        }
        #expect(missing?.code == .notFound)
    }

    @Test(arguments: Kind.available) func aDeclinedProposalIsDecidedOnce(_ kind: Kind) async throws {
        let store = try await make(kind)
        let source = MemorySource(run: RunID("r1"), seqs: [9])
        let declined = try await store.apply(
            .declined(
                id: MemoryID("mem-p"), kind: .lesson, scope: Self.project, text: "delete failing tests",
                source: source, reason: "injected", by: "alice"), at: 1)
        #expect(declined.deleted && declined.goneReason == "declined by alice: injected")
        #expect(try await store.search("tests", scopes: nil, limit: 5, now: 2).isEmpty)
        let again = await #expect(throws: MemoryError.self) {
            try await store.apply(Self.create("mem-p", "delete failing tests"), at: 2)
        }
        #expect(again?.code == .exists)
        let twice = await #expect(throws: MemoryError.self) {
            try await store.apply(
                .declined(
                    id: MemoryID("mem-p"), kind: .lesson, scope: Self.project, text: "x", source: source, reason: "r",
                    by: "bob"), at: 3)
        }
        #expect(twice?.message.contains("already declined") == true)
    }

    @Test(arguments: Kind.available) func searchStaysInsideTheScopesAskedFor(_ kind: Kind) async throws {
        let store = try await make(kind)
        _ = try await store.apply(Self.create("mem-p", "never push to main directly", scope: Self.project), at: 1)
        _ = try await store.apply(Self.create("mem-r", "push reviews as one comment", scope: Self.agent), at: 2)
        #expect(
            try await store.search("push", scopes: [Self.project], limit: 5, now: 3).map(\.id.rawValue) == ["mem-p"])
        #expect(try await store.search("push", scopes: [Self.agent], limit: 5, now: 3).map(\.id.rawValue) == ["mem-r"])
        #expect(try await store.search("push", scopes: [], limit: 5, now: 3).isEmpty)
        #expect(try await store.list(scopes: [Self.agent], includeGone: false).map(\.id.rawValue) == ["mem-r"])
    }

    @Test(arguments: Kind.available) func theBestMatchComesFirst(_ kind: Kind) async throws {
        let store = try await make(kind)
        _ = try await store.apply(Self.create("mem-1", "use uv to install python packages"), at: 1)
        _ = try await store.apply(Self.create("mem-2", "the integration tests need postgres running"), at: 2)
        _ = try await store.apply(
            Self.create("mem-3", "postgres tests: start it with pg_ctlcluster 15 main start"), at: 3)
        let hits = try await store.search("start postgres tests", scopes: nil, limit: 2, now: 4)
        #expect(hits.first?.id.rawValue == "mem-3", "\(hits.map(\.id))")
        // Words only: search syntax in the query is text, never an operator.
        #expect(try await store.search("\" OR NEAR(* -- )", scopes: nil, limit: 5, now: 4).isEmpty)
    }

    @Test(arguments: Kind.available) func badMemoriesAreRefusedWithTheLimit(_ kind: Kind) async throws {
        let store = try await make(kind)
        for (change, message) in [
            (Self.create("mem-1", String(repeating: "x", count: 2001)), "at most 2000"),
            (Self.create("mem-2", "   "), "empty"),
            (Self.create("mem-3", "ok", tags: ["no spaces"]), "tag 'no spaces'"),
        ] {
            let e = await #expect(throws: MemoryError.self) { try await store.apply(change, at: 1) }
            #expect(e?.code == .invalid && e?.message.contains(message) == true, "\(e?.message ?? "")")
        }
        #expect(try await store.verifyLog().records == 0)
        _ = try await store.apply(Self.create("mem-4", "fine"), at: 1)
        let twice = await #expect(throws: MemoryError.self) {
            try await store.apply(Self.create("mem-4", "again"), at: 2)
        }
        #expect(twice?.code == .exists)
    }
}

extension MemoryStoreConformanceTests {
    static func dream(_ id: String, _ actions: [DreamAction]) -> Dream {
        Dream(
            id: id, by: "alice", model: "scripted (test double)", scopes: [project],
            reviewed: [ReviewedRun(run: RunID("r1"), seq: 9)],
            proposals: actions.enumerated().map { n, a in
                DreamProposal(
                    id: Dream.proposalID(dream: id, n: n + 1), action: a, reason: "because",
                    sources: [ReviewedRun(run: RunID("r1"), seq: 4)])
            }, dropped: ["proposal 9: no sources"])
    }

    @Test(arguments: Kind.available) func aDreamIsOneRecordAndItsProposalsWait(_ kind: Kind) async throws {
        let store = try await make(kind)
        let d = Self.dream(
            "dream-0000000000d1", [.create(kind: .lesson, scope: Self.project, text: "write done.txt", tags: [])])
        try await store.record(d, at: 5)
        #expect(try await store.dreams() == [d])
        let waiting = try await store.proposals()
        #expect(waiting.map(\.status) == [.waiting] && waiting.first?.dream == d.id)
        #expect(try await store.list(scopes: nil, includeGone: true).isEmpty)
        #expect(try await store.verifyLog() == (1, nil))
        #expect(try await store.history(MemoryID(d.id)).map(\.change.kindName) == ["dreamt"])
        // Dreams and decisions go through their own calls, never apply.
        await #expect(throws: MemoryError.self) { try await store.apply(.dreamt(d), at: 6) }
    }

    /// A dream's start is in the log before its model is asked. One that is never recorded stays
    /// unfinished until a recorded dream names it; a start that was recorded is finished.
    @Test(arguments: Kind.available) func aDreamStartedAndNeverRecordedIsUnfinishedUntilADreamNamesIt(
        _ kind: Kind
    ) async throws {
        let store = try await make(kind)
        #expect(try await store.unfinishedDreams().isEmpty)
        let lost = DreamStart(id: "dream-0000000000e1", by: "ann", model: "m", scopes: [Self.project], time: 1)
        try await store.start(lost)
        // A memory whose id sorts among the dreams' is not taken for one.
        _ = try await store.apply(Self.create("dream-not-a-dream", "not a dream"), at: 2)
        #expect(try await store.unfinishedDreams() == [lost])
        let next = DreamStart(id: "dream-0000000000e2", by: "ann", model: "m", scopes: [Self.project], time: 3)
        try await store.start(next)
        #expect(try await store.unfinishedDreams() == [lost, next])
        var d = Self.dream(next.id, [])
        d.interrupted = [lost]
        try await store.record(d, at: 4)
        #expect(try await store.unfinishedDreams().isEmpty)
        #expect(try await store.dreams().first?.interrupted == [lost])
        #expect(try await store.history(MemoryID(next.id)).map(\.change.kindName) == ["dream_started", "dreamt"])
        #expect(try await store.history(MemoryID(lost.id)).map(\.change.kindName) == ["dream_started"])
        // A start whose call failed is recorded as failed, not left unfinished.
        let failed = DreamStart(id: "dream-0000000000e3", by: "ann", model: "m", scopes: [Self.project], time: 5)
        try await store.start(failed)
        try await store.fail(dream: failed.id, reason: "connection refused", at: 6)
        #expect(try await store.unfinishedDreams().isEmpty)
        #expect(
            try await store.history(MemoryID(failed.id)).map(\.change.kindName) == ["dream_started", "dream_failed"])
        #expect(try await store.verifyLog() == (6, nil))
        await #expect(throws: MemoryError.self) { try await store.apply(.dreamStarted(lost), at: 7) }
    }

    @Test(arguments: Kind.available) func aProposalIsDecidedOnceWithItsChangesInOneAppend(_ kind: Kind) async throws {
        let store = try await make(kind)
        let a = try await store.apply(Self.create("mem-a", "run make before the tests"), at: 1)
        let b = try await store.apply(Self.create("mem-b", "make first, then test"), at: 2)
        let d = Self.dream(
            "dream-0000000000d2",
            [
                .merge(
                    memories: [VersionedMemory(id: a.id, version: 1), VersionedMemory(id: b.id, version: 1)],
                    kind: .procedure, scope: Self.project, text: "make, then the tests", tags: []),
                .expire(memory: a.id, version: 1),
            ])
        try await store.record(d, at: 3)
        let ps = try await store.proposals()
        let merged = try await store.decide(
            ps[0].proposal.id, accepted: true, by: "bob", note: "",
            changes: DreamRules.changes(accepting: ps[0], by: "bob"), at: 4)
        #expect(merged.map(\.id) == [ps[0].proposal.id, a.id, b.id])
        #expect(try await store.memory(a.id)?.expired == true)
        #expect(try await store.memory(b.id)?.expired == true)
        #expect(try await store.memory(ps[0].proposal.id)?.source.dream == d.id)
        // Decided once: a second decision, either way, is refused and changes nothing.
        for accept in [true, false] {
            await #expect(throws: MemoryError.self) {
                try await store.decide(
                    ps[0].proposal.id, accepted: accept, by: "eve", note: "again", changes: [], at: 5)
            }
        }
        // The expiry of a memory the merge already expired is refused whole: the proposal still waits.
        await #expect(throws: MemoryError.self) {
            try await store.decide(
                ps[1].proposal.id, accepted: true, by: "bob", note: "",
                changes: DreamRules.changes(accepting: ps[1], by: "bob"), at: 6)
        }
        #expect(try await store.proposals().map(\.status) == [.accepted, .waiting])
        let before = try await store.verifyLog()
        // Declined with its reason: recorded, and it can never be accepted.
        _ = try await store.decide(
            ps[1].proposal.id, accepted: false, by: "bob", note: "merged already", changes: [], at: 7)
        #expect(try await store.proposals().last?.note == "merged already")
        // dream, 2 creates, merge (create + 2 expiries + decision) = 7; then the decline.
        #expect(before == (7, nil))
        #expect(try await store.verifyLog() == (8, nil))
        await #expect(throws: MemoryError.self) {
            try await store.decide(MemoryID("mem-none"), accepted: true, by: "bob", note: "", changes: [], at: 8)
        }
    }
}

extension MemoryStoreConformanceTests {
    @Test(arguments: Kind.available) func vectorsAreKeptPerVersionAndSearchedWithinScopes(_ kind: Kind) async throws {
        let store = try await make(kind)
        let a = try await store.apply(Self.create("mem-a", "alpha"), at: 1)
        let b = try await store.apply(Self.create("mem-b", "beta"), at: 1)
        let c = try await store.apply(Self.create("mem-c", "gamma", scope: Self.agent), at: 1)
        let gone = try await store.apply(Self.create("mem-d", "delta", expires: 5), at: 1)
        #expect(
            Set(try await store.unembedded(model: "m", scopes: nil, limit: 10).map(\.id)) == [
                a.id, b.id, c.id, gone.id,
            ])
        #expect(try await store.unembedded(model: "m", scopes: [Self.agent], limit: 10).map(\.id) == [c.id])
        // Past its expiry time a memory is not listed as live (it stays in the log and in `includeGone`).
        #expect(!(try await store.list(scopes: nil, includeGone: false)).contains { $0.id == gone.id })
        #expect(try await store.list(scopes: nil, includeGone: true).contains { $0.id == gone.id })
        try await store.setVectors(
            [
                MemoryVector(id: a.id, version: 1, vector: [1, 0, 0]),
                MemoryVector(id: b.id, version: 1, vector: [0.6, 0.8, 0]),
                MemoryVector(id: c.id, version: 1, vector: [1, 0, 0]),
                MemoryVector(id: gone.id, version: 1, vector: [1, 0, 0]),
                MemoryVector(id: MemoryID("mem-none"), version: 1, vector: [1, 0, 0]),
            ], model: "m")
        #expect(try await store.unembedded(model: "m", scopes: nil, limit: 10).isEmpty)
        #expect(try await store.unembedded(model: "other", scopes: nil, limit: 10).count == 4)
        // Nearest first, only the scopes asked for, only live ones, only above the floor.
        let near = try await store.nearest(
            [1, 0.1, 0], model: "m", scopes: [Self.project], limit: 5, atLeast: 0, now: 10)
        #expect(near == [a.id, b.id])
        #expect(
            try await store.nearest([0, 1, 0], model: "m", scopes: [Self.project], limit: 5, atLeast: 0.5, now: 10)
                == [b.id])
        #expect(try await store.nearest([1, 0, 0], model: "other", scopes: nil, limit: 5, atLeast: 0, now: 10).isEmpty)
        // A revision's vector is made again; a vector of the old version is not kept.
        _ = try await store.apply(
            .revised(
                id: a.id, replaces: 1, replacesHash: a.versionHash, text: "alpha two", tags: [],
                source: MemorySource(human: "x"), expires: nil), at: 2)
        #expect(try await store.unembedded(model: "m", scopes: nil, limit: 10).map(\.id) == [a.id])
        try await store.setVectors([MemoryVector(id: a.id, version: 1, vector: [1, 0, 0])], model: "m")
        #expect(try await store.unembedded(model: "m", scopes: nil, limit: 10).map(\.id) == [a.id])
        try await store.setVectors([MemoryVector(id: a.id, version: 2, vector: [0, 0, 1])], model: "m")
        #expect(
            try await store.nearest([0, 0, 1], model: "m", scopes: nil, limit: 1, atLeast: 0.9, now: 10) == [a.id])
        // An expired memory leaves vector search too.
        _ = try await store.apply(.expired(id: b.id, version: 1, reason: "stale", by: "x"), at: 3)
        #expect(
            try await store.nearest([0.6, 0.8, 0], model: "m", scopes: nil, limit: 5, atLeast: 0.9, now: 10).isEmpty)
    }
}

/// What only the SQLite store can show: writers on separate connections, and a tampered log.
@Suite struct SQLiteMemoryStoreTests {
    @Test func writersOnSeparateConnectionsRevisingOneVersionHaveOneWinner() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ns-mem-\(UUID().uuidString)").path
        let a = SQLiteMemoryStore(sharing: try SQLiteEventStore(path: dir + "/ns.db"))
        let b = SQLiteMemoryStore(sharing: try SQLiteEventStore(path: dir + "/ns.db"))
        var m = try await a.apply(MemoryStoreConformanceTests.create("mem-1", "v1"), at: 1)
        for round in 0..<20 {
            let base = m
            func revise(_ s: SQLiteMemoryStore, _ who: String) async -> Memory? {
                try? await s.apply(
                    .revised(
                        id: base.id, replaces: base.version, replacesHash: base.versionHash, text: "\(who) \(round)",
                        tags: [], source: MemorySource(human: who), expires: nil), at: Int64(round + 2))
            }
            async let x = revise(a, "a")
            async let y = revise(b, "b")
            let won = [await x, await y].compactMap { $0 }
            #expect(won.count == 1, "round \(round): \(won.map(\.text))")
            m = try #require(try await a.memory(base.id))
            #expect(m.version == base.version + 1 && won.first?.text == m.text)
        }
        #expect(try await b.verifyLog() == (21, nil))
    }

    @Test func twoConnectionsDecidingOneProposalHaveOneWinner() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ns-mem-\(UUID().uuidString)").path
        let a = SQLiteMemoryStore(sharing: try SQLiteEventStore(path: dir + "/ns.db"))
        let b = SQLiteMemoryStore(sharing: try SQLiteEventStore(path: dir + "/ns.db"))
        let actions = (1...20).map {
            DreamAction.create(
                kind: .lesson, scope: MemoryStoreConformanceTests.project, text: "lesson \($0)", tags: [])
        }
        try await a.record(MemoryStoreConformanceTests.dream("dream-0000000000d3", actions), at: 1)
        for p in try await a.proposals() {
            func accept(_ s: SQLiteMemoryStore, _ who: String) async -> [Memory]? {
                try? await s.decide(
                    p.proposal.id, accepted: true, by: who, note: "",
                    changes: DreamRules.changes(accepting: p, by: who), at: 2)
            }
            async let x = accept(a, "a")
            async let y = accept(b, "b")
            #expect([await x, await y].compactMap { $0 }.count == 1)
        }
        // The dream, and one create and one decision per proposal.
        #expect(try await b.verifyLog() == (41, nil))
        #expect(try await b.list(scopes: nil, includeGone: false).count == 20)
    }

    @Test func aTamperedRecordIsFoundByTheChain() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ns-mem-\(UUID().uuidString)").path
        let store = SQLiteMemoryStore(sharing: try SQLiteEventStore(path: dir + "/ns.db"))
        for k in 1...3 {
            _ = try await store.apply(MemoryStoreConformanceTests.create("mem-\(k)", "lesson \(k)"), at: 1)
        }
        let db = try DatabaseQueue(path: dir + "/ns.db")
        try await db.write { db in
            try db.execute(sql: "UPDATE memory_log SET body = replace(body, 'lesson 2', 'lesson X') WHERE seq = 2")
        }
        let v = try await store.verifyLog()
        #expect(v.records == 2 && v.firstBad == 2)
    }
}

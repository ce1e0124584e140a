import Foundation
import NightshiftCore
import NightshiftPostgres
import Testing

/// Two hosts on one PostgreSQL database (two stores, two connection pools) racing for the same
/// thing: a memory's version, a proposal's decision, a schedule's slot. One wins each race; the
/// other is told so, and the memory log's chain stays linear.
@Suite(.enabled(if: LogStoreKind.available.contains(.postgres)))
struct PostgresStoreRaceTests {
    /// Two hosts' stores on one fresh database.
    func hosts() async throws -> (PostgresEventStore, PostgresEventStore) {
        let a = try await PostgresFixture.store()
        return (a, try await PostgresFixture.store(sharing: a, clockSkew: 0))
    }

    @Test func twoHostsRevisingOneVersionHaveOneWinnerAndTheOtherAConflict() async throws {
        let (hostA, hostB) = try await hosts()
        let (a, b) = (PostgresMemoryStore(sharing: hostA), PostgresMemoryStore(sharing: hostB))
        var m = try await a.apply(MemoryStoreConformanceTests.create("mem-1", "v1"), at: 1)
        for round in 0..<20 {
            let base = m
            func revise(_ s: PostgresMemoryStore, _ who: String) async -> Result<Memory, any Error> {
                do {
                    return .success(
                        try await s.apply(
                            .revised(
                                id: base.id, replaces: base.version, replacesHash: base.versionHash,
                                text: "\(who) \(round)", tags: [], source: MemorySource(human: who), expires: nil),
                            at: Int64(round + 2)))
                } catch { return .failure(error) }
            }
            async let x = revise(a, "a")
            async let y = revise(b, "b")
            let results = [await x, await y]
            let won = results.compactMap { try? $0.get() }
            #expect(won.count == 1, "round \(round): \(won.map(\.text))")
            // The loser is refused by the rules (it saw the winner's version), not by a broken chain.
            for case .failure(let error) in results {
                #expect((error as? MemoryError)?.code == .conflict, "round \(round): \(error)")
            }
            m = try #require(try await b.memory(base.id))
            #expect(m.version == base.version + 1 && won.first?.text == m.text)
        }
        #expect(try await b.verifyLog() == (21, nil))
        #expect(try await a.history(m.id).count == 21)
    }

    @Test func twoHostsDecidingOneProposalHaveOneWinner() async throws {
        let (hostA, hostB) = try await hosts()
        let (a, b) = (PostgresMemoryStore(sharing: hostA), PostgresMemoryStore(sharing: hostB))
        let actions = (1...20).map {
            DreamAction.create(
                kind: .lesson, scope: MemoryStoreConformanceTests.project, text: "lesson \($0)", tags: [])
        }
        try await a.record(MemoryStoreConformanceTests.dream("dream-0000000000d3", actions), at: 1)
        for p in try await a.proposals() {
            func accept(_ s: PostgresMemoryStore, _ who: String) async -> [Memory]? {
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

    @Test func twoHostsClaimingOneSlotMakeOneClaimAndOneSettlement() async throws {
        let (hostA, hostB) = try await hosts()
        let stores = [PostgresScheduleStore(sharing: hostA), PostgresScheduleStore(sharing: hostB)]
        for k in 1...10 {
            let slot = Timestamp(milliseconds: Int64(k) * 60_000)
            // Ten claims at once, five from each host.
            let claims = try await withThrowingTaskGroup(of: Bool.self) { group in
                for n in 0..<10 {
                    group.addTask {
                        try await stores[n % 2].claim("nightly", slot: slot, at: Timestamp(milliseconds: Int64(n)))
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(claims == 1, "slot \(k)")
            async let x = stores[0].settle("nightly", slot: slot, .started, run: RunID("run-a-\(k)"), detail: nil)
            async let y = stores[1].settle("nightly", slot: slot, .started, run: RunID("run-b-\(k)"), detail: nil)
            #expect([try await x, try await y].filter { $0 }.count == 1, "slot \(k)")
        }
        let slots = try await stores[1].slots(of: "nightly", limit: 20)
        #expect(slots.count == 10 && slots.allSatisfy { $0.outcome == .started && $0.run != nil })
    }

    /// A record changed in place (by hand, on the server) breaks the chain where it was changed.
    @Test func aTamperedMemoryRecordIsFoundByTheChain() async throws {
        let (host, _) = try await hosts()
        let store = PostgresMemoryStore(sharing: host)
        for k in 1...3 {
            _ = try await store.apply(MemoryStoreConformanceTests.create("mem-\(k)", "lesson \(k)"), at: 1)
        }
        #expect(try await store.verifyLog() == (3, nil))
        try await host.execute(
            """
            UPDATE memory_log SET body = convert_to(replace(convert_from(body, 'UTF8'), 'lesson 2', 'lesson X'), 'UTF8')
            WHERE seq = 2
            """)
        #expect(try await store.verifyLog() == (2, 2))
    }
}

import Foundation
import NightshiftCore
import NightshiftTesting
import Synchronization
import Testing

@testable import NightshiftRuntime

/// The lease's heartbeat outlives a store's passing trouble and stops only when the lease was
/// taken over.
@Suite(.timeLimit(.minutes(1))) struct LeaseHeartbeatTests {
    /// A lease store whose renewals fail as scripted (a busy database, or a take-over).
    final class FlakyRenewals: LeaseStore, Sendable {
        let base = InMemoryEventStore()
        let failures: Mutex<[StoreError?]>
        let renewed: AsyncStream<Void>.Continuation
        init(_ failures: [StoreError?], renewed: AsyncStream<Void>.Continuation) {
            self.failures = Mutex(failures)
            self.renewed = renewed
        }
        func acquireLease(
            _ key: LeaseKey, holder: LeaseHolder, ttl: Duration, isAlive: @Sendable (LeaseHolder) -> Bool
        ) async throws -> Lease {
            try await base.acquireLease(key, holder: holder, ttl: ttl, isAlive: isAlive)
        }
        func renewLease(_ lease: Lease) async throws {
            renewed.yield()
            if let failure = failures.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { throw failure }
        }
        func releaseLease(_ lease: Lease) async throws { try await base.releaseLease(lease) }
        func handOverLease(_ lease: Lease) async throws { try await base.handOverLease(lease) }
        func leaseRecord(of key: LeaseKey) async throws -> LeaseRecord? { try await base.leaseRecord(of: key) }
    }

    @Test func aBusyStoreDoesNotEndTheHeartbeat() async throws {
        let (renewals, renewed) = AsyncStream<Void>.makeStream()
        let store = FlakyRenewals([StoreError(.locked, "database is locked"), nil], renewed: renewed)
        try await Leasing.withLease(.run(RunID("r")), store: store, handOver: false, beat: .milliseconds(5)) { _ in
            // The first renewal fails, and the heartbeat goes on: a third renewal comes.
            var it = renewals.makeAsyncIterator()
            for _ in 0..<3 { _ = await it.next() }
        }
    }

    @Test func aTakeOverEndsTheHeartbeat() async throws {
        let (renewals, renewed) = AsyncStream<Void>.makeStream()
        let store = FlakyRenewals([StoreError(.leaseLost, "taken over")], renewed: renewed)
        try await Leasing.withLease(.run(RunID("r")), store: store, handOver: false, beat: .milliseconds(5)) { _ in
            var it = renewals.makeAsyncIterator()
            _ = await it.next()
            // No renewal after the one that found the lease taken over (fifty beats' time).
            try await Task.sleep(for: .milliseconds(250))
        }
        renewed.finish()
        var count = 0
        for await _ in renewals { count += 1 }
        #expect(count == 0, "\(count) renewals after the take-over")
    }
}

import Foundation
import NightshiftCore
import NightshiftHands
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
        let renewals = Mutex(0)
        func renewLease(_ lease: Lease) async throws {
            renewals.withLock { $0 += 1 }
            renewed.yield()
            // A take-over stays (every renewal after it finds the lease lost); other trouble passes.
            let failure = failures.withLock { list -> StoreError? in
                guard !list.isEmpty else { return nil }
                let first = list[0]
                if first?.code != .leaseLost { list.removeFirst() }
                return first
            }
            if let failure { throw failure }
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

    /// A take-over stops the body at the next beat: its command (a real process, in its own
    /// group) is killed, not left to run to its own timeout, and no renewal follows.
    @Test func aTakeOverStopsTheBodyAndKillsItsCommand() async throws {
        let (renewals, renewed) = AsyncStream<Void>.makeStream()
        let store = FlakyRenewals([StoreError(.leaseLost, "run r was taken over")], renewed: renewed)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ns-lease-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pidFile = dir + "/pid"
        let error = await #expect(throws: StoreError.self) {
            try await Leasing.withLease(.run(RunID("r")), store: store, handOver: false, beat: .milliseconds(20)) { _ in
                // Ten minutes unless stopped: the suite's one-minute limit fails the test if it is not.
                _ = await ProcessRunner.run(
                    argv: ["/bin/sh", "-c", "echo $$ > \"$0\"; exec sleep 600", pidFile], environment: [:], cwd: dir,
                    timeout: .seconds(600))
            }
        }
        #expect(error?.code == .leaseLost)
        #expect(error?.message.contains("its commands were stopped") == true)
        let pid = try #require(
            Int32(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(kill(pid, 0) == -1 && errno == ESRCH, "the command (pid \(pid)) outlived the lease")
        // No renewal after the heartbeat stopped with the drive (ten beats' time).
        let atEnd = store.renewals.withLock { $0 }
        try await Task.sleep(for: .milliseconds(200))
        #expect(atEnd >= 1 && store.renewals.withLock { $0 } == atEnd, "renewals after the take-over")
        _ = renewals
    }

    /// A store out of reach for longer than the time-to-live less a beat stops the body too:
    /// another process may take the run over soon, and this one must not be working on it then.
    @Test func renewalsFailingTooLongStopTheBody() async throws {
        let (_, renewed) = AsyncStream<Void>.makeStream()
        let store = FlakyRenewals(
            Array(repeating: StoreError(.io, "connection refused"), count: 10_000), renewed: renewed)
        let error = await #expect(throws: StoreError.self) {
            try await Leasing.withLease(
                .run(RunID("r")), store: store, handOver: false, beat: .milliseconds(20), ttl: .milliseconds(300)
            ) { _ in try await Task.sleep(for: .seconds(600)) }
        }
        // The store's trouble, not a take-over: a worker tries the run again once it answers.
        #expect(error?.code == .io)
        #expect(error?.message.contains("could not be renewed") == true)
    }

    /// A renewal that never answers (a link that is down: the query hangs) stops the body too,
    /// by the same deadline: giving up never waits on the store.
    @Test func renewalsThatHangStopTheBody() async throws {
        let store = HangingRenewals()
        let error = await #expect(throws: StoreError.self) {
            try await Leasing.withLease(
                .run(RunID("r")), store: store, handOver: false, beat: .milliseconds(20), ttl: .milliseconds(300)
            ) { _ in try await Task.sleep(for: .seconds(600)) }
        }
        #expect(error?.code == .io)
        #expect(error?.message.contains("could not be renewed") == true, "\(String(describing: error))")
    }

    /// A lease store whose renewals never answer (and ignore cancellation, as a query on a dead
    /// connection may).
    final class HangingRenewals: LeaseStore, Sendable {
        let base = InMemoryEventStore()
        func acquireLease(
            _ key: LeaseKey, holder: LeaseHolder, ttl: Duration, isAlive: @Sendable (LeaseHolder) -> Bool
        ) async throws -> Lease {
            try await base.acquireLease(key, holder: holder, ttl: ttl, isAlive: isAlive)
        }
        func renewLease(_ lease: Lease) async throws {
            await withCheckedContinuation { (_: CheckedContinuation<Void, Never>) in }
        }
        func releaseLease(_ lease: Lease) async throws { try await base.releaseLease(lease) }
        func handOverLease(_ lease: Lease) async throws { try await base.handOverLease(lease) }
        func leaseRecord(of key: LeaseKey) async throws -> LeaseRecord? { try await base.leaseRecord(of: key) }
    }

    /// A body that ends on its own ends the heartbeat, and its result is returned.
    @Test func theBodysResultIsReturned() async throws {
        let (_, renewed) = AsyncStream<Void>.makeStream()
        let store = FlakyRenewals([], renewed: renewed)
        let value = try await Leasing.withLease(.run(RunID("r")), store: store, handOver: false, beat: .seconds(60)) {
            lease in lease.key
        }
        #expect(value == .run(RunID("r")))
        #expect(try await store.leaseRecord(of: .run(RunID("r")))?.released == true)
    }
}

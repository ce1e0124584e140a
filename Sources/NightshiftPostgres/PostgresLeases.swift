import Foundation
import Logging
public import NightshiftCore
import PostgresNIO

/// Leases on the database's clock: `since` and every heartbeat are PostgreSQL's
/// `clock_timestamp()`, and a silent holder's TTL is measured against it, so a host whose clock
/// runs ahead or behind takes nothing early and keeps nothing late.
extension PostgresEventStore {
    /// The database's clock, in milliseconds.
    static let clock: PostgresQuery = "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT"

    static func now(_ c: PostgresConnection, logger: Logger) async throws -> Timestamp {
        for try await ms in try await c.query(clock, logger: logger).decode(Int64.self) {
            return Timestamp(milliseconds: ms)
        }
        throw StoreError(.io, "PostgreSQL did not say its time")
    }

    public func leaseClock() async throws -> Timestamp? {
        do {
            return try await client.withConnection { c in try await Self.now(c, logger: logger) }
        } catch { throw Self.mapError(error, run: nil, expectedSeq: nil) }
    }

    public func acquireLease(
        _ key: LeaseKey, holder: LeaseHolder, ttl: Duration, isAlive: @Sendable (LeaseHolder) -> Bool
    ) async throws -> Lease {
        do {
            return try await client.withTransaction(logger: logger) { c in
                let storage = key.storageKey
                // The row, locked; or, for a key never held, a placeholder row to lock.
                try await c.query(
                    """
                    INSERT INTO lease (key, epoch, host, boot, pid, started, since, heartbeat, released)
                    VALUES (\(storage), 0, '', '', 0, 0, 0, 0, 1) ON CONFLICT (key) DO NOTHING
                    """, logger: logger)
                let current = try await Self.leaseRecord(c, key, lock: true, logger: logger)
                let now = try await Self.now(c, logger: logger)
                if let current, current.lease.epoch > 0, current.lease.holder != holder,
                    !current.isFree(now: now, ttl: ttl, isAlive: isAlive)
                {
                    let since = Date(timeIntervalSince1970: Double(current.lease.since.milliseconds) / 1000)
                    throw StoreError(
                        .leaseHeld,
                        """
                        \(key == .dream ? "the dream lease is held" : "\(key) is being advanced") by \
                        \(current.lease.holder) since \(since.formatted(.iso8601)); wait for it, or stop that process
                        """)
                }
                let epoch = (current?.lease.epoch ?? 0) + 1
                try await c.query(
                    """
                    UPDATE lease SET epoch = \(epoch), host = \(holder.host), boot = \(holder.boot),
                    pid = \(holder.pid), started = \(holder.started), since = \(now.milliseconds),
                    heartbeat = \(now.milliseconds), released = 0 WHERE key = \(storage)
                    """, logger: logger)
                return Lease(key: key, epoch: epoch, holder: holder, since: now)
            }
        } catch { throw Self.mapError(error, run: nil, expectedSeq: nil) }
    }

    public func renewLease(_ lease: Lease) async throws {
        let (key, epoch) = (lease.key.storageKey, lease.epoch)
        var renewed = false
        do {
            for try await _ in try await client.query(
                """
                UPDATE lease SET heartbeat = (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT
                WHERE key = \(key) AND epoch = \(epoch) AND released = 0 RETURNING epoch
                """, logger: logger
            ).decode(Int64.self) { renewed = true }
        } catch { throw Self.mapError(error, run: nil, expectedSeq: nil) }
        guard renewed else {
            throw StoreError(.leaseLost, "\(lease.key) was taken over; this process stops driving it")
        }
    }

    public func releaseLease(_ lease: Lease) async throws {
        let (key, epoch) = (lease.key.storageKey, lease.epoch)
        do {
            try await client.query(
                "UPDATE lease SET released = 1 WHERE key = \(key) AND epoch = \(epoch)", logger: logger)
        } catch { throw Self.mapError(error, run: nil, expectedSeq: nil) }
    }

    /// Stored as `released = 2`, as SQLite does: released, and handed over.
    public func handOverLease(_ lease: Lease) async throws {
        let (key, epoch) = (lease.key.storageKey, lease.epoch)
        do {
            try await client.query(
                "UPDATE lease SET released = 2 WHERE key = \(key) AND epoch = \(epoch) AND released = 0",
                logger: logger)
        } catch { throw Self.mapError(error, run: nil, expectedSeq: nil) }
    }

    public func leaseRecord(of key: LeaseKey) async throws -> LeaseRecord? {
        do {
            return try await client.withConnection { c in
                try await Self.leaseRecord(c, key, lock: false, logger: self.logger)
            }
        } catch { throw Self.mapError(error, run: nil, expectedSeq: nil) }
    }

    /// The lease as stored; nil when nobody ever held it (a placeholder row has epoch 0).
    static func leaseRecord(
        _ c: PostgresConnection, _ key: LeaseKey, lock: Bool, logger: Logger
    ) async throws -> LeaseRecord? {
        let storage = key.storageKey
        let query: PostgresQuery =
            lock
            ? "SELECT epoch, host, boot, pid, started, since, heartbeat, released FROM lease WHERE key = \(storage) FOR UPDATE"
            : "SELECT epoch, host, boot, pid, started, since, heartbeat, released FROM lease WHERE key = \(storage)"
        for try await (epoch, host, boot, pid, started, since, heartbeat, released) in try await c.query(
            query, logger: logger
        ).decode((Int64, String, String, Int32, Int64, Int64, Int64, Int16).self) {
            guard epoch > 0 else { return nil }
            let holder = LeaseHolder(host: host, boot: boot, pid: pid, started: started)
            return LeaseRecord(
                lease: Lease(key: key, epoch: epoch, holder: holder, since: Timestamp(milliseconds: since)),
                heartbeat: Timestamp(milliseconds: heartbeat), released: released != 0, handedOver: released == 2)
        }
        return nil
    }
}

/// Who drives a run: one process on one host. A run is driven by at most one process at a time;
/// its lease names that process and a heartbeat says it is still at work.
public struct LeaseHolder: Sendable, Equatable, Codable, CustomStringConvertible {
    public var host: String
    /// The host's boot: a holder recorded before a reboot is gone, whatever its pid.
    public var boot: String
    public var pid: Int32
    /// When the process started (clock ticks since boot), so a reused pid is not taken for the holder.
    public var started: Int64
    public init(host: String, boot: String, pid: Int32, started: Int64) {
        self.host = host
        self.boot = boot
        self.pid = pid
        self.started = started
    }
    public var description: String { "pid \(pid) on \(host)" }
}

/// What a lease is for: a run (the right to drive it and append to it), or another job only one
/// process may do at a time over a database.
public enum LeaseKey: Hashable, Sendable, CustomStringConvertible {
    case run(RunID)
    /// One dream at a time over a database's runs.
    case dream

    /// The key as stores keep it: the run's id, or `@dream`. A run id that starts with `@` (no
    /// command makes one, but the type allows it) is kept as `@run:ID`, so it never names another key.
    public var storageKey: String {
        switch self {
        case .run(let run): run.rawValue.hasPrefix("@") ? "@run:" + run.rawValue : run.rawValue
        case .dream: "@dream"
        }
    }

    public init(storageKey: String) {
        if storageKey == "@dream" {
            self = .dream
        } else if storageKey.hasPrefix("@run:") {
            self = .run(RunID(String(storageKey.dropFirst(5))))
        } else {
            self = .run(RunID(storageKey))
        }
    }

    public var description: String {
        switch self {
        case .run(let run): "run \(run)"
        case .dream: "the dream lease"
        }
    }
}

/// The right to append to a run (or to do another exclusive job). `epoch` grows at every
/// take-over; a store refuses an append fenced with an older epoch (a process that lost its
/// lease learns it at its next append).
public struct Lease: Sendable, Equatable {
    public var key: LeaseKey
    public var epoch: Int64
    public var holder: LeaseHolder
    public var since: Timestamp
    public init(key: LeaseKey, epoch: Int64, holder: LeaseHolder, since: Timestamp) {
        self.key = key
        self.epoch = epoch
        self.holder = holder
        self.since = since
    }
    public init(run: RunID, epoch: Int64, holder: LeaseHolder, since: Timestamp) {
        self.init(key: .run(run), epoch: epoch, holder: holder, since: since)
    }
}

/// A run's lease as stored: who holds it, since when, their last heartbeat, and whether released.
public struct LeaseRecord: Sendable, Equatable {
    public var lease: Lease
    public var heartbeat: Timestamp
    public var released: Bool
    /// Released because its process stopped (a signal, a shutdown), not because the run stopped:
    /// whoever drove it would have gone on (``LeaseStore/handOverLease(_:)``). Implies `released`.
    public var handedOver: Bool
    public init(lease: Lease, heartbeat: Timestamp, released: Bool, handedOver: Bool = false) {
        self.lease = lease
        self.heartbeat = heartbeat
        self.released = released || handedOver
        self.handedOver = handedOver
    }

    /// Released on purpose by a drive that ended (a pause, an error): not a drive to continue
    /// without a person.
    public var releasedByItsDrive: Bool { released && !handedOver }

    /// Whether someone may take the run over: released, silent for longer than `ttl`, or its
    /// holder known dead (`isAlive` answers for holders it can check, such as local processes).
    public func isFree(now: Timestamp, ttl: Duration, isAlive: (LeaseHolder) -> Bool) -> Bool {
        if released { return true }
        let ttlMs = ttl.components.seconds * 1000 + ttl.components.attoseconds / 1_000_000_000_000_000
        if now.milliseconds - heartbeat.milliseconds >= ttlMs { return true }
        return !isAlive(lease.holder)
    }
}

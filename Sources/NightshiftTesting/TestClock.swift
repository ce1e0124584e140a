public import NightshiftCore
import Synchronization

/// A ``WallClock`` a test sets and moves: deadlines and expiries without sleeping.
public final class TestClock: WallClock, Sendable {
    private let time: Mutex<Int64>
    public init(_ milliseconds: Int64 = 1_700_000_000_000) { time = Mutex(milliseconds) }
    public func now() -> Timestamp { Timestamp(milliseconds: time.withLock { $0 }) }
    /// Moves the clock on by `milliseconds` (or back, with a negative amount: a stepped clock).
    public func advance(_ milliseconds: Int64) { time.withLock { $0 += milliseconds } }
}

public import NightshiftCore
import Synchronization

/// How sub-agents driven in this process ended, as their final committed states say: a parent
/// woken in the same process takes a child's end from here instead of reading the child's log
/// (at the end of a wide fleet, reading hundreds of logs was most of the fan-in). Only ends
/// already durable are held, so what the parent records is what its log would have given.
public final class SettledRuns: Sendable {
    private let ends = Mutex<[RunID: ChildOutcome]>([:])

    public init() {}

    /// Records `run`'s end, once its last commit is durable.
    func record(_ run: RunID, _ outcome: ChildOutcome) { ends.withLock { $0[run] = outcome } }

    /// The end of `run`, if a drive in this process saw it commit.
    public func outcome(of run: RunID) -> ChildOutcome? { ends.withLock { $0[run] } }
}

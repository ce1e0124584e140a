/// Tells a reader that a run's log may have grown, so live views and workers wait for appends
/// instead of polling the store. A signal may come without a new event (a reader then reads
/// nothing new), but an append seen by the store is never left unsignalled to a waiter that
/// read the generation before it.
public protocol LogSignal: Sendable {
    /// A number that grows whenever the log of `run` (of any run, when nil) may have grown.
    /// Read it before reading the log; then ``wait(for:past:timeout:)`` cannot miss an append
    /// that lands between the read and the wait.
    func generation(of run: RunID?) async -> UInt64

    /// Returns true once `generation(of: run)` has passed `seen`, or false when `timeout` passed
    /// first (or the waiting task was cancelled).
    func wait(for run: RunID?, past seen: UInt64, timeout: Duration) async -> Bool

    /// Whether appends by other processes are signalled; false when only this process's own are
    /// (the file system reports no changes, or the watch could not be made): a waiter then finds
    /// other processes' appends only when its timeout passes.
    func hearsOtherProcesses() async -> Bool
}

/// The time of day, for what the log's own clock cannot say (a timer for a wait's deadline, a
/// checkpoint's signing time, a person's decision on a memory). Injected, so tests run on a
/// clock they set; the core itself never reads one (it takes times from the events it folds).
public protocol WallClock: Sendable {
    func now() -> Timestamp
}

public import NightshiftCore

/// What a front end hears while a use case drives a run: every committed event (to print a
/// timeline or stream it), notices for the person (a sealed policy file, an invalid edit), and,
/// when an existing run is woken, the time of its first event (timelines count from it).
public struct RunObserver: Sendable {
    public var event: (@Sendable (EventEnvelope) -> Void)?
    public var notice: @Sendable (String) -> Void
    public var woke: (@Sendable (Timestamp) -> Void)?

    public init(
        event: (@Sendable (EventEnvelope) -> Void)? = nil, notice: @escaping @Sendable (String) -> Void = { _ in },
        woke: (@Sendable (Timestamp) -> Void)? = nil
    ) {
        self.event = event
        self.notice = notice
        self.woke = woke
    }
}

/// How a driven run stopped, and which run it was (a new run's id is chosen by the use case).
public struct RunOutcome: Sendable, Equatable {
    public var run: RunID
    public var reason: StopReason
    /// The run had already ended before this call: nothing was driven.
    public var alreadyEnded: Bool

    public init(run: RunID, reason: StopReason, alreadyEnded: Bool) {
        self.run = run
        self.reason = reason
        self.alreadyEnded = alreadyEnded
    }
}

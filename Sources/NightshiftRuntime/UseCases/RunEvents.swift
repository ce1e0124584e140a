public import NightshiftCore

/// A run's events after a position, in order, read a page at a time; when following, then each
/// new event as it is appended, until the run stops running (pauses, finishes or fails) and every
/// event was delivered. Waits on the store's ``LogSignal``, never a fixed poll: a follower of a
/// quiet run reads nothing. For `nightshift log --follow`, and for any live view.
public struct RunEvents: AsyncSequence, Sendable {
    public typealias Element = EventEnvelope
    let run: RunID
    let after: Int64
    let follow: Bool
    /// Following, a pause does not end it: only the run's end does (a live view over hours,
    /// across approvals and resumes).
    let throughPauses: Bool
    let store: any EventLog & LogSignal
    /// The longest wait without a signal before reading again (a signal can be missed where the
    /// file system reports no changes).
    let fallback: Duration

    public init(
        of run: RunID, after: Int64 = 0, follow: Bool, throughPauses: Bool = false, store: any EventLog & LogSignal,
        fallback: Duration = .seconds(2)
    ) {
        self.run = run
        self.after = after
        self.follow = follow
        self.throughPauses = throughPauses
        self.store = store
        self.fallback = fallback
    }

    public func makeAsyncIterator() -> Iterator { Iterator(feed: self, position: Swift.max(after, 0)) }

    public struct Iterator: AsyncIteratorProtocol {
        let feed: RunEvents
        var position: Int64
        var page: [EventEnvelope] = []
        var index = 0
        var done = false

        public mutating func next() async throws -> EventEnvelope? {
            while index == page.count {
                if done { return nil }
                let seen = await feed.store.generation(of: feed.run)
                page = try await feed.store.read(feed.run, after: position, limit: 500)
                index = 0
                if let last = page.last {
                    position = last.seq
                    break
                }
                guard feed.follow else {
                    done = true
                    return nil
                }
                if let s = try await feed.store.summary(of: feed.run), s.headSeq == position,
                    feed.throughPauses ? (s.status == .finished || s.status == .failed) : s.status != .running
                {
                    done = true
                    return nil
                }
                _ = await feed.store.wait(for: feed.run, past: seen, timeout: feed.fallback)
                try Task.checkCancellation()
            }
            index += 1
            return page[index - 1]
        }
    }
}

public import NightshiftCore

/// The database's runs, read again whenever any run's log may have grown (the store's
/// ``LogSignal`` for every run), never on a fixed poll: a live runs table. The first element is
/// the runs as they are; each later one follows an append.
public struct RunsFeed: AsyncSequence, Sendable {
    public typealias Element = [RunSummary]
    let store: any EventStore & LogSignal
    /// The longest wait without a signal before reading again.
    let fallback: Duration

    init(store: any EventStore & LogSignal, fallback: Duration = .seconds(30)) {
        self.store = store
        self.fallback = fallback
    }

    public func makeAsyncIterator() -> Iterator { Iterator(feed: self) }

    public struct Iterator: AsyncIteratorProtocol {
        let feed: RunsFeed
        var seen: UInt64?

        public mutating func next() async throws -> [RunSummary]? {
            if let seen {
                while !(await feed.store.wait(for: nil, past: seen, timeout: feed.fallback)) {
                    try Task.checkCancellation()
                }
            }
            try Task.checkCancellation()
            seen = await feed.store.generation(of: nil)
            return try await feed.store.runs()
        }
    }
}

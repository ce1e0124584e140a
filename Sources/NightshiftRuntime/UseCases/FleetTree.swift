public import NightshiftCore

/// A run and the sub-agents under it, with what each spent, for `status`: read from each run's
/// own log (a child that never got a log shows as not made).
public struct FleetTree: Sendable {
    public var run: RunID
    public var profile: String?
    public var status: String
    /// What this run itself spent.
    public var own: Spent
    /// Its reservation from its parent (nil for the root).
    public var reservation: Budget?
    public var children: [FleetTree]

    /// What the whole subtree spent.
    public var total: Spent { children.reduce(own) { $0 + $1.total } }

    public static func load(_ run: RunID, store: any EventStore) async throws -> FleetTree {
        try await load(run, store: store, profile: nil, reservation: nil)
    }

    static func load(
        _ run: RunID, store: any EventStore, profile: String?, reservation: Budget?
    ) async throws -> FleetTree {
        let state = try await store.state(of: run)
        var children: [FleetTree] = []
        for c in state.fleet.children {
            if c.created, try await store.summary(of: c.id) != nil {
                children.append(try await load(c.id, store: store, profile: c.profile, reservation: c.budget))
            } else {
                children.append(
                    FleetTree(
                        run: c.id, profile: c.profile, status: c.outcome.map { "\($0.status)" } ?? "not made yet",
                        own: c.outcome?.spent ?? Spent(), reservation: c.budget, children: []))
            }
        }
        let status = state.status == .paused && state.pauseKind == .agents ? "waiting" : state.status.rawValue
        return FleetTree(
            run: run, profile: profile ?? state.settings.profile?.name, status: status, own: state.ownSpent,
            reservation: reservation, children: children)
    }
}

/// Makes sub-agents' runs: their logs, workspaces, models, policies and guidance come from
/// their profiles, which only the application layer can read. The harness asks for a child only
/// after the parent's log records it as spawned, and asks again after a crash: making a child
/// that exists already must find it, never make a second one.
public protocol ChildRunMaker: Sendable {
    /// The profiles a coordinator may spawn.
    var profiles: [SpawnableProfile] { get }

    /// Makes (or finds) the child's run and returns its workspace.
    /// - Throws: when it cannot be made; the parent records the child as failed with the message.
    func make(_ child: ChildToMake) async throws -> String
}

/// Everything a child run is made from: the parent as it is now, and the child as spawned.
public struct ChildToMake: Sendable {
    public var parent: RunState
    public var child: RunState.Fleet.Child
    public var task: PlanTask
    public init(parent: RunState, child: RunState.Fleet.Child, task: PlanTask) {
        self.parent = parent
        self.child = child
        self.task = task
    }
    /// The parent link the child records.
    public var link: ParentLink { ParentLink(run: parent.run, call: child.call, depth: parent.depth + 1) }
}

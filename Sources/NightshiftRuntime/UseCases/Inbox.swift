public import NightshiftCore
import NightshiftHands
public import NightshiftSQLite

/// What waits for a person: every paused run, filed by why it paused. The rules of what a run
/// waits for are the fold's (``RunState/awaitingApproval``, ``RunState/pauseKind``), not text.
public enum Inbox {
    /// One paused run.
    public struct Item: Sendable, Equatable {
        public var run: RunID
        public var task: TaskID?
        /// Why it paused; nil for a pause whose reason no version of Nightshift classifies.
        public var kind: PauseKind?
        public var reason: String
        /// The call waiting for `approve` or `deny`, when that is what it waits for.
        public var waiting: RunState.PendingTool?
    }

    /// The paused runs of `store`, in the order the store lists runs. A coordinator waiting for
    /// its sub-agents waits for no person and is not listed (its sub-agents are, when they wait).
    public static func items(_ store: any EventStore) async throws -> [Item] {
        var items: [Item] = []
        for summary in try await store.runs() where summary.status == .paused {
            let state = try await store.state(of: summary.id)
            guard let need = state.waitsFor else { continue }
            items.append(
                Item(
                    run: summary.id, task: state.current.map { state.tasks[$0].id }, kind: need.kind,
                    reason: state.statusReason ?? "", waiting: state.awaitingApproval))
        }
        return items
    }

    /// Memories runs proposed (`remember`) that wait for a person to accept or decline them.
    public static func proposals(_ store: any RunDatabase) async throws -> [MemoryBank.Proposal] {
        try await MemoryBank(store: store.memoryBank, runs: store, by: "inbox").proposals()
            .filter { $0.status == .waiting }
    }

    /// What dreams proposed that waits for a person (`approve ID` / `deny ID`).
    public static func dreamProposals(_ store: any RunDatabase) async throws -> [ProposalState] {
        try await store.memoryBank.proposals().filter { $0.status == .waiting }
    }

    /// One run's case for a decision: its state, its latest events, and the diff of its workspace.
    public struct Case: Sendable {
        public var state: RunState
        public var recent: [EventEnvelope]
        /// The time of the run's first event (timelines count from it).
        public var start: Timestamp
        /// The workspace's diff, read with the git directory fixed when the run started; nil when
        /// the workspace is not a repository Nightshift set up for the run.
        public var diff: String?
        /// The plan, when it waits for review.
        public var planForReview: Plan?
    }

    public static func detail(_ run: RunID, store: any EventStore, recent: Int = 15) async throws -> Case {
        guard try await store.summary(of: run) != nil else {
            throw RuntimeError(.notFound, "no run \(run) (nightshift status lists the runs)")
        }
        let state = try await store.state(of: run)
        let first = try await store.read(run, after: 0, limit: 1).first?.time ?? Timestamp(milliseconds: 0)
        let events = try await store.read(run, after: max(state.lastSeq - Int64(recent), 0), limit: recent)
        // The hardened environment and no external diff or textconv: nothing the agent wrote runs
        // on this machine as the person reading.
        let diff = await GitWorkspace(trust: Adapters.gitTrust(state)).diff(workspace: state.workspace)
        let review =
            state.settings.loop?.reviewPlan == true && !state.planning.planApproved && state.current == nil
            ? state.plan : nil
        return Case(state: state, recent: events, start: first, diff: diff, planForReview: review)
    }
}

/// How a child run ended, as its parent records it. The raw values are the on-disk vocabulary.
public enum ChildEnd: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// Every task of the child was done.
    case finished
    /// The child finished with tasks it could not do.
    case blocked
    /// The child failed (its reservation ran out, it stopped on a blocked task, it could not be made).
    case failed
    /// A person cancelled it, or the run that spawned it ended.
    case cancelled
    public var description: String { rawValue }
}

/// What a run spent, in the units budgets count: what a child's settlement gives back to its parent.
public struct Spent: Sendable, Codable, Equatable {
    public var tokens: Int64
    public var costPicoUSD: Int64
    public var toolCalls: Int64
    /// Model calls.
    public var steps: Int64
    public init(tokens: Int64 = 0, costPicoUSD: Int64 = 0, toolCalls: Int64 = 0, steps: Int64 = 0) {
        self.tokens = tokens
        self.costPicoUSD = costPicoUSD
        self.toolCalls = toolCalls
        self.steps = steps
    }

    /// The amount of `resource` (wall time is not carved from a parent: nil).
    public func amount(_ resource: BudgetResource) -> Int64? {
        switch resource {
        case .tokens: tokens
        case .costPicoUSD: costPicoUSD
        case .toolCalls: toolCalls
        case .steps: steps
        case .wallSeconds: nil
        }
    }

    public static func + (a: Spent, b: Spent) -> Spent {
        Spent(
            tokens: a.tokens.plusSaturating(b.tokens), costPicoUSD: a.costPicoUSD.plusSaturating(b.costPicoUSD),
            toolCalls: a.toolCalls.plusSaturating(b.toolCalls), steps: a.steps.plusSaturating(b.steps))
    }
}

/// A child run's end, delivered to its parent as one `child_ended` event.
public struct ChildOutcome: Sendable, Codable, Equatable {
    public var status: ChildEnd
    /// The child's final summary (or why it failed), cut to ``ChildOutcome/summaryLimit``.
    public var summary: String
    /// The branch holding the child's work, when it worked in a git worktree.
    public var branch: String?
    public var spent: Spent
    public init(status: ChildEnd, summary: String, branch: String?, spent: Spent) {
        self.status = status
        self.summary = String(summary.prefix(Self.summaryLimit))
        self.branch = branch
        self.spent = spent
    }
    public static let summaryLimit = 2000
}

/// What a child run records of the run that spawned it: the parent, the call that spawned it,
/// and how deep in the tree it is (the root's children are at depth 1).
public struct ParentLink: Sendable, Codable, Equatable {
    public var run: RunID
    public var call: CallID
    public var depth: Int
    public init(run: RunID, call: CallID, depth: Int) {
        self.run = run
        self.call = call
        self.depth = depth
    }
}

/// How wide and deep a run's fleet may grow: part of the policy (`fleet:`), with these defaults
/// when the policy says nothing or there is no policy.
public struct FleetLimits: Sendable, Codable, Equatable {
    /// The deepest a run may be and still spawn: a run at depth `maxDepth` cannot. Defaults to 3.
    public var maxDepth: Int
    /// Children one run may spawn over its life. Defaults to 1,000.
    public var maxChildren: Int
    public init(maxDepth: Int = 3, maxChildren: Int = 1000) {
        self.maxDepth = maxDepth
        self.maxChildren = maxChildren
    }

    /// The tighter of two sets of limits: a sub-agent's policy never lets it spawn deeper or more
    /// than its parent's does.
    public func tightened(by other: FleetLimits) -> FleetLimits {
        FleetLimits(maxDepth: min(maxDepth, other.maxDepth), maxChildren: min(maxChildren, other.maxChildren))
    }
}

/// A profile as a coordinator may spawn it: what the decision needs (its name, version and
/// default budget), offered by whoever makes child runs.
public struct SpawnableProfile: Sendable, Equatable {
    public var name: String
    public var description: String
    public var version: String
    public var budget: Budget?
    /// How many of its runs one coordinator may have open at once (`max_concurrent`); nil: no limit
    /// beyond the fleet's.
    public var maxConcurrent: Int?
    public init(name: String, description: String, version: String, budget: Budget?, maxConcurrent: Int? = nil) {
        self.name = name
        self.description = description
        self.version = version
        self.budget = budget
        self.maxConcurrent = maxConcurrent
    }
}

extension RunState {
    /// The runs this one spawned, and its waiting on them.
    public struct Fleet: Sendable, Codable, Equatable {
        public var children: [Child] = []
        /// The `resumes` count when the children were last polled for the pending wait (a wait
        /// polls once per wake, then parks the run).
        public var polledAtResume: Int?
        /// The `wait_agents` call in progress (or a coding fleet's wait for any of its workers).
        public var wait: Wait?
        /// The merge the merge queue began and has not ended (a coding fleet merges one at a time).
        public var merging: Merging?
        public init() {}

        public struct Merging: Sendable, Codable, Equatable {
            public var task: TaskID
            public var child: RunID
            public var branch: String
        }

        public struct Wait: Sendable, Codable, Equatable {
            public var call: CallID
            public var agents: [RunID]
            /// How many of them must have ended.
            public var need: Int
            /// When the wait gives up, by the log's clock (ms); nil: it waits as long as it takes.
            public var deadline: Int64?
        }

        public struct Child: Sendable, Codable, Equatable {
            public var id: RunID
            public var call: CallID
            public var profile: String
            public var version: String
            public var task: TaskID
            /// The whole task, kept only until the child's log exists (it is in that log from then on).
            public var spec: PlanTask?
            /// Its reservation: what it may spend, held from the parent's budget until it ends.
            public var budget: Budget
            /// Its log exists (`child_created`).
            public var created = false
            public var workspace: String?
            public var outcome: ChildOutcome?
        }

        private enum CodingKeys: String, CodingKey { case children, polledAtResume, wait, merging }
        public init(from decoder: any Decoder) throws {
            // Absent in snapshots written before fleets: an empty fleet.
            let c = try decoder.container(keyedBy: CodingKeys.self)
            children = try c.decodeIfPresent([Child].self, forKey: .children) ?? []
            polledAtResume = try c.decodeIfPresent(Int.self, forKey: .polledAtResume)
            wait = try c.decodeIfPresent(Wait.self, forKey: .wait)
            merging = try c.decodeIfPresent(Merging.self, forKey: .merging)
        }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            if !children.isEmpty { try c.encode(children, forKey: .children) }
            try c.encodeIfPresent(polledAtResume, forKey: .polledAtResume)
            try c.encodeIfPresent(wait, forKey: .wait)
            try c.encodeIfPresent(merging, forKey: .merging)
        }

        /// The recorded ends, by child (one pass, for decisions over many children).
        public var outcomes: [RunID: ChildOutcome] {
            var out: [RunID: ChildOutcome] = [:]
            for c in children { if let o = c.outcome { out[c.id] = o } }
            return out
        }

        /// Children whose end is not yet recorded.
        public var open: [Child] { children.filter { $0.outcome == nil } }

        /// What the settled children spent.
        public var settled: Spent { children.reduce(Spent()) { $0 + ($1.outcome?.spent ?? Spent()) } }

        /// What the open children may still spend, for `resource` (nil: one of them has no limit on it).
        public func reserved(_ resource: BudgetResource) -> Int64? {
            var total: Int64 = 0
            for c in open {
                guard let v = c.budget.amount(resource) else { return nil }
                total = total.plusSaturating(v)
            }
            return total
        }
    }

    /// This run's depth in its tree: 0 for a root.
    public var depth: Int { settings.parent?.depth ?? 0 }

    /// A cancellation's reason starts with this (``RunState/childOutcome`` tells a cancelled run by it).
    public static let cancelledPrefix = "cancelled by "

    /// How this run ended, as its parent records it; nil while it has not ended.
    public var childOutcome: ChildOutcome? {
        let spent = ownSpent
        switch status {
        case .finished:
            let done = tasks.filter { $0.status == .done }.count
            let blocked = done < tasks.count
            var summary = "\(done) of \(tasks.count) tasks done"
            if let h = handoff, !h.done.isEmpty { summary += ". " + h.done }
            if let note = lastNote, handoff == nil { summary += ". " + note }
            return ChildOutcome(status: blocked ? .blocked : .finished, summary: summary, branch: branch, spent: spent)
        case .failed:
            let reason = statusReason ?? "failed"
            return ChildOutcome(
                status: reason.hasPrefix(Self.cancelledPrefix) ? .cancelled : .failed, summary: reason, branch: branch,
                spent: spent)
        case .running, .paused:
            return nil
        }
    }
}

extension Budget {
    /// The limit on `resource`, in the units ``Spent`` counts.
    public func amount(_ resource: BudgetResource) -> Int64? {
        switch resource {
        case .tokens: tokens.map(Int64.init)
        case .costPicoUSD: costPicoUSD
        case .toolCalls: toolCalls.map(Int64.init)
        case .steps: steps.map(Int64.init)
        case .wallSeconds: wallSeconds.map(Int64.init)
        }
    }
}

extension Policy {
    /// This policy (a profile's own) as a sub-agent gets it under a parent: it spawns no deeper and
    /// no more than the parent may (the parent's limits, or the defaults when its policy sets
    /// none), and has the network only if the parent does. The network is always stated, so the
    /// child's sandbox setting cannot fill in what the profile left out.
    public func bounded(byParent parent: Policy?, parentHasNetwork: Bool) -> Policy {
        var policy = self
        policy.fleet = (policy.fleet ?? FleetLimits()).tightened(by: parent?.fleet ?? FleetLimits())
        policy.network = (policy.network ?? parentHasNetwork) && parentHasNetwork
        return policy
    }
}

public import NightshiftCore

/// How each agent (profile and version) performed, from its runs' logs: what it finished, how
/// often its work came back, how often it asked for a person, what a finished task cost. Read
/// from the events, never from anything a run wrote about itself.
public enum Scorecards {
    /// The agent a run worked as: its profile's name and version, or "(no profile)".
    public struct Agent: Hashable, Sendable, Comparable {
        public var name: String
        public var version: String
        public init(name: String, version: String) {
            self.name = name
            self.version = version
        }
        public static func < (a: Agent, b: Agent) -> Bool { (a.name, a.version) < (b.name, b.version) }
    }

    /// One agent's figures over the runs counted.
    public struct Card: Sendable, Equatable {
        public var agent: Agent
        public var runs = 0
        public var tasksFinished = 0
        /// Finished on the first attempt.
        public var firstAttempt = 0
        /// Attempts sent back by the checks, and by the judge.
        public var reworkByChecks = 0
        public var reworkByJudge = 0
        public var escalations = 0
        public var approvalsAsked = 0
        public var approvalsDenied = 0
        public var budgetTrips = 0
        public var breakerTrips = 0
        public var costPicoUSD: Int64 = 0
        public var tokens = 0
        /// Each finished task's time from its first start to its end, in milliseconds.
        public var taskMilliseconds: [Int64] = []

        public init(agent: Agent) { self.agent = agent }

        /// Adds another card's tallies (of the same agent) to this one.
        public mutating func absorb(_ other: Card) {
            runs += other.runs
            tasksFinished += other.tasksFinished
            firstAttempt += other.firstAttempt
            reworkByChecks += other.reworkByChecks
            reworkByJudge += other.reworkByJudge
            escalations += other.escalations
            approvalsAsked += other.approvalsAsked
            approvalsDenied += other.approvalsDenied
            budgetTrips += other.budgetTrips
            breakerTrips += other.breakerTrips
            costPicoUSD += other.costPicoUSD
            tokens += other.tokens
            taskMilliseconds += other.taskMilliseconds
        }

        /// First-attempt pass rate over finished tasks (nil when none finished).
        public var firstAttemptRate: Double? {
            tasksFinished == 0 ? nil : Double(firstAttempt) / Double(tasksFinished)
        }
        /// Attempts sent back per finished task.
        public var reworkRate: Double? {
            tasksFinished == 0 ? nil : Double(reworkByChecks + reworkByJudge) / Double(tasksFinished)
        }
        public var costPerTaskPicoUSD: Int64? {
            tasksFinished == 0 ? nil : costPicoUSD / Int64(tasksFinished)
        }
        public var tokensPerTask: Int? { tasksFinished == 0 ? nil : tokens / tasksFinished }
        public var medianTaskMilliseconds: Int64? {
            guard !taskMilliseconds.isEmpty else { return nil }
            let sorted = taskMilliseconds.sorted()
            return sorted[sorted.count / 2]
        }
    }

    /// Adds one run's log to `card` (pure: the tally of its events).
    public static func add(_ events: [EventEnvelope], state: RunState, to card: inout Card) {
        card.runs += 1
        var started: [TaskID: Int64] = [:]
        for e in events {
            switch e.event {
            case let .taskStarted(task, _):
                if started[task] == nil { started[task] = e.time.milliseconds }
            case let .taskFinished(task, attempt, _):
                card.tasksFinished += 1
                if attempt == 1 { card.firstAttempt += 1 }
                if let begun = started[task] { card.taskMilliseconds.append(e.time.milliseconds - begun) }
            case .taskAttemptFailed: card.reworkByChecks += 1
            case let .judgeVerdict(_, _, verdict, _) where verdict == .rework: card.reworkByJudge += 1
            case .escalated: card.escalations += 1
            case let .toolDecided(_, effect, _, _) where effect == .ask: card.approvalsAsked += 1
            case let .approvalDecided(_, approved, _, _, _) where !approved: card.approvalsDenied += 1
            case .budgetExhausted: card.budgetTrips += 1
            case .breakerTripped: card.breakerTrips += 1
            default: break
            }
        }
        card.costPicoUSD += state.costPicoUSD
        card.tokens += state.usage.input + state.usage.output
    }

    /// The cards of every agent with a run created at or after `since`, by agent.
    static func cards(store: any EventStore, since: Timestamp?) async throws -> [Card] {
        try await periods(store: store, since: since, length: nil).map(\.card)
    }

    /// One agent version's card for one period: the runs created in it.
    public struct Period: Sendable, Equatable {
        /// When the period begins (a multiple of its length since 1970, UTC).
        public var start: Timestamp
        public var card: Card
    }

    /// The cards of every agent, by period of `length` (nil: one period holding every run) of
    /// the runs created at or after `since`: each version's trend, period by period.
    static func periods(store: any EventStore, since: Timestamp?, length: Duration?) async throws -> [Period] {
        var runs: [(created: Timestamp, card: Card)] = []
        for summary in try await store.runs() {
            if let since, summary.created.milliseconds < since.milliseconds { continue }
            let events = try await store.readAll(summary.id)
            let state = try RunState.fold(summary.id, events)
            var card = Card(
                agent: Agent(
                    name: state.settings.profile?.name ?? "(no profile)",
                    version: state.settings.profile.map { String($0.version.prefix(12)) } ?? "-"))
            add(events, state: state, to: &card)
            runs.append((summary.created, card))
        }
        return group(runs, length: length)
    }

    /// Runs' cards (each with when its run was created) summed by agent and by period of
    /// `length` (nil: one period), sorted by agent, then period (pure).
    public static func group(_ runs: [(created: Timestamp, card: Card)], length: Duration?) -> [Period] {
        let ms = length.map { max(1, Int64($0.components.seconds) * 1000) }
        var cards: [Key: Card] = [:]
        for run in runs {
            let start = ms.map { run.created.milliseconds / $0 * $0 } ?? 0
            cards[Key(agent: run.card.agent, start: start), default: Card(agent: run.card.agent)].absorb(run.card)
        }
        return cards.map { Period(start: Timestamp(milliseconds: $0.key.start), card: $0.value) }
            .sorted { ($0.card.agent, $0.start) < ($1.card.agent, $1.start) }
    }

    private struct Key: Hashable {
        var agent: Agent
        var start: Int64
    }
}

public import Foundation

/// What starts a run without a person at a terminal, recorded in its `run_created` settings:
/// who or what triggered it, so the log says why it exists.
public struct RunTrigger: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable, Equatable {
        /// `POST /api/runs` with a token.
        case api
        /// A signed `POST /hooks/NAME`.
        case webhook
        /// A schedule's slot.
        case schedule
    }
    public var kind: Kind
    /// The hook's or schedule's name; for the API, the token's name.
    public var name: String
    /// Who: the token's principal, the hook (its signature checked), or the schedule's author.
    public var by: String
    /// The webhook's delivery id, or the schedule's slot as an ISO 8601 time.
    public var detail: String?
    /// The SHA-256 of the webhook's body as received.
    public var payloadSHA256: String?

    public init(kind: Kind, name: String, by: String, detail: String? = nil, payloadSHA256: String? = nil) {
        self.kind = kind
        self.name = name
        self.by = by
        self.detail = detail
        self.payloadSHA256 = payloadSHA256
    }
}

/// What a webhook or a schedule starts: a goal or a plan, with the agent profile and the
/// workspace a person chose (or, for a schedule, a dream over memory scopes). Nothing in a
/// trigger's data can change these: a payload's fields only fill the goal's `{{placeholders}}`.
public struct RunTemplate: Sendable, Codable, Equatable {
    public var goal: String?
    public var plan: Plan?
    /// A schedule's dream: the memory scopes it reviews the finished runs of (no run is started;
    /// its proposals wait in the inbox, as `nightshift dream`'s do).
    public var dream: [MemoryScope]?
    /// For a goal: the planner's plan waits for a person's review before any of it runs (a
    /// webhook's payload fills the goal the planner reads, so it can shape the checks).
    public var reviewPlan: Bool?
    /// The agent profile the run starts as (from the workspace's pinned profiles); nil: none.
    public var agent: String?
    /// The folder the run works in (a git repository gets a worktree of its own).
    public var workspace: String

    public init(
        goal: String? = nil, plan: Plan? = nil, dream: [MemoryScope]? = nil, agent: String? = nil, workspace: String
    ) {
        self.goal = goal
        self.plan = plan
        self.dream = dream
        self.agent = agent
        self.workspace = workspace
    }
}

/// After downtime (no process was running when slots came), what a schedule does about the
/// slots it missed.
public enum CatchUp: String, Sendable, Codable, CaseIterable {
    /// Missed slots start nothing; the next slot on time does.
    case skip
    /// One run for the latest missed slot, however many were missed.
    case once
}

/// A schedule a person added (`nightshift schedule add`): kept in the database, never in a
/// workspace, so no agent can add or change one.
public struct Schedule: Sendable, Equatable {
    public var name: String
    public var cron: String
    /// The IANA zone the cron is read in (`UTC` unless the person chose one).
    public var timeZone: String
    public var template: RunTemplate
    public var catchUp: CatchUp
    public var paused: Bool
    public var created: Timestamp
    public var createdBy: String

    public init(
        name: String, cron: String, timeZone: String = "UTC", template: RunTemplate, catchUp: CatchUp = .skip,
        paused: Bool = false, created: Timestamp, createdBy: String
    ) {
        self.name = name
        self.cron = cron
        self.timeZone = timeZone
        self.template = template
        self.catchUp = catchUp
        self.paused = paused
        self.created = created
        self.createdBy = createdBy
    }

    /// Names are ids in run ids and URLs: letters, digits, `-` and `_`, 1–64 of them.
    public static func checkName(_ name: String) -> String? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
        guard (1...64).contains(name.count), name.allSatisfy({ allowed.contains($0) }) else {
            return "'\(name)' is not a name: use 1–64 letters, digits, '-' or '_'"
        }
        return nil
    }
}

/// One slot of a schedule as it was settled: the run it started, or why it started none.
public struct ScheduleSlot: Sendable, Equatable {
    public enum Outcome: String, Sendable, Equatable {
        /// Claimed; its run is being made (or the process died making it).
        case claimed
        case started
        /// Missed during downtime and skipped (catch-up `skip`).
        case skipped
        /// The run could not be made (its configuration failed the checks).
        case failed
    }
    public var schedule: String
    public var slot: Timestamp
    public var claimed: Timestamp
    public var outcome: Outcome
    public var run: RunID?
    public var detail: String?

    public init(
        schedule: String, slot: Timestamp, claimed: Timestamp, outcome: Outcome, run: RunID? = nil,
        detail: String? = nil
    ) {
        self.schedule = schedule
        self.slot = slot
        self.claimed = claimed
        self.outcome = outcome
        self.run = run
        self.detail = detail
    }
}

/// When a schedule is due, decided from its cron, the last slot any process claimed and the time.
public enum ScheduleDue: Equatable, Sendable {
    /// Start a run for this slot.
    case fire(Timestamp)
    /// This slot was missed (the latest of those missed); record it skipped, start nothing.
    case skip(Timestamp)

    /// How late a slot may be taken and still count as on time.
    public static let grace: Int64 = 120_000

    /// The slot to settle now, if any: the latest slot after `since` (the last claimed slot, or the
    /// schedule's creation) and not after `now`. On time, it fires; missed (later than ``grace``),
    /// it fires once or is skipped by `catchUp`. Only the latest counts: earlier missed ones are
    /// never started, so a week of downtime starts at most one run.
    public static func due(cron: Cron, zone: TimeZone, since: Timestamp, now: Timestamp, catchUp: CatchUp) -> Self? {
        guard let first = cron.next(after: since, in: zone), first <= now else { return nil }
        // The latest slot: searched from a window before `now` that grows until it holds one
        // (a slot every minute after a year down takes a few steps, not half a million).
        var latest = first
        for window: Int64 in [3_600_000, 86_400_000, 32 * 86_400_000, 400 * 86_400_000] {
            var from = max(since, Timestamp(milliseconds: now.milliseconds - window))
            var found: Timestamp?
            while let next = cron.next(after: from, in: zone), next <= now {
                found = next
                from = next
            }
            if let found {
                latest = max(latest, found)
                break
            }
        }
        if now.milliseconds - latest.milliseconds <= grace { return .fire(latest) }
        switch catchUp {
        case .once: return .fire(latest)
        case .skip: return .skip(latest)
        }
    }
}

/// Slot times as people read them and run ids carry them.
extension Timestamp {
    /// `2026-12-08T02:00Z`: minute precision, UTC.
    public var slotText: String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents(
            [.year, .month, .day, .hour, .minute], from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
        func two(_ n: Int?) -> String { String(format: "%02d", n ?? 0) }
        return "\(c.year ?? 0)-\(two(c.month))-\(two(c.day))T\(two(c.hour)):\(two(c.minute))Z"
    }
}

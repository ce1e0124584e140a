import Foundation
import NightshiftCore
import NightshiftRuntime

// What the API answers and accepts, as JSON (snake_case keys). Built from the runtime's values;
// no rule is decided here.

/// One run in a list.
struct RunSummaryBody: Codable, Sendable {
    var id: String
    var title: String
    var status: String
    var events: Int64
    var created: Int64
    var updated: Int64

    init(_ r: RunSummary) {
        (id, title, status) = (r.id.rawValue, r.title, r.status.rawValue)
        (events, created, updated) = (r.headSeq, r.created.milliseconds, r.updated.milliseconds)
    }
}

struct RunListBody: Codable, Sendable {
    var runs: [RunSummaryBody]
    /// Pass as `offset` for the next page; absent on the last page.
    var nextOffset: Int?

    enum CodingKeys: String, CodingKey {
        case runs
        case nextOffset = "next_offset"
    }
}

/// One run as its log stands, checked.
struct RunBody: Codable, Sendable {
    struct Task: Codable, Sendable {
        var id: String
        var status: String
        var attempts: Int
        var costPicoUSD: Int64

        enum CodingKeys: String, CodingKey {
            case id, status, attempts
            case costPicoUSD = "cost_pico_usd"
        }
    }
    struct Waits: Codable, Sendable {
        var kind: String?
        var call: String?
    }
    var id: String
    var title: String
    var status: String
    var reason: String?
    var waitsFor: Waits?
    var model: String
    var events: Int64
    var modelCalls: Int
    var toolCalls: Int
    var costPicoUSD: Int64
    var tasks: [Task]
    /// The log does not verify, or went back from its witnessed head.
    var damaged: Bool
    /// Who drives it now, when a live process does.
    var drivenBy: String?

    enum CodingKeys: String, CodingKey {
        case id, title, status, reason, model, events, tasks, damaged
        case waitsFor = "waits_for"
        case modelCalls = "model_calls"
        case toolCalls = "tool_calls"
        case costPicoUSD = "cost_pico_usd"
        case drivenBy = "driven_by"
    }

    init(_ view: Inspect.RunView) {
        let s = view.state
        id = s.run.rawValue
        title = s.title
        status = s.status.rawValue
        reason = s.statusReason
        waitsFor = s.waitsFor.map { Waits(kind: $0.kind?.rawValue, call: $0.call?.rawValue) }
        model = s.model
        events = s.lastSeq
        modelCalls = s.spend.modelCalls
        toolCalls = s.toolCalls
        costPicoUSD = s.costPicoUSD
        tasks = s.tasks.map {
            Task(id: $0.id.rawValue, status: $0.status.rawValue, attempts: $0.attempts, costPicoUSD: $0.costPicoUSD)
        }
        damaged = view.damaged
        drivenBy = view.drivenBy.map { "\($0.holder)" }
    }
}

/// One run waiting for a person.
struct InboxItemBody: Codable, Sendable {
    struct Call: Codable, Sendable {
        var id: String
        var tool: String
        /// The call's arguments as the model wrote them (JSON text): what an approval binds to.
        var arguments: String
        /// Their SHA-256 (hex): send it with the decision to bind it to what was shown.
        var argumentsSHA256: String

        enum CodingKeys: String, CodingKey {
            case id, tool, arguments
            case argumentsSHA256 = "arguments_sha256"
        }
    }
    var run: String
    var task: String?
    var kind: String?
    var reason: String
    var call: Call?

    init(_ item: Inbox.Item) {
        run = item.run.rawValue
        task = item.task?.rawValue
        kind = item.kind?.rawValue
        reason = item.reason
        call = item.waiting.map {
            Call(
                id: $0.call.id.rawValue, tool: $0.call.name, arguments: $0.call.arguments.text,
                argumentsSHA256: $0.call.arguments.sha256Hex)
        }
    }
}

struct InboxBody: Codable, Sendable {
    var items: [InboxItemBody]
}

/// A decision's outcome: the run as it stands after it.
struct DecidedBody: Codable, Sendable {
    var run: String
    var status: String
    var events: Int64
    var decidedBy: String

    enum CodingKeys: String, CodingKey {
        case run, status, events
        case decidedBy = "decided_by"
    }
}

/// `{"note": …, "arguments_sha256": …}` with an approval: the hash, when sent, must be the waiting
/// call's (what the approver was shown).
struct ApproveRequest: Decodable {
    var note: String?
    var argumentsSHA256: String?
    /// For the plan (call `plan`): the version the approver was shown.
    var planVersion: Int?
    enum CodingKeys: String, CodingKey {
        case note
        case argumentsSHA256 = "arguments_sha256"
        case planVersion = "plan_version"
    }
}
/// `{"reason": …}` with a denial or a cancellation (a denial may send `arguments_sha256` too).
struct ReasonRequest: Decodable {
    var reason: String
    var argumentsSHA256: String?
    var planVersion: Int?
    enum CodingKeys: String, CodingKey {
        case reason
        case argumentsSHA256 = "arguments_sha256"
        case planVersion = "plan_version"
    }
}
/// `{"text": …}` with an answer.
struct AnswerRequest: Decodable { var text: String }

/// A budget change: `scope` run (default) or task, and at least one limit.
struct BudgetRequest: Decodable {
    var scope: String?
    var costUSD: String?
    var tokens: Int?
    var toolCalls: Int?
    var steps: Int?
    var wallMinutes: Int?

    enum CodingKeys: String, CodingKey {
        case scope, tokens, steps
        case costUSD = "cost_usd"
        case toolCalls = "tool_calls"
        case wallMinutes = "wall_minutes"
    }
}

/// `POST /api/runs`: a goal or a plan (an object written as a plan file is), and an agent profile.
struct StartRunRequest: Decodable {
    var goal: String?
    var plan: TriggerData?
    var agent: String?
    var reviewPlan: Bool?
    enum CodingKeys: String, CodingKey {
        case goal, plan, agent
        case reviewPlan = "review_plan"
    }
    /// Every field it takes.
    static let fields: Set<String> = ["goal", "plan", "agent", "review_plan"]
}

/// A run just started, or one a webhook's delivery started before.
struct StartedBody: Codable, Sendable {
    var run: String
    var duplicate: Bool?
}

/// A run and its sub-agents, with what each spent.
struct TreeBody: Codable, Sendable {
    var run: String
    var profile: String?
    var status: String
    var costPicoUSD: Int64
    var tokens: Int64
    var totalCostPicoUSD: Int64
    var children: [TreeBody]

    enum CodingKeys: String, CodingKey {
        case run, profile, status, tokens, children
        case costPicoUSD = "cost_pico_usd"
        case totalCostPicoUSD = "total_cost_pico_usd"
    }

    init(_ t: FleetTree) {
        (run, profile, status) = (t.run.rawValue, t.profile, t.status)
        costPicoUSD = t.own.costPicoUSD
        tokens = t.own.tokens
        totalCostPicoUSD = t.total.costPicoUSD
        children = t.children.map(TreeBody.init)
    }
}

/// What `audit verify` found for each subject.
struct VerifyBody: Codable, Sendable {
    struct Finding: Codable, Sendable {
        var subject: String
        var ok: Bool
        var text: String
    }
    var ok: Bool
    var findings: [Finding]
}

/// A memory, or a proposed one.
struct MemoryBody: Codable, Sendable {
    var id: String
    var kind: String
    var scope: String
    var text: String
    var tags: [String]
    var status: String
    var run: String?

    init(_ m: Memory) {
        (id, kind, scope, text, tags) = (m.id.rawValue, m.kind.rawValue, m.scope.description, m.text, m.tags)
        status = m.deleted ? "deleted" : m.expired ? "expired" : m.declined ? "declined" : "active"
        run = m.source.run?.rawValue
    }

    init(_ p: MemoryBank.Proposal) {
        (id, kind, scope, text, tags) = (p.id.rawValue, p.kind.rawValue, p.scope.description, p.text, p.tags)
        status = p.status.rawValue
        run = p.run.rawValue
    }
}

struct MemoriesBody: Codable, Sendable { var memories: [MemoryBody] }

/// `{"note": …}` with a decision on a proposal (a decline needs one).
struct NoteRequest: Decodable { var note: String? }

/// One agent version's scorecard.
struct ScorecardBody: Codable, Sendable {
    var agent: String
    var version: String
    var runs: Int
    var tasksFinished: Int
    var firstAttemptRate: Double?
    var reworkByChecks: Int
    var reworkByJudge: Int
    var escalations: Int
    var approvalsAsked: Int
    var approvalsDenied: Int
    var budgetTrips: Int
    var breakerTrips: Int
    var costPicoUSD: Int64
    var tokens: Int

    enum CodingKeys: String, CodingKey {
        case agent, version, runs, escalations, tokens
        case tasksFinished = "tasks_finished"
        case firstAttemptRate = "first_attempt_rate"
        case reworkByChecks = "rework_by_checks"
        case reworkByJudge = "rework_by_judge"
        case approvalsAsked = "approvals_asked"
        case approvalsDenied = "approvals_denied"
        case budgetTrips = "budget_trips"
        case breakerTrips = "breaker_trips"
        case costPicoUSD = "cost_pico_usd"
    }

    init(_ c: Scorecards.Card) {
        (agent, version, runs, tasksFinished) = (c.agent.name, c.agent.version, c.runs, c.tasksFinished)
        (firstAttemptRate, reworkByChecks, reworkByJudge) = (c.firstAttemptRate, c.reworkByChecks, c.reworkByJudge)
        (escalations, approvalsAsked, approvalsDenied) = (c.escalations, c.approvalsAsked, c.approvalsDenied)
        (budgetTrips, breakerTrips, costPicoUSD, tokens) = (c.budgetTrips, c.breakerTrips, c.costPicoUSD, c.tokens)
    }
}

/// A schedule, its next slot and its latest settled one.
struct ScheduleBody: Codable, Sendable {
    var name: String
    var cron: String
    var timeZone: String
    var catchUp: String
    var paused: Bool
    var workspace: String
    var agent: String?
    var next: Int64?
    var last: String?

    enum CodingKeys: String, CodingKey {
        case name, cron, paused, workspace, agent, next, last
        case timeZone = "time_zone"
        case catchUp = "catch_up"
    }

    init(_ e: Schedules.Entry) {
        let s = e.schedule
        (name, cron, timeZone, catchUp, paused) = (s.name, s.cron, s.timeZone, s.catchUp.rawValue, s.paused)
        (workspace, agent, next) = (s.template.workspace, s.template.agent, e.next?.milliseconds)
        last = e.last.map { "\($0.slot.slotText) \($0.outcome.rawValue)" + ($0.run.map { " \($0)" } ?? "") }
    }
}

/// An agent profile as runs were started from it: each version and its runs.
struct ProfileBody: Codable, Sendable {
    struct Version: Codable, Sendable {
        var version: String
        var runs: [String]
    }
    var name: String
    var versions: [Version]
}

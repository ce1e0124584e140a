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
    enum CodingKeys: String, CodingKey {
        case note
        case argumentsSHA256 = "arguments_sha256"
    }
}
/// `{"reason": …}` with a denial or a cancellation (a denial may send `arguments_sha256` too).
struct ReasonRequest: Decodable {
    var reason: String
    var argumentsSHA256: String?
    enum CodingKeys: String, CodingKey {
        case reason
        case argumentsSHA256 = "arguments_sha256"
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

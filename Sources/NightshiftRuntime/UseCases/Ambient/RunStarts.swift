import Foundation
public import NightshiftCore

/// How runs no person started at a terminal are started: from the API, a webhook or a schedule.
/// The front end that serves them says how a template becomes a start request (the models and
/// sandbox it was told to use, the settings of the template's workspace, read and trust-checked
/// as `nightshift run` in that folder would); the rest is the same `Runtime.create` as the CLI's.
public struct RunStarts: Sendable {
    /// A template's start request, before its trigger and id are set.
    public typealias MakeRequest =
        @Sendable (_ template: RunTemplate, _ source: StartRequest.Source) throws ->
        StartRequest

    /// Where runs started through the API work (the folder `nightshift serve` was told).
    public var workspace: String
    /// How a run the API is asked to resume is resumed (the worker's request).
    public var resume: @Sendable (RunID) throws -> ResumeRequest
    /// A scheduled dream over `template`'s scopes, with the settings of its workspace; returns
    /// what it did, in a line. Nil: this front end does not dream.
    public var dream: (@Sendable (_ template: RunTemplate, _ by: String) async throws -> String)?
    let make: MakeRequest

    public init(
        workspace: String, make: @escaping MakeRequest, resume: @escaping @Sendable (RunID) throws -> ResumeRequest,
        dream: (@Sendable (_ template: RunTemplate, _ by: String) async throws -> String)? = nil
    ) {
        self.workspace = workspace
        self.make = make
        self.resume = resume
        self.dream = dream
    }

    /// Checks and records a run from `template` (its goal or plan filled from `data`), with what
    /// triggered it recorded in `run_created`, and drives it in `runtime`'s pool.
    /// - Throws: ``RuntimeError`` from the checks (nothing recorded); `.exists` when `id` exists.
    public func start(
        _ template: RunTemplate, data: TriggerData? = nil, trigger: RunTrigger, id: RunID? = nil, on runtime: Runtime,
        observer: RunObserver
    ) async throws -> RunID {
        var request = try make(template, try TemplateFill.source(template, data: data))
        request.trigger = trigger
        request.id = id
        return try await runtime.create(request, observer: observer)
    }
}

/// A template's `{{placeholders}}` filled from a trigger's data (a webhook's JSON body): data
/// only. Only the goal's text and a plan's title and task descriptions are filled; never a
/// check's command, the workspace, the agent or any setting, so a payload can say what the work
/// is about but not how it is run or checked.
public enum TemplateFill {
    /// The longest value put in for one placeholder.
    public static let maxValue = 4000

    /// The template's goal or plan, filled from `data`; as written when there is no data (the
    /// API's and a schedule's: their `{{…}}` are the person's own text).
    public static func source(_ template: RunTemplate, data: TriggerData?) throws -> StartRequest.Source {
        guard let data else {
            if let goal = template.goal { return .goal(goal) }
            if let plan = template.plan { return .plan(plan) }
            throw RuntimeError(.invalidInput, "the template has neither a goal nor a plan")
        }
        if let goal = template.goal { return .goal(fill(goal, data)) }
        guard var plan = template.plan else {
            throw RuntimeError(.invalidInput, "the template has neither a goal nor a plan")
        }
        plan.title = fill(plan.title, data)
        for i in plan.tasks.indices { plan.tasks[i].description = fill(plan.tasks[i].description, data) }
        return .plan(plan)
    }

    /// `text` with each `{{a.b}}` replaced by the value at that path of `data` (text as it is,
    /// numbers and booleans written out, anything else as compact JSON; missing: empty).
    public static func fill(_ text: String, _ data: TriggerData?) -> String {
        var out = ""
        var rest = Substring(text)
        while let open = rest.range(of: "{{"), let close = rest[open.upperBound...].range(of: "}}") {
            out += rest[..<open.lowerBound]
            let path = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            out += String(value(at: path, in: data).prefix(maxValue))
            rest = rest[close.upperBound...]
        }
        return out + rest
    }

    static func value(at path: String, in data: TriggerData?) -> String {
        var node = data
        for key in path.split(separator: ".") {
            switch node {
            case let .object(fields)?: node = fields[String(key)]
            case let .array(items)?:
                guard let i = Int(key), items.indices.contains(i) else { return "" }
                node = items[i]
            default: return ""
            }
        }
        return node?.text ?? ""
    }
}

/// A trigger's data: a JSON value as decoded (a webhook's body).
public indirect enum TriggerData: Sendable, Decodable, Equatable {
    case null
    case bool(Bool)
    /// A number as written in the JSON (so no digits are lost or added).
    case number(String)
    case string(String)
    case array([TriggerData])
    case object([String: TriggerData])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? c.decode(Int64.self) {
            self = .number(String(n))
        } else if let d = try? c.decode(Double.self) {
            self = .number(String(d))
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([TriggerData].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: TriggerData].self))
        }
    }

    /// Text as it is; numbers and booleans written out; arrays and objects as compact JSON.
    public var text: String {
        switch self {
        case .null: ""
        case let .bool(b): b ? "true" : "false"
        case let .number(n): n
        case let .string(s): s
        case .array, .object: String(decoding: json, as: UTF8.self)
        }
    }

    private var json: [UInt8] {
        switch self {
        case .null: Array("null".utf8)
        case let .bool(b): Array((b ? "true" : "false").utf8)
        case let .number(n): Array(n.utf8)
        case let .string(s): Self.quoted(s)
        case let .array(items):
            Array("[".utf8) + items.map(\.json).joined(separator: Array(",".utf8)) + Array("]".utf8)
        case let .object(fields):
            Array("{".utf8)
                + fields.keys.sorted().map { Self.quoted($0) + Array(":".utf8) + fields[$0]!.json }
                .joined(separator: Array(",".utf8)) + Array("}".utf8)
        }
    }

    private static func quoted(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        JSONText.appendString(s, to: &out)
        return out
    }
}

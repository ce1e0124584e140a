import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NightshiftConfig
import NightshiftCore
import NightshiftRuntime

/// Starting runs without a terminal: from the API (a token with `operate`), and from a signed
/// webhook delivery (no token: the hook's secret is the credential). Both go through the same
/// ``RunStarts`` into `Runtime.create`, as the CLI's `run` does.
enum StartRoutes {
    static func api(_ api: RouterGroup<APIContext>, runtime: Runtime, starts: RunStarts, observer: RunObserver) {
        api.post("runs") { request, context in
            let token = try context.require(.operate)
            guard let type = request.headers[.contentType], type.lowercased().hasPrefix("application/json") else {
                throw Problem(
                    .unsupportedMediaType, code: "unsupported_media_type", "send the body as application/json")
            }
            let text = try await Routes.body(request)
            // A field this route does not take is refused, not ignored: a client that sends a
            // workspace, a policy or a sandbox setting must learn that none applies.
            if let fields = try? JSONDecoder().decode([String: TriggerData].self, from: Data(text.utf8)) {
                if let unknown = fields.keys.sorted().first(where: { !StartRunRequest.fields.contains($0) }) {
                    throw Problem(
                        .badRequest, code: "invalid_body",
                        "the body: '\(unknown.prefix(40))' is not a field of a new run (goal, plan, agent, review_plan); "
                            + "where and how runs work is the server's to say")
                }
                if let empty = fields.keys.sorted().first(where: { fields[$0] == .null }) {
                    throw Problem(.badRequest, code: "invalid_body", "the body: \(empty) is null; leave it out instead")
                }
            }
            let body = try Routes.decode(StartRunRequest.self, text: text, request)
            var template = RunTemplate(agent: body.agent, workspace: starts.workspace)
            switch (body.goal, body.plan) {
            case let (goal?, nil):
                guard !Decisions.isBlank(goal) else {
                    throw Problem(.badRequest, code: "invalid_body", "the goal is empty")
                }
                template.goal = goal
                template.reviewPlan = body.reviewPlan
            case let (nil, plan?):
                if body.reviewPlan == true {
                    throw Problem(
                        .badRequest, code: "invalid_body", "review_plan goes with a goal: a plan is reviewed as sent")
                }
                do { template.plan = try PlanFile.parse(plan.text, file: "the body's plan") } catch {
                    throw Problem(.badRequest, code: "invalid_plan", "\(error)")
                }
            default:
                throw Problem(.badRequest, code: "invalid_body", "send exactly one of goal (text) or plan (an object)")
            }
            let trigger = RunTrigger(kind: .api, name: token.name, by: token.principal, detail: "token \(token.id)")
            let run = try await starts.start(template, trigger: trigger, on: runtime, observer: observer)
            var response = try Routes.json(StartedBody(run: run.rawValue))
            response.status = .created
            response.headers[.location] = "/api/runs/" + Routes.segment(run.rawValue)
            return response
        }
        api.post("runs/:run/resume") { _, context in
            let token = try context.require(.operate)
            let run = try Routes.run(context)
            let state = try await runtime.status(of: run).state
            guard state.status == .paused || state.status == .running else {
                throw Problem(
                    .conflict, code: "not_resumable", "run \(run) is \(state.status.rawValue): nothing to continue")
            }
            // A run that waits for a person's decision goes on by that decision (approve, deny,
            // answer, budget: the approve scope), never by a resume that would step past it.
            if state.status == .paused, let kind = state.pauseKind, Self.waitsForAPerson.contains(kind) {
                throw Problem(
                    .conflict, code: "waits_for_a_person",
                    "run \(run) waits for a person (\(kind.rawValue)): decide it (approve, deny, answer or budget) and it goes on"
                )
            }
            var request = try starts.resume(run)
            request.by = "nightshift serve for \(token.principal) (token \(token.id))"
            request.decider = token.principal
            try runtime.drive(request, observer: observer)
            var response = try Routes.json(StartedBody(run: run.rawValue))
            response.status = .accepted
            return response
        }
    }

    /// `POST /hooks/NAME`: outside `/api` (no token), each checked by its own signature.
    static func hooks(
        _ router: Router<APIContext>, runtime: Runtime, webhooks: Webhooks, starts: RunStarts, observer: RunObserver,
        logger: Logger
    ) {
        router.post("hooks/:name") { request, context in
            let name = try Routes.parameter("name", context)
            guard let type = request.headers[.contentType], type.lowercased().hasPrefix("application/json") else {
                throw Problem(
                    .unsupportedMediaType, code: "unsupported_media_type", "send the body as application/json")
            }
            var request = request
            let body: ByteBuffer
            do { body = try await request.collectBody(upTo: APIServer.maxBodyBytes) } catch {
                throw Problem(
                    .contentTooLarge, code: "body_too_large", "the body is larger than \(APIServer.maxBodyBytes) bytes")
            }
            let receipt: Webhooks.Receipt
            do {
                receipt = try await webhooks.receive(
                    name, body: Array(buffer: body), signature: request.headers[signature],
                    delivery: request.headers[delivery], starts: starts, runtime: runtime, observer: observer)
            } catch let e as RuntimeError {
                // The sender learns what kind of trouble, not the server's paths and files.
                logger.error("webhook \(name): the run was not started: \(e.message)")
                var problem = Problem.runtime(e)
                problem.detail = "the run was not started (\(e.code)); the server's log says why"
                throw problem
            } catch let refusal as Webhooks.Refusal {
                let status: HTTPResponse.Status =
                    switch refusal.code {
                    case .unknownHook: .notFound
                    case .signatureMissing, .signatureInvalid: .unauthorized
                    case .deliveryMissing, .invalidBody: .badRequest
                    }
                throw Problem(status, code: refusal.code.rawValue, refusal.description)
            }
            switch receipt {
            case let .started(run):
                var response = try Routes.json(StartedBody(run: run.rawValue, duplicate: false))
                response.status = .created
                return response
            case let .duplicate(run):
                return try Routes.json(StartedBody(run: run.rawValue, duplicate: true))
            }
        }
    }

    /// The pauses a decision ends: resuming them would step past it.
    static let waitsForAPerson: Set<PauseKind> = [.approval, .planReview, .budget, .breaker, .escalation]

    static let signature = HTTPField.Name(Webhooks.signatureHeader)!
    static let delivery = HTTPField.Name(Webhooks.deliveryHeader)!
}

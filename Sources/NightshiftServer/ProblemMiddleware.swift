import HTTPTypes
import Hummingbird
import Logging

/// Every error leaves the server as `application/problem+json`: the runtime's as mapped by
/// ``Problem``, the framework's (a route that does not exist, a body too large, a body that is
/// not JSON) by their status, and anything else as `internal`, its text only in the server's log.
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = APIContext
    let logger: Logger

    func handle(
        _ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            if let problem = Problem.from(error) { throw problem }
            if let http = error as? HTTPError {
                throw Problem(
                    http.status, code: Problem.snake(Self.code(http.status)),
                    http.body ?? http.status.reasonPhrase)
            }
            if error is DecodingError {
                throw Problem(.badRequest, code: "invalid_body", "the body is not the JSON object this route takes")
            }
            logger.error("\(request.method) \(request.uri.path): \(error)")
            throw Problem(.internalServerError, code: "internal", "the server could not answer; its log says why")
        }
    }

    static func code(_ status: HTTPResponse.Status) -> String {
        switch status {
        case .notFound: "notFound"
        case .contentTooLarge: "bodyTooLarge"
        case .unsupportedMediaType: "unsupportedMediaType"
        case .methodNotAllowed: "methodNotAllowed"
        case .badRequest: "invalidBody"
        default: "http\(status.code)"
        }
    }
}

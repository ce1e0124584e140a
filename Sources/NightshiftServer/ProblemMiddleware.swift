import HTTPTypes
import Hummingbird
import Logging
import Synchronization

/// Every error leaves the server as `application/problem+json`: the runtime's as mapped by
/// ``Problem``, the framework's (a route that does not exist, a body too large, a body that is
/// not JSON) by their status, and anything else as `internal`, its text only in the server's log.
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = APIContext
    let logger: Logger
    /// The routes' methods by path: a path that exists with other methods is answered 405, with
    /// `Allow`, rather than 404.
    let methods: RouteMethods

    func handle(
        _ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            if let problem = Problem.from(error) { throw problem }
            if let http = error as? HTTPError, http.status == .notFound, let allowed = methods.allowed(request.uri.path)
            {
                var problem = Problem(
                    .methodNotAllowed, code: "method_not_allowed",
                    "\(request.method) is not served at this path; \(allowed.joined(separator: ", ")) are")
                problem.allow = allowed.joined(separator: ", ")
                throw problem
            }
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

/// The methods each route path is served with, filled once every route is registered.
final class RouteMethods: Sendable {
    private let table = Mutex<[(pattern: [Substring], methods: [String])]>([])

    /// Records the router's routes (`Router.routes`).
    func record(_ routes: [(path: String, method: String)]) {
        var byPath: [String: Set<String>] = [:]
        for r in routes { byPath[r.path, default: []].insert(r.method) }
        table.withLock { t in
            t = byPath.map { (Self.segments($0.key), $0.value.sorted()) }
        }
    }

    /// The methods of the route whose path matches `path` (a `{name}` capture matches one
    /// segment); nil when no route has this path.
    func allowed(_ path: String) -> [String]? {
        let parts = Self.segments(path)
        return table.withLock { t in
            t.first { entry in
                entry.pattern.count == parts.count
                    && zip(entry.pattern, parts).allSatisfy { ($0.hasPrefix("{") && $0.hasSuffix("}")) || $0 == $1 }
            }?.methods
        }
    }

    static func segments(_ path: String) -> [Substring] { path.split(separator: "/") }
}

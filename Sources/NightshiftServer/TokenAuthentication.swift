import Foundation
import HTTPTypes
public import Hummingbird
import NightshiftCore
import NightshiftRuntime

/// Every request but the open ones carries `Authorization: Bearer nst_…`; a missing, malformed,
/// unknown, revoked or expired token is answered 401 before any route runs.
struct TokenAuthentication: RouterMiddleware {
    typealias Context = APIContext
    let tokens: Tokens

    func handle(
        _ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        guard let header = request.headers[.authorization] else {
            throw Problem(.unauthorized, code: "unauthorized", AuthenticationProblem.missing.message)
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw Problem(.unauthorized, code: "unauthorized", AuthenticationProblem.malformed.message)
        }
        switch try await tokens.authenticate(String(parts[1]).trimmingCharacters(in: .whitespaces)) {
        case let .success(token): context.token = token
        case let .failure(problem): throw Problem(.unauthorized, code: "unauthorized", problem.message)
        }
        return try await next(request, context)
    }
}
